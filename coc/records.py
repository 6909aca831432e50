"""Benchmark records: the typed outcome of one cell, and the files that hold them.

A sweep's result folder holds ``results.jsonl`` (one :class:`Record` per line, appended as
each cell finishes), ``env.json`` (the machine), and the reports ``table.md`` and
``scaling.png`` (:mod:`coc.report`). This module writes and reads the records; it also
reads pytest-benchmark JSON files (``pytest bench --benchmark-json F``), whose
``extra_info`` carries the same cell fields, into the same shape.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from coc.cells import CELL_FIELDS, Cell, cell_key
from coc.validation import CocError

RESULTS_FILE = "results.jsonl"
ENV_FILE = "env.json"
TABLE_FILE = "table.md"
SCALING_FILE = "scaling.png"
STATUSES = ("ok", "skipped", "failed")


@dataclass
class Record:
    """The outcome of one cell: one line of ``results.jsonl``, the cell's fields first.

    Attributes
    ----------
    cell : coc.cells.Cell
        What was run (its fields are written flat, first, in each JSON line).
    status : str
        ``ok``, ``skipped`` or ``failed``.
    reason : str or None
        Why a cell was skipped or failed.
    times_s : list of float
        Timed repeats, in seconds (empty unless ok).
    median_s, min_s, max_s, iqr_s : float or None
        Statistics of ``times_s``.
    repeats : int
        Timed repeats asked for (after one warm-up round).
    peak_host_bytes, peak_device_bytes : int or None
        Peak memory of the warm-up round (see :func:`coc.timing.measure_peak`).
    n_iter : int or None
        Iterations actually run by the last timed call (KMeans), else None.
    algorithm : str or None
        What the engine ran (``backend.algorithm(op)``): k-means++ or faiss's own seeding,
        Barnes-Hut or FFT t-SNE...
    quality : dict or None
        How good the last timed call's answer is, measured outside the clock
        (:mod:`coc.quality`); None for ``generate`` and for cells that did not run.
    host : str
        The machine's host name.
    started_at : str
        When the cell started (UTC, ISO 8601).
    wall_s : float
        Seconds the whole cell took: data, warm-up and repeats (bookkeeping).
    worker, device : str or None
        On a Dask cluster, the worker's address and the device it ran on (the CUDA device,
        or the CPU and its threads); None in an in-process sweep.
    """

    cell: Cell
    status: str
    reason: Optional[str] = None
    times_s: list = field(default_factory=list)
    median_s: Optional[float] = None
    min_s: Optional[float] = None
    max_s: Optional[float] = None
    iqr_s: Optional[float] = None
    repeats: Optional[int] = None
    peak_host_bytes: Optional[int] = None
    peak_device_bytes: Optional[int] = None
    n_iter: Optional[int] = None
    algorithm: Optional[str] = None
    quality: Optional[dict] = None
    host: str = field(default_factory=socket.gethostname)
    started_at: str = ""
    wall_s: Optional[float] = None
    worker: Optional[str] = None
    device: Optional[str] = None

    def to_dict(self) -> dict:
        """The record as one flat JSON-ready dict: the cell's fields, then the outcome."""
        out = self.cell.as_dict()
        out.update((k, v) for k, v in asdict(self).items() if k != "cell")
        return out

    def to_json(self) -> str:
        """The record as one JSON line (no newline)."""
        return json.dumps(self.to_dict(), separators=(", ", ": "))

    @property
    def key(self) -> tuple:
        return self.cell.key


def append_record(path, record: Record) -> None:
    """Append one record as one line, flushed and fsynced before returning."""
    path = Path(path)
    line = record.to_json() + "\n"
    with open(path, "ab") as f:
        # A crash mid-write can leave a partial last line; start on a fresh one.
        if f.tell() > 0 and _last_byte(path) != b"\n":
            line = "\n" + line
        f.write(line.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def _last_byte(path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def read_jsonl(path) -> list:
    """The records of a ``results.jsonl`` (as dicts), in file order.

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
    by_key = {}
    for rec in records:
        by_key[cell_key(rec)] = rec
    return list(by_key.values())


def finished_keys(path, *, retry_failed: bool = False) -> set:
    """Keys of the cells ``results.jsonl`` already holds a record for."""
    if not Path(path).is_file():
        return set()
    keys = set()
    for rec in latest(read_jsonl(path)):
        if retry_failed and rec.get("status") == "failed":
            continue
        keys.add(cell_key(rec))
    return keys


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
    """Records (dicts) from a pytest-benchmark JSON document; benchmarks without coc's
    ``extra_info`` are ignored."""
    records = []
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        stats = bench.get("stats") or {}
        if "op" not in info or "backend" not in info or "median" not in stats:
            continue
        rec = {k: info.get(k) for k in CELL_FIELDS}
        rec.update(
            status="ok", reason=None,
            times_s=list(stats.get("data") or []),
            median_s=stats["median"], min_s=stats.get("min"), max_s=stats.get("max"),
            iqr_s=stats.get("iqr"),
            peak_host_bytes=info.get("peak_host_bytes"),
            peak_device_bytes=info.get("peak_device_bytes"),
            n_iter=info.get("n_iter"),
            algorithm=info.get("algorithm"),
            quality=info.get("quality"),
            host=(doc.get("machine_info") or {}).get("node"),
            started_at=doc.get("datetime"),
        )
        records.append(rec)
    return records
