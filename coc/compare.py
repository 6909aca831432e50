"""``coc compare A B``: the speedup table of the cells two runs share.

A and B are each a sweep's result folder (``results.jsonl``), a ``results.jsonl`` file, or a
pytest-benchmark JSON file (``pytest bench --benchmark-json F``).

What "shared" means: a row is one (op, n_samples, dim) that both runs finished (``ok``) on
some backend, whatever the backend, so a laptop's ``sklearn`` run and a workstation's
``cupy`` run line up. Each row shows every backend's median time from each run (columns
``A:sklearn``, ``B:cupy``, ...), then the speedup of each of B's backends over A's baseline
backend: A's median time divided by B's. The baseline is ``--baseline`` (default
``sklearn`` where A has it, else A's first backend). Comparing the same backend on two
machines (A:sklearn against B:sklearn) is then the machine speedup; A:sklearn against
B:cupy is the GPU speedup. Cells must also agree on dtype and k; where the two runs used
different iteration budgets (``max_iter``), the row says so, because the work differs.
"""
from __future__ import annotations

import os
import sys

from coc._io import atomic_write_text, check_outputs_writable
from coc.cells import row_key
from coc.records import RESULTS_FILE, load_results
from coc.report import BASELINE, OP_ORDER, backend_order, format_seconds
from coc.validation import CocError


def add_arguments(p) -> None:
    """Options of ``coc compare``."""
    p.add_argument("a", metavar="A", help="result folder, results.jsonl or pytest-benchmark JSON (the reference)")
    p.add_argument("b", metavar="B", help="result folder, results.jsonl or pytest-benchmark JSON")
    p.add_argument("--baseline", default=None,
                   help="A's backend that speedups are relative to (default: sklearn, else A's first)")
    p.add_argument("--out", default=None, help="also write the markdown table to this file")


def main(args) -> int:
    """Run ``coc compare``; returns the exit status."""
    if args.out:
        check_outputs_writable([args.out])
    a, label_a = load_results(args.a)
    b, label_b = load_results(args.b)
    title = None
    if _same_file(args.a, args.b):
        title = (f"# {label_a}: one run against itself (A and B are both {args.a}), "
                 "its backends side by side")
    elif label_a == label_b:  # two runs of one name: their paths tell them apart
        label_a, label_b = str(args.a), str(args.b)
    text = compare_markdown(a, b, label_a=label_a, label_b=label_b, baseline=args.baseline, title=title)
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text, option="--out")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _same_file(a, b) -> bool:
    """Whether ``a`` and ``b`` name one run (a folder and its results.jsonl included)."""
    def file_of(p):
        return os.path.join(p, RESULTS_FILE) if os.path.isdir(p) else p
    try:
        return os.path.samefile(file_of(a), file_of(b))
    except OSError:
        return False


def compare_markdown(a, b, *, label_a="A", label_b="B", baseline=None, title=None) -> str:
    """The markdown speedup table of the cells runs ``a`` and ``b`` (lists of records) share.

    ``title`` replaces the first line (``# label_a (A) vs label_b (B)``).

    Raises
    ------
    CocError
        When ``baseline`` is not one of A's backends, or the runs share no cell.
    """
    a_ok = [r for r in a if r.get("status") == "ok" and r.get("median_s")]
    b_ok = [r for r in b if r.get("status") == "ok" and r.get("median_s")]
    a_backends = backend_order(a_ok)
    b_backends = backend_order(b_ok)
    if not a_backends or not b_backends:
        empty = label_a if not a_backends else label_b
        raise CocError(f"{empty} has no finished (ok) cells to compare")
    if baseline is None:
        baseline = BASELINE if BASELINE in a_backends else a_backends[0]
    elif baseline not in a_backends:
        raise CocError(f"--baseline {baseline!r} has no finished cells in {label_a}; "
                       f"it has: {', '.join(a_backends)}")

    def rows_of(records):
        rows = {}
        for r in records:
            key = row_key(r, ignore=("max_iter",))  # (op, n_samples, dim, k, dtype)
            rows.setdefault(key, {})[r["backend"]] = r
        return rows

    rows_a, rows_b = rows_of(a_ok), rows_of(b_ok)
    shared = sorted(set(rows_a) & set(rows_b), key=lambda k: (_op_rank(k[0]), k[0], k[1], k[2], str(k[3:])))
    if not shared:
        raise CocError(f"{label_a} and {label_b} share no finished cell (same op, n_samples, dim, dtype, k)")

    time_cols = [("A", be) for be in a_backends] + [("B", be) for be in b_backends]
    lines = [
        title or f"# {label_a} (A) vs {label_b} (B)",
        "",
        f"Median time per cell; speedup = A:{baseline}'s time / B's time (>1: B is faster).",
        "",
        "| op | n_samples | dim | dtype | "
        + " | ".join(f"{run}:{be}" for run, be in time_cols)
        + " | "
        + " | ".join(f"B:{be} vs A:{baseline}" for be in b_backends)
        + " |",
        "|---|---:|---:|---|" + "---:|" * (len(time_cols) + len(b_backends)),
    ]
    notes = []
    for key in shared:
        ra, rb = rows_a[key], rows_b[key]
        times = []
        for run, be in time_cols:
            rec = (ra if run == "A" else rb).get(be)
            times.append(format_seconds(rec["median_s"]) if rec else "")
        base = ra.get(baseline)
        speedups = []
        for be in b_backends:
            rec = rb.get(be)
            speedups.append(f"×{base['median_s'] / rec['median_s']:.2f}" if base and rec else "")
        iters = {r.get("max_iter") for r in (*ra.values(), *rb.values())} - {None}
        op = key[0] + (" †" if len(iters) > 1 else "")
        if len(iters) > 1:
            notes.append(key)
        lines.append(f"| {op} | {key[1]:,} | {key[2]} | {key[4]} | " + " | ".join(times + speedups) + " |")
    if notes:
        lines += ["", "† the runs used different iteration budgets (max_iter) for this cell: unequal work."]
    only_a = len(set(rows_a) - set(rows_b))
    only_b = len(set(rows_b) - set(rows_a))
    lines += ["", f"{len(shared)} shared cells; {only_a} only in A, {only_b} only in B (not shown)."]
    return "\n".join(lines) + "\n"


def _op_rank(op):
    return OP_ORDER.get(op, 99)
