"""The ``coc`` command line: a thin front over the modules that do the work.

Each command is a module of this package (``coc/cli/<command>.py``) exposing
``add_arguments(parser)`` and ``main(args)``; it parses and writes, the work is done by the
part it fronts (:mod:`coc.suite`, :mod:`coc.verdict`, :mod:`coc.backends`). Only this package
uses argparse, and nothing imports it. This module only builds the parser, turns a user's
mistake (:class:`coc.CocError`) and a MemoryError into one line ``coc: error: ...`` on stderr
and exit status 2, and ends quietly (status 141) when the reader of stdout leaves
(``coc ... | head``); a full or closed stdout is one error line.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import io
import os
import sys

from coc import __version__
from coc.utils.validation import CocError

#: command name -> (module, one-line help)
COMMANDS = {
    "backends": ("coc.cli.backends", "list every backend, available or why not"),
    "experiment": ("coc.cli.experiment", "run the notebook's experiment (silhouette table, t-SNE picture)"),
    "sweep": ("coc.cli.sweep", "time (backend, op, n_samples, dim) cells; resumable"),
    "compare": ("coc.cli.compare", "speedup table between two result folders or pytest-benchmark files"),
    "analyze": ("coc.cli.analyze", "verdict on your embeddings: clustered (how many) or continuum"),
    "phase": ("coc.cli.phase", "the transition from clusters to continuum as blob spread grows"),
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
    real_stdout = sys.stdout  # None where the process was started with stdout closed
    sys.stdout = _Stdout(real_stdout if real_stdout is not None else _ClosedStdout())
    try:
        args = build_parser().parse_args(argv)
        status = int(args._main(args) or 0)
        if sys.stdout is not None:
            sys.stdout.flush()  # here, not at exit, so that a closed or full stdout is caught below
        return status
    except CocError as e:
        print(f"coc: error: {e}", file=sys.stderr)
        return 2
    except MemoryError as e:  # what no check before the work foresaw: still one line, no traceback
        detail = f" ({e})" if str(e) else ""
        print(f"coc: error: not enough memory{detail}; try fewer points or dimensions, or float32",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("coc: interrupted", file=sys.stderr)
        return 130
    except _StdoutFailed as failed:
        _drop_stdout(real_stdout)
        e = failed.__cause__
        if isinstance(e, BrokenPipeError):  # the reader left (coc ... | head): quiet, as a Unix tool
            return 128 + 13  # as if killed by SIGPIPE
        print(f"coc: error: cannot write to standard output ({os.strerror(e.errno)})", file=sys.stderr)
        return 2
    finally:
        if isinstance(sys.stdout, _Stdout):
            sys.stdout = real_stdout


class _StdoutFailed(Exception):
    """A write to standard output failed (the OSError is its ``__cause__``)."""


class _Stdout:
    """Standard output, with its write errors told apart from every other OSError."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as e:
            raise _StdoutFailed from e

    def flush(self):
        try:
            self._stream.flush()
        except OSError as e:
            raise _StdoutFailed from e

    def __getattr__(self, name):  # isatty, fileno, encoding...
        return getattr(self._stream, name)


class _ClosedStdout:
    """Standard output of a process started without one (``coc ... >&-``): writing to it is
    an error, as for any Unix tool, where Python would drop the text silently."""

    def write(self, text):
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def flush(self):
        pass  # nothing was written: a command that prints nothing runs as usual

    def isatty(self):
        return False


def _drop_stdout(stream) -> None:
    """Point stdout at the null device, so that Python's last flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # not a real file (tests)
        pass
