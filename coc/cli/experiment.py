"""``coc experiment``: the notebook's experiment (:mod:`coc.verdict.experiment`) from the command line."""
from __future__ import annotations

import sys
from pathlib import Path

from coc.backends import get_backend
from coc.cli import _args
from coc.io.outputs import check_outputs_writable, check_writable_dir, figure_writer, write_outputs
from coc.verdict.experiment import DEFAULT_KS, DEFAULT_STDS, plot_tsne, report_markdown, run_experiment


def add_arguments(p):
    """Options of ``coc experiment``."""
    p.add_argument("--backend", default="sklearn", help="backend name or alias (default: sklearn)")
    p.add_argument("--n-samples", type=int, default=1000, help="points per scenario (default: 1000)")
    p.add_argument("--dim", type=int, default=32, help="dimensions (default: 32)")
    p.add_argument("--ks", type=_args.int_list, default=list(DEFAULT_KS), help="comma-separated k (default: 2,10,20)")
    p.add_argument("--stds", type=_args.float_list, default=list(DEFAULT_STDS),
                   help="comma-separated blob spreads (default: 0.01,0.3,0.4,0.5)")
    p.add_argument("--seed", type=_args.seed, default=0,
                   help="seed of data, KMeans and t-SNE, 0 to 4294967295 (default: 0)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default: 30)")
    p.add_argument("--out", default=None, help="output folder (default: results/experiment/<backend>/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    """``coc experiment``: run, print the table, then write the three files atomically."""
    backend = get_backend(args.backend, ops=("generate", "kmeans", "silhouette", "tsne"))
    out = check_writable_dir(Path(args.out or f"results/experiment/{backend.name}"))
    files = {name: out / name for name in ("experiment.json", "experiment.md", "tsne.png")}
    check_outputs_writable(files.values())  # before the work, not after it
    result = run_experiment(
        backend, n_samples=args.n_samples, dim=args.dim, ks=args.ks, stds=args.stds,
        seed=args.seed, perplexity=args.perplexity, progress=not args.no_progress,
    )
    fig = plot_tsne(result)
    # Everything is computed before the first file is written; the three are written all or
    # none, so the folder never mixes two runs (a .md of seed 7 beside a .json of seed 0).
    write_outputs({files["tsne.png"]: figure_writer(fig, "png", dpi=110),
                   files["experiment.md"]: report_markdown(result),
                   files["experiment.json"]: result.to_json()})
    print(result.table_markdown())  # after the files: a reader may close stdout early
    print(f"wrote {out / 'experiment.json'}, {out / 'experiment.md'}, {out / 'tsne.png'}", file=sys.stderr)
    return 0
