"""``coc phase``: the verdict as the blob spread grows (:mod:`coc.verdict.phase`)."""
from __future__ import annotations

import sys
from pathlib import Path

from coc.backends import get_backend
from coc.cli import _args
from coc.io.outputs import check_outputs_writable, check_writable_dir, figure_writer, json_bytes, write_outputs
from coc.utils.validation import check_n_samples
from coc.verdict.decision import ANALYSIS_OPS, DEFAULT_BACKEND
from coc.verdict.phase import DEFAULT_STDS, phase_checkpoint, plot_phase, run_phase


def add_arguments(p):
    p.add_argument("--backend", default=DEFAULT_BACKEND,
                   help=f"backend name or alias (default: {DEFAULT_BACKEND}; cpu is its alias)")
    p.add_argument("--stds", type=_args.float_list, default=list(DEFAULT_STDS),
                   help="comma-separated blob spreads (default: 0.01, then 0.1 to 1.5 by 0.1)")
    p.add_argument("--seed", type=_args.seed, default=0,
                   help="seed of the blobs and the analysis, 0 to 4294967295 (default: 0)")
    p.add_argument("--n-null", type=int, default=None, help="null draws of each reference")
    p.add_argument("--out", default="results/phase", help="output folder (default: results/phase/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    if args.n_null is not None:  # before the progress bar, not at the first spread's analysis
        check_n_samples(args.n_null, minimum=2, name="--n-null")
    out = check_writable_dir(Path(args.out))
    png, js = out / "phase.png", out / "phase.json"
    check_outputs_writable([png, js])  # before the work, not after it
    backend = get_backend(args.backend, ops=("generate", *ANALYSIS_OPS))
    saved = phase_checkpoint(out, backend, seed=args.seed, n_null=args.n_null)
    phase = run_phase(backend, stds=args.stds, seed=args.seed, n_null=args.n_null,
                      progress=not args.no_progress, checkpoint=saved)
    fig = plot_phase(phase)
    write_outputs({png: figure_writer(fig, "png", dpi=120), js: json_bytes(phase)})  # both or neither
    saved.finish()
    for r in phase["rows"]:
        k = "" if r["n_clusters"] is None else f", k = {r['n_clusters']}"
        print(f"std {r['std']:<5g} silhouette@k={phase['config']['true_k']} {r['silhouette_true_k']:.4f}  "
              f"{r['verdict']}{k}"
              + (" (weak)" if r["weak_evidence"] else ""))
    print(f"wrote {out / 'phase.json'}, {out / 'phase.png'}", file=sys.stderr)
    return 0
