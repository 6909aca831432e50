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

``--format md|csv|json`` picks the table's format (stdout and ``--out``). ``--fail-above
RATIO`` also gates B against A (:mod:`coc.suite.gate`): each regressed cell is named on stderr, one
line each, and the exit status is 1 (0 when B passes).
"""
from __future__ import annotations

import csv
import io
import json

from coc.suite.cells import row_key
from coc.suite.report import BASELINE, OP_ORDER, backend_order, format_seconds
from coc.utils.validation import CocError


FORMATS = ("md", "csv", "json")


def compare_markdown(a, b, *, label_a="A", label_b="B", baseline=None, title=None) -> str:
    """The markdown speedup table of the cells runs ``a`` and ``b`` (lists of records) share.

    ``title`` replaces the first line (``# label_a (A) vs label_b (B)``).

    Raises
    ------
    CocError
        When ``baseline`` is not one of A's backends, or the runs share no cell.
    """
    return render_markdown(compare_table(a, b, label_a=label_a, label_b=label_b, baseline=baseline,
                                         title=title))


def compare_table(a, b, *, label_a="A", label_b="B", baseline=None, title=None) -> dict:
    """The speedup table of the cells runs ``a`` and ``b`` share, as data.

    Returns
    -------
    dict
        ``a``, ``b`` (labels), ``baseline``, ``columns`` (``A:sklearn``... then
        ``B:cupy vs A:sklearn``...), ``rows`` (each with ``op``, ``n_samples``, ``dim``,
        ``dtype``, ``unequal_budgets`` and ``values``: median seconds, then speedups; None
        where a run lacks the backend), ``shared``, ``only_a``, ``only_b``.

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
    columns = [f"{run}:{be}" for run, be in time_cols] + [f"B:{be} vs A:{baseline}" for be in b_backends]
    rows = []
    for key in shared:
        ra, rb = rows_a[key], rows_b[key]
        values = []
        for run, be in time_cols:
            rec = (ra if run == "A" else rb).get(be)
            values.append(rec["median_s"] if rec else None)
        base = ra.get(baseline)
        for be in b_backends:
            rec = rb.get(be)
            values.append(base["median_s"] / rec["median_s"] if base and rec else None)
        iters = {r.get("max_iter") for r in (*ra.values(), *rb.values())} - {None}
        rows.append({"op": key[0], "n_samples": key[1], "dim": key[2], "dtype": key[4],
                     "unequal_budgets": len(iters) > 1, "values": values})
    return {"a": label_a, "b": label_b, "title": title, "baseline": baseline, "columns": columns,
            "n_times": len(time_cols), "rows": rows, "shared": len(shared),
            "only_a": len(set(rows_a) - set(rows_b)), "only_b": len(set(rows_b) - set(rows_a))}


def render_markdown(table: dict) -> str:
    """The table as markdown (times formatted, speedups as ``×2.00``)."""
    nt = table["n_times"]
    lines = [
        table.get("title") or f"# {table['a']} (A) vs {table['b']} (B)",
        "",
        f"Median time per cell; speedup = A:{table['baseline']}'s time / B's time (>1: B is faster).",
        "",
        "| op | n_samples | dim | dtype | " + " | ".join(table["columns"]) + " |",
        "|---|---:|---:|---|" + "---:|" * len(table["columns"]),
    ]
    for row in table["rows"]:
        times = [format_seconds(v) if v is not None else "" for v in row["values"][:nt]]
        speedups = [f"×{v:.2f}" if v is not None else "" for v in row["values"][nt:]]
        op = row["op"] + (" †" if row["unequal_budgets"] else "")
        lines.append(f"| {op} | {row['n_samples']:,} | {row['dim']} | {row['dtype']} | "
                     + " | ".join(times + speedups) + " |")
    if any(row["unequal_budgets"] for row in table["rows"]):
        lines += ["", "† the runs used different iteration budgets (max_iter) for this cell: unequal work."]
    lines += ["", f"{table['shared']} shared cells; {table['only_a']} only in A, "
                  f"{table['only_b']} only in B (not shown)."]
    if table.get("gate"):
        lines += ["", "Gate: " + "; ".join(f"{g['cell']}: {g['why']}" for g in table["gate"])]
    return "\n".join(lines) + "\n"


def render_csv(table: dict) -> str:
    """The table as CSV: raw seconds and speedups (an empty field where a run lacks one)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["op", "n_samples", "dim", "dtype", "unequal_budgets", *table["columns"]])
    for row in table["rows"]:
        w.writerow([row["op"], row["n_samples"], row["dim"], row["dtype"], row["unequal_budgets"],
                    *("" if v is None else repr(v) for v in row["values"])])
    return buf.getvalue()


def render_json(table: dict) -> str:
    """The table as one JSON object (:func:`compare_table`'s, each row's values by column)."""
    doc = {k: v for k, v in table.items() if k not in ("rows", "n_times")}
    doc["rows"] = [{**{k: v for k, v in row.items() if k != "values"},
                    **dict(zip(table["columns"], row["values"]))} for row in table["rows"]]
    return json.dumps(doc, indent=2) + "\n"


def _op_rank(op):
    return OP_ORDER.get(op, 99)
