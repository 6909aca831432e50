"""From timing records to tables and plots; reading results back from disk.

Records are plain dicts with the fields of :class:`coc.sweep.Record`. They come from a
sweep's ``results.jsonl`` or from a pytest-benchmark JSON file (``pytest bench
--benchmark-json F``), whose ``extra_info`` carries the same cell fields.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from coc.validation import CocError

RESULTS_FILE = "results.jsonl"
ENV_FILE = "env.json"
TABLE_FILE = "table.md"
SCALING_FILE = "scaling.png"
BASELINE = "sklearn"
_OP_ORDER = {"generate": 0, "kmeans": 1, "silhouette": 2, "silhouette-dask": 2, "tsne": 3}


# -- reading ------------------------------------------------------------------------------
def read_jsonl(path) -> list:
    """The records of a ``results.jsonl``, in file order.

    A line that is not JSON (the tail of a write cut short by a crash) is skipped with a
    warning on stderr; the sweep reruns that cell.
    """
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                print(f"coc: warning: {path}:{lineno}: not a JSON record, ignored", file=sys.stderr)
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def latest(records) -> list:
    """One record per cell, the last written (a retried cell supersedes its failure)."""
    from coc.sweep import record_key

    by_key = {}
    for rec in records:
        by_key[record_key(rec)] = rec
    return list(by_key.values())


def load_results(path) -> tuple:
    """Records and a label from a result folder, a ``results.jsonl`` or a pytest-benchmark JSON.

    Returns
    -------
    records : list of dict
        One per cell (the latest, where a cell was run more than once).
    label : str
        A name for the run: the folder's name, or the file's stem.

    Raises
    ------
    CocError
        When ``path`` does not exist or holds no timing records.
    """
    path = Path(path)
    if not path.exists():
        raise CocError(f"{path}: no such file or folder")
    if path.is_dir():
        file = path / RESULTS_FILE
        if not file.is_file():
            raise CocError(f"{path}: not a result folder (no {RESULTS_FILE} in it)")
        label = path.resolve().name
    else:
        file, label = path, path.stem
    if file.suffix == ".jsonl":
        records = read_jsonl(file)
        if not records or not all("op" in r and "backend" in r for r in records):
            raise CocError(f"{file}: not a coc results file (no cell records)")
        return latest(records), label
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CocError(f"{file}: not a results file ({type(e).__name__}: {e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise CocError(f"{file}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    records = records_from_pytest_benchmark(doc)
    if not records:
        raise CocError(f"{file}: holds no coc benchmarks (none has extra_info with op and backend)")
    return records, label


def records_from_pytest_benchmark(doc: dict) -> list:
    """Records from a pytest-benchmark JSON document (benchmarks without coc's extra_info are ignored)."""
    records = []
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        stats = bench.get("stats") or {}
        if "op" not in info or "backend" not in info or "median" not in stats:
            continue
        rec = {k: info.get(k) for k in ("backend", "op", "n_samples", "dim", "k", "dtype", "max_iter")}
        rec.update(
            status="ok", reason=None,
            times_s=list(stats.get("data") or []),
            median_s=stats["median"], min_s=stats.get("min"), max_s=stats.get("max"),
            iqr_s=stats.get("iqr"),
            peak_host_bytes=info.get("peak_host_bytes"),
            peak_device_bytes=info.get("peak_device_bytes"),
            n_iter=info.get("n_iter"),
            host=(doc.get("machine_info") or {}).get("node"),
            started_at=doc.get("datetime"),
        )
        records.append(rec)
    return records


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


def _row_key(rec):
    return (_OP_ORDER.get(rec["op"], 99), rec["op"], rec["n_samples"], rec["dim"])


def _backend_order(records):
    from coc.backends import backend_names

    order = {name: i for i, name in enumerate(backend_names())}
    return sorted({r["backend"] for r in records}, key=lambda b: (order.get(b, 99), b))


def table_markdown(records, *, baseline: str = BASELINE, title: str | None = None) -> str:
    """One row per op and size, one column per backend: median, spread, speedup.

    A cell reads ``12.3 ms ±4% ×2.10``: the median time, the interquartile range relative
    to the median, and the speedup over ``baseline`` (its median time divided by this
    one's) where the baseline ran that row. Skipped and failed cells say so; their reasons
    are listed under the table.
    """
    records = [r for r in records if r.get("op")]
    backends = _backend_order(records)
    rows = {}
    for rec in records:
        rows.setdefault(_row_key(rec), {})[rec["backend"]] = rec
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines += [
        f"Median time of each cell, ±interquartile range / median, ×speedup over `{baseline}`; "
        "(N it): a KMeans that stopped after N iterations, short of the budget.",
        "",
        "| op | n_samples | dim | " + " | ".join(backends) + " |",
        "|---|---:|---:|" + "---:|" * len(backends),
    ]
    notes = {}
    for key in sorted(rows):
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
                cells.append(text)
        op, n, d = key[1], key[2], key[3]
        lines.append(f"| {op} | {n:,} | {d} | " + " | ".join(cells) + " |")
    if notes:
        lines += [""]
        for (status, reason), n in sorted(notes.items(), key=lambda kv: kv[1]):
            lines.append(f"[{n}] {status}: {reason}")
    return "\n".join(lines) + "\n"


def plot_scaling(records, path=None):
    """Log-log time against n_samples: one panel per op, one line per backend and dim.

    Returns the matplotlib figure; with ``path`` it is also saved there (atomically).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ok = [r for r in records if r.get("status") == "ok" and r.get("median_s")]
    ops = sorted({r["op"] for r in records if r.get("op")}, key=lambda o: (_OP_ORDER.get(o, 99), o))
    ops = ops or ["(no cells)"]
    fig, axes = plt.subplots(1, len(ops), figsize=(4.2 * len(ops), 3.8), squeeze=False)
    backends = _backend_order(records) if records else []
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
        from coc._io import atomic_save_figure

        atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)
    return fig


def write_report(records, out, *, title=None, note=None) -> tuple:
    """Write ``table.md`` (with ``note`` under it) and ``scaling.png`` for ``records`` into ``out``."""
    from coc._io import atomic_write_text

    out = Path(out)
    text = table_markdown(records, title=title)
    if note:
        text = text.rstrip("\n") + f"\n\n{note}\n"
    table = atomic_write_text(out / TABLE_FILE, text)
    png = out / SCALING_FILE
    plot_scaling(records, png)
    return table, png
