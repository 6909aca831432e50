"""``coc compare A B``: the speedup table of two runs (:mod:`coc.suite.compare`), and the gate."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from coc.io.outputs import atomic_write_text, check_outputs_writable, same_file, write_target
from coc.suite.compare import FORMATS, compare_table, render_csv, render_json, render_markdown
from coc.suite.gate import gate
from coc.suite.records import ENV_FILE, LOCK_FILE, RESULTS_FILE, SCALING_FILE, TABLE_FILE, load_results
from coc.utils.validation import CocError, check_ratio


def add_arguments(p) -> None:
    """Options of ``coc compare``."""
    p.add_argument("a", metavar="A", help="result folder, results.jsonl or pytest-benchmark JSON (the reference)")
    p.add_argument("b", metavar="B", help="result folder, results.jsonl or pytest-benchmark JSON")
    p.add_argument("--baseline", default=None,
                   help="A's backend that speedups are relative to (default: sklearn, else A's first)")
    p.add_argument("--out", default=None, help="also write the table to this file")
    p.add_argument("--format", choices=FORMATS, default="md", help="the table's format (default: md)")
    p.add_argument("--fail-above", type=float, default=None, metavar="RATIO",
                   help="exit 1, naming each cell on stderr, when a cell of A is slower in B by "
                        "more than RATIO (B's median / A's, same backend), answers worse beyond "
                        "the tolerances of coc.suite.gate, or is missing, failed or skipped in B")


def main(args) -> int:
    """Run ``coc compare``; returns the exit status."""
    if args.fail_above is not None:  # before reading the runs: the same rule as gate()'s
        check_ratio(args.fail_above, name="--fail-above")
    if args.out:
        inputs = [_results_file(args.a), _results_file(args.b)]
        check_outputs_writable([args.out], inputs=inputs)
        _refuse_run_files(args.out, inputs)
    a, label_a = load_results(args.a)
    b, label_b = load_results(args.b)
    title = None
    if _same_run(args.a, args.b):
        title = (f"# {label_a}: one run against itself (A and B are both {args.a}), "
                 "its backends side by side")
    elif label_a == label_b:  # two runs of one name: their paths tell them apart
        label_a, label_b = str(args.a), str(args.b)
    failures = gate(a, b, fail_above=args.fail_above) if args.fail_above is not None else []
    try:
        table = compare_table(a, b, label_a=label_a, label_b=label_b, baseline=args.baseline,
                              title=title)
    except CocError as e:
        if not failures:
            raise
        table = None  # nothing shared: the gate's lines say what is missing
        print(f"coc compare: {e}", file=sys.stderr)
    if table is not None:
        if failures:
            table["gate"] = [{"cell": f.cell, "why": f.why} for f in failures]
        text = {"md": render_markdown, "csv": render_csv, "json": render_json}[args.format](table)
        if args.out:  # before stdout, which a reader may close (coc compare ... | head)
            atomic_write_text(args.out, text, option="--out")
            print(f"wrote {args.out}", file=sys.stderr)
        print(text, end="")
    if args.fail_above is None:
        return 0
    for f in failures:
        print(f"coc: gate: {f.line()}", file=sys.stderr)
    print(f"coc compare: gate {'FAILED' if failures else 'passed'} "
          f"(--fail-above {args.fail_above:g}; {len(failures)} regressions)", file=sys.stderr)
    return 1 if failures else 0


def _results_file(path):
    """The file a run is read from: a folder's results.jsonl, or the file given."""
    return os.path.join(path, RESULTS_FILE) if os.path.isdir(path) else path


def _refuse_run_files(out, inputs):
    """Refuse an ``--out`` that would replace a file a sweep keeps beside an input's
    results.jsonl (its env.json overwritten, the next ``coc sweep`` there could not resume;
    its lock replaced, a running sweep would lose it). The folders are those of each input
    as given and as its links resolve; ``--out`` is taken as the write will resolve it (its
    folder resolved; a link in its own place is replaced, not followed)."""
    target = write_target(Path(out))
    name, folder = target.name, str(target.parent)
    if name not in (RESULTS_FILE, ENV_FILE, TABLE_FILE, SCALING_FILE, LOCK_FILE):
        return
    sweeps = [os.path.realpath(os.path.dirname(i) or ".") for i in inputs
              if os.path.basename(i) == RESULTS_FILE]
    sweeps += [os.path.dirname(r) for r in map(os.path.realpath, inputs)
               if os.path.basename(r) == RESULTS_FILE]
    if any(same_file(folder, sweep) for sweep in sweeps):
        raise CocError(f"--out {out}: {name} belongs to the sweep in {folder}; choose another --out")


def _same_run(a, b) -> bool:
    """Whether ``a`` and ``b`` name one run (a folder and its results.jsonl included)."""
    return same_file(_results_file(a), _results_file(b))
