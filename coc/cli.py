"""The ``coc`` command line: a thin front over the modules that do the work.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``main(args)``;
this module only builds the parser and turns a user's mistake (:class:`coc.CocError`) into
one line ``coc: error: ...`` on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from coc.validation import CocError

#: command name -> (module, one-line help)
COMMANDS = {
    "backends": ("coc.cli", "list every backend, available or why not"),
    "experiment": ("coc.cli", "run the notebook's experiment (silhouette table, t-SNE picture)"),
    "sweep": ("coc.sweep", "time (backend, op, n_samples, dim) cells; resumable"),
    "compare": ("coc.compare", "speedup table between two result folders or pytest-benchmark files"),
    "analyze": ("coc.analyze", "verdict on your embeddings: clustered (how many) or continuum"),
    "phase": ("coc.phase", "the transition from clusters to continuum as blob spread grows"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, as every other user mistake."""

    def error(self, message):
        raise CocError(message)


def build_parser() -> argparse.ArgumentParser:
    from coc import __version__

    parser = _Parser(prog="coc", description="Do these embeddings form clusters, or a continuum?")
    parser.add_argument("--version", action="version", version=f"coc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        mod = sys.modules[__name__] if module == __name__ else _import(module)
        if mod is None:
            continue
        getattr(mod, f"add_{name}_arguments", getattr(mod, "add_arguments", None))(p)
        p.set_defaults(_main=getattr(mod, f"{name}_main", getattr(mod, "main", None)))
    return parser


def main(argv=None) -> int:
    """Entry point of ``coc`` and ``python -m coc``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return int(args._main(args) or 0)
    except CocError as e:
        print(f"coc: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("coc: interrupted", file=sys.stderr)
        return 130


def _import(module):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:  # a command whose module is not written yet
            return None
        raise


# -- coc backends ----------------------------------------------------------------------
def add_backends_arguments(p):
    pass


def backends_main(args) -> int:
    from coc.backends import available_backends, resolve_name

    status = available_backends()
    width = max(map(len, status))
    for name, reason in status.items():
        print(f"{name:<{width}}  {'available' if reason is None else 'unavailable: ' + reason}")
    print(f"aliases: cpu -> sklearn, gpu -> {resolve_name('gpu')}")
    return 0


# -- coc experiment --------------------------------------------------------------------
def add_experiment_arguments(p):
    from coc.experiment import DEFAULT_KS, DEFAULT_STDS

    p.add_argument("--backend", default="sklearn", help="backend name or alias (default: sklearn)")
    p.add_argument("--n-samples", type=int, default=1000, help="points per scenario (default: 1000)")
    p.add_argument("--dim", type=int, default=32, help="dimensions (default: 32)")
    p.add_argument("--ks", type=_int_list, default=list(DEFAULT_KS), help="comma-separated k (default: 2,10,20)")
    p.add_argument("--stds", type=_float_list, default=list(DEFAULT_STDS),
                   help="comma-separated blob spreads (default: 0.01,0.3,0.4,0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, KMeans and t-SNE (default: 0)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default: 30)")
    p.add_argument("--out", default=None, help="output folder (default: results/experiment/<backend>/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def experiment_main(args) -> int:
    from pathlib import Path

    from coc._io import atomic_save_figure, atomic_write_json, atomic_write_text, check_writable_dir
    from coc.backends import get_backend
    from coc.experiment import plot_tsne, report_markdown, run_experiment

    backend = get_backend(args.backend)
    out = check_writable_dir(Path(args.out or f"results/experiment/{backend.name}"))
    result = run_experiment(
        backend, n_samples=args.n_samples, dim=args.dim, ks=args.ks, stds=args.stds,
        seed=args.seed, perplexity=args.perplexity, progress=not args.no_progress,
    )
    print(result.table_markdown())
    fig = plot_tsne(result)
    # Everything is computed before the first file is written, and each write is atomic.
    atomic_save_figure(fig, out / "tsne.png", dpi=110)
    atomic_write_text(out / "experiment.md", report_markdown(result))
    atomic_write_json(out / "experiment.json", result.to_json())
    print(f"wrote {out / 'experiment.json'}, {out / 'experiment.md'}, {out / 'tsne.png'}", file=sys.stderr)
    return 0


def _int_list(text):
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _float_list(text):
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
