"""From timing records to tables and plots.

Records are plain dicts with the fields of :class:`coc.suite.records.Record`, as
:func:`coc.suite.records.load_results` reads them from a sweep's ``results.jsonl`` or a
pytest-benchmark JSON file.
"""
from __future__ import annotations

import math
from pathlib import Path

from coc.io.outputs import atomic_save_figure, figure_writer, write_outputs
from coc.backends import backend_names
from coc.suite.cells import row_key
from coc.suite.quality import LEGEND, brief
from coc.suite.records import SCALING_FILE, TABLE_FILE

BASELINE = "sklearn"
OP_ORDER = {"generate": 0, "kmeans": 1, "silhouette": 2, "silhouette-dask": 2, "tsne": 3}


# -- formatting ------------------------------------------------------------------------------
def format_seconds(s) -> str:
    """``812 µs``, ``12.3 ms``, ``4.56 s``: three significant digits."""
    if s is None or not math.isfinite(s):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{s} s"  # pragma: no cover


def spread(rec) -> float | None:
    """The interquartile range relative to the median (0.04 = 4 %), or None."""
    iqr, med = rec.get("iqr_s"), rec.get("median_s")
    if iqr is None or not med:
        return None
    return iqr / med


def _row_order(key: tuple) -> tuple:
    """Sort order of a :func:`coc.suite.cells.row_key`: ops in pipeline order, then by size."""
    op, n, d, *rest = key
    return (OP_ORDER.get(op, 99), op, n, d, tuple(str(v) for v in rest))


def backend_order(records) -> list:
    """The backends of ``records``, in the registry's order (unknown names last)."""
    order = {name: i for i, name in enumerate(backend_names())}
    return sorted({r["backend"] for r in records}, key=lambda b: (order.get(b, 99), b))


def table_markdown(records, *, baseline: str = BASELINE, title: str | None = None) -> str:
    """One row per op and size, one column per backend: median, spread, speedup.

    A cell reads ``12.3 ms ±4% ×2.10 · I×1.002``: the median time, the interquartile range
    relative to the median, the speedup over ``baseline`` (its median time divided by this
    one's) where the baseline ran that row, and the answer's quality
    (:func:`coc.suite.quality.brief`, explained in a legend under the header). Skipped and failed
    cells say so; their reasons are listed under the table.
    """
    records = [r for r in records if r.get("op")]
    backends = backend_order(records)
    rows = {}
    for rec in records:
        rows.setdefault(row_key(rec), {})[rec["backend"]] = rec
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines += [
        f"Median time of each cell, ±interquartile range / median, ×speedup over `{baseline}`; "
        "(N it): a KMeans that stopped after N iterations, short of the budget.",
        "",
        "After the ·, the answer's " + LEGEND + ".",
        "",
        "| op | n_samples | dim | " + " | ".join(backends) + " |",
        "|---|---:|---:|" + "---:|" * len(backends),
    ]
    notes = {}
    for key in sorted(rows, key=_row_order):
        row = rows[key]
        base = row.get(baseline)
        base_t = base["median_s"] if base and base.get("status") == "ok" else None
        cells = []
        for b in backends:
            rec = row.get(b)
            if rec is None:
                cells.append("")
            elif rec.get("status") != "ok":
                n = notes.setdefault((rec.get("status"), rec.get("reason")), len(notes) + 1)
                cells.append(f"{rec.get('status')} [{n}]")
            else:
                text = format_seconds(rec["median_s"])
                sp = spread(rec)
                if sp is not None:
                    text += f" ±{sp:.0%}"
                if base_t and rec["median_s"]:
                    text += f" ×{base_t / rec['median_s']:.2f}"
                if rec.get("n_iter") is not None and rec.get("max_iter") and rec["n_iter"] < rec["max_iter"]:
                    # scikit-learn stops when labels stop changing, even with tol=0: less work
                    text += f" ({rec['n_iter']} it)"
                q = brief(rec["op"], rec.get("quality"))
                if q:
                    text += f" · {q}"
                cells.append(text)
        op, n, d = key[0], key[1], key[2]
        lines.append(f"| {op} | {n:,} | {d} | " + " | ".join(cells) + " |")
    if notes:
        lines += [""]
        for (status, reason), n in sorted(notes.items(), key=lambda kv: kv[1]):
            lines.append(f"[{n}] {status}: {reason}")
    return "\n".join(lines) + "\n"


def plot_scaling(records, path=None):
    """Log-log time against n_samples: one panel per op, one line per backend and dim.

    Returns the matplotlib figure (made without pyplot, so no backend is chosen); with
    ``path`` it is also saved there (atomically).
    """
    from matplotlib.figure import Figure

    ok = [r for r in records if r.get("status") == "ok" and r.get("median_s")]
    ops = sorted({r["op"] for r in records if r.get("op")}, key=lambda o: (OP_ORDER.get(o, 99), o))
    ops = ops or ["(no cells)"]
    fig = Figure(figsize=(4.2 * len(ops), 3.8))
    axes = fig.subplots(1, len(ops), squeeze=False)
    backends = backend_order(records) if records else []
    colors = {b: f"C{i}" for i, b in enumerate(backends)}
    dims = sorted({r["dim"] for r in ok})
    markers = {d: "os^vD<>ph*"[i % 10] for i, d in enumerate(dims)}
    for ax, op in zip(axes[0], ops):
        lines = {}
        for r in ok:
            if r["op"] == op:
                lines.setdefault((r["backend"], r["dim"]), []).append((r["n_samples"], r["median_s"]))
        for (backend, dim), pts in sorted(lines.items(), key=lambda kv: (backends.index(kv[0][0]), kv[0][1])):
            pts.sort()
            ax.plot(*zip(*pts), marker=markers[dim], color=colors[backend], label=f"{backend} d={dim}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(op)
        ax.set_xlabel("n_samples")
        ax.grid(True, which="both", alpha=0.3)
        if lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes)
    axes[0][0].set_ylabel("median time (s)")
    fig.tight_layout()
    if path is not None:
        atomic_save_figure(fig, path, dpi=110)
    return fig


def write_report(records, out, *, title=None, note=None) -> tuple:
    """Write ``table.md`` (with ``note`` under it) and ``scaling.png`` for ``records`` into ``out``.

    Both or neither: when one cannot be written, the old pair stays (:func:`coc.io.outputs.write_outputs`).
    """
    out = Path(out)
    text = table_markdown(records, title=title)
    if note:
        text = text.rstrip("\n") + f"\n\n{note}\n"
    table, png = out / TABLE_FILE, out / SCALING_FILE
    fig = plot_scaling(records)
    write_outputs({table: text, png: figure_writer(fig, "png", dpi=110)})
    return table, png
