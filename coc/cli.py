"""The ``coc`` command line: a thin front over the modules that do the work.

Each command lives in the module that does its work, exposing ``add_arguments(parser)`` and
``main(args)``;
this module only builds the parser and turns a user's mistake (:class:`coc.CocError`) into
one line ``coc: error: ...`` on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from coc import __version__
from coc.validation import CocError

#: command name -> (module, one-line help)
COMMANDS = {
    "backends": ("coc.backends", "list every backend, available or why not"),
    "experiment": ("coc.experiment", "run the notebook's experiment (silhouette table, t-SNE picture)"),
    "sweep": ("coc.sweep", "time (backend, op, n_samples, dim) cells; resumable"),
    "compare": ("coc.compare", "speedup table between two result folders or pytest-benchmark files"),
    "analyze": ("coc.verdict.cli", "verdict on your embeddings: clustered (how many) or continuum"),
    "phase": ("coc.phase", "the transition from clusters to continuum as blob spread grows"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, as every other user mistake."""

    def error(self, message):
        raise CocError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="coc", description="Do these embeddings form clusters, or a continuum?")
    parser.add_argument("--version", action="version", version=f"coc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv=None) -> int:
    """Entry point of ``coc`` and ``python -m coc``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        status = int(args._main(args) or 0)
        sys.stdout.flush()  # here, not at exit, so that a closed or full stdout is caught below
        return status
    except CocError as e:
        print(f"coc: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("coc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (coc ... | head): stop quietly, as a Unix tool does
        _drop_stdout()
        return 128 + 13  # as if killed by SIGPIPE
    except OSError as e:
        if e.filename is not None or e.errno not in _STDOUT_ERRNOS:
            raise
        _drop_stdout()
        print(f"coc: error: cannot write to standard output ({os.strerror(e.errno)})", file=sys.stderr)
        return 2


#: Errors of a write to a full or broken standard output (a file's errors carry its name).
_STDOUT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _drop_stdout() -> None:
    """Point stdout at the null device, so that Python's last flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or already closed
        pass
