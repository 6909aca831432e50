"""``coc analyze FILE``: the verdict on a file of embeddings, as a report, JSON, a figure, labels."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

from coc.cli import _args
from coc.io.outputs import check_outputs_writable, figure_writer, write_outputs
from coc.backends import get_backend
from coc.backends.base import METRICS
from coc.io.loaders import load_embeddings
from coc.utils.validation import CocError
from coc.verdict.decision import (
    ANALYSIS_OPS,
    DEFAULT_BACKEND,
    DEFAULT_K_MAX,
    DEFAULT_MAX_SAMPLES,
    DEFAULT_N_NULL,
    MIN_SAMPLES,
    analyze,
)
from coc.verdict.plot import plot_analysis

PLOT_SUFFIXES = (".png", ".pdf", ".svg")
LABEL_SUFFIXES = (".npy", ".csv")


def add_arguments(p):
    p.add_argument("file", metavar="FILE", help="embeddings: .npy, .npz, .csv, .tsv or .parquet (one row per point)")
    p.add_argument("--backend", default=DEFAULT_BACKEND,
                   help=f"backend name or alias (default: {DEFAULT_BACKEND}; cpu is its alias)")
    p.add_argument("--metric", default="euclidean", choices=METRICS,
                   help="distance between points (default: euclidean; cosine for most model embeddings)")
    p.add_argument("--key", default=None, help="the array of an .npz, or the column of a .parquet")
    p.add_argument("--k-max", type=int, default=None,
                   help=f"largest k tried (default: min({DEFAULT_K_MAX}, points // 10))")
    p.add_argument("--seed", type=_args.seed, default=0,
                   help="seed of subsample, nulls and KMeans, 0 to 4294967295 (default: 0)")
    p.add_argument("--n-null", type=int, default=DEFAULT_N_NULL,
                   help=f"null draws of each reference (default: {DEFAULT_N_NULL})")
    p.add_argument("--max-samples", type=int, default=DEFAULT_MAX_SAMPLES,
                   help=f"statistics run on a random subsample of at most this many points "
                        f"(default: {DEFAULT_MAX_SAMPLES})")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of the report")
    p.add_argument("--plot", metavar="FILE", default=None, help="write a figure (.png, .pdf, .svg)")
    p.add_argument("--labels-out", metavar="FILE", default=None,
                   help="write one integer label per input row (.npy, or .csv with a 'label' header); "
                        "-1 means no cluster (every row of a continuum)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    outputs = {}
    if args.plot is not None:
        outputs["--plot"] = _check_output(Path(args.plot), "--plot", PLOT_SUFFIXES)
    if args.labels_out is not None:
        outputs["--labels-out"] = _check_output(Path(args.labels_out), "--labels-out", LABEL_SUFFIXES)
    if len(outputs) == 2 and outputs["--plot"].resolve() == outputs["--labels-out"].resolve():
        raise CocError("--plot and --labels-out name the same file")
    # Every output path is checked before the work starts, naming its option.
    check_outputs_writable({path: option for option, path in outputs.items()}, inputs=[args.file])
    if args.k_max is not None and args.k_max < 2:
        raise CocError(f"--k-max must be >= 2, got {args.k_max}")
    backend = get_backend(args.backend, ops=ANALYSIS_OPS + (("tsne",) if args.plot else ()))
    X = load_embeddings(args.file, key=args.key, min_points=MIN_SAMPLES)
    result = analyze(
        X, backend=backend, metric=args.metric, k_max=args.k_max, n_null=args.n_null, seed=args.seed,
        max_samples=args.max_samples, progress=not args.no_progress and not args.json and sys.stderr.isatty(),
    )
    # Everything is computed before the first file is written; the files are written all or none.
    contents = {}
    if "--plot" in outputs:
        import matplotlib

        matplotlib.use("Agg")  # only the command line chooses matplotlib's backend
        used = X if result.sample_index is None else X[result.sample_index]
        fig = plot_analysis(result, np.asarray(used, dtype=np.float64), backend=backend, seed=args.seed)
        contents["--plot"] = figure_writer(fig, outputs["--plot"].suffix.lower().lstrip("."), dpi=110)
    if "--labels-out" in outputs:
        contents["--labels-out"] = labels_bytes(result.labels_, outputs["--labels-out"].suffix.lower())
    text = result.to_json() if args.json else result.report()
    if contents:
        write_outputs({outputs[option]: data for option, data in contents.items()},
                      option={outputs[option]: option for option in contents})
    print(text)
    if args.json:
        for note in result.notes:
            print(f"coc: note: {note}", file=sys.stderr)
    for option in contents:
        print(f"wrote {outputs[option]}", file=sys.stderr)
    return 0


def labels_bytes(labels: np.ndarray, suffix: str) -> bytes:
    """The labels as the bytes of a ``.npy`` file or of a one-column ``.csv`` headed ``label``."""
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, np.asarray(labels, dtype=np.int64))
        return buf.getvalue()
    return ("label\n" + "".join(f"{int(v)}\n" for v in labels)).encode("ascii")


def _check_output(path: Path, option: str, suffixes) -> Path:
    """Refuse, before any work, an output name of the wrong kind."""
    if path.suffix.lower() not in suffixes:
        raise CocError(f"{option} {path}: use a {' or '.join(suffixes)} file name")
    return path
