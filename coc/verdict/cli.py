"""``coc analyze FILE``: the verdict on a file of embeddings, as a report, JSON, a figure, labels."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from coc._io import atomic_save_figure, check_writable_dir
from coc.backends import get_backend
from coc.backends.base import METRICS
from coc.loaders import load_embeddings
from coc.validation import CocError
from coc.verdict.decision import (
    DEFAULT_BACKEND,
    DEFAULT_K_MAX,
    DEFAULT_MAX_SAMPLES,
    DEFAULT_N_NULL,
    MIN_SAMPLES,
    analyze,
)
from coc.verdict.plot import plot_analysis

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def add_arguments(p):
    p.add_argument("file", metavar="FILE", help="embeddings: .npy, .npz, .csv, .tsv or .parquet (one row per point)")
    p.add_argument("--backend", default=DEFAULT_BACKEND,
                   help=f"backend name or alias (default: {DEFAULT_BACKEND}; cpu is its alias)")
    p.add_argument("--metric", default="euclidean", choices=METRICS,
                   help="distance between points (default: euclidean; cosine for most model embeddings)")
    p.add_argument("--key", default=None, help="the array of an .npz, or the column of a .parquet")
    p.add_argument("--k-max", type=int, default=None,
                   help=f"largest k tried (default: min({DEFAULT_K_MAX}, points // 10))")
    p.add_argument("--seed", type=int, default=0, help="seed of subsample, nulls and KMeans (default: 0)")
    p.add_argument("--n-null", type=int, default=DEFAULT_N_NULL,
                   help=f"null draws of each reference (default: {DEFAULT_N_NULL})")
    p.add_argument("--max-samples", type=int, default=DEFAULT_MAX_SAMPLES,
                   help=f"statistics run on a random subsample of at most this many points "
                        f"(default: {DEFAULT_MAX_SAMPLES})")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of the report")
    p.add_argument("--plot", metavar="FILE", default=None, help="write a figure (.png, .pdf, .svg)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    import matplotlib

    plot = None
    if args.plot is not None:
        plot = Path(args.plot)
        if plot.suffix.lower() not in PLOT_SUFFIXES:
            raise CocError(f"--plot {plot}: use a .png, .pdf or .svg file name")
        _check_output(plot, "--plot")
    if args.k_max is not None and args.k_max < 2:
        raise CocError(f"--k-max must be >= 2, got {args.k_max}")
    backend = get_backend(args.backend)
    X = load_embeddings(args.file, key=args.key, min_points=MIN_SAMPLES)
    result = analyze(
        X, backend=backend, metric=args.metric, k_max=args.k_max, n_null=args.n_null, seed=args.seed,
        max_samples=args.max_samples, progress=not args.no_progress and not args.json and sys.stderr.isatty(),
    )
    if plot is not None:
        matplotlib.use("Agg")
        used = X if result.sample_index is None else X[result.sample_index]
        fig = plot_analysis(result, np.asarray(used, dtype=np.float64), backend=backend, seed=args.seed)
        atomic_save_figure(fig, plot, dpi=110)
    print(result.to_json() if args.json else result.report())
    if plot is not None:
        print(f"wrote {plot}", file=sys.stderr)
    return 0


def _check_output(path: Path, option: str) -> None:
    """Fail before any work when ``path`` cannot be written, naming the option that gave it."""
    if path.is_dir():
        raise CocError(f"{option} {path}: is a folder, not a file")
    try:
        check_writable_dir(path.parent)
    except CocError as e:
        # check_writable_dir speaks of --out; say which option the path came from.
        raise CocError(f"{option} {path}: {str(e).split(': ', 1)[-1]}") from None

