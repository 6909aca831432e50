"""Benchmark records: the typed outcome of one cell, and the files that hold them.

A sweep's result folder holds ``results.jsonl`` (one :class:`Record` per line, appended as
each cell finishes), ``env.json`` (the machine), and the reports ``table.md`` and
``scaling.png`` (:mod:`coc.suite.report`). This module writes and reads the records; it also
reads pytest-benchmark JSON files (``pytest bench --benchmark-json F``), whose
``extra_info`` carries the same cell fields, into the same shape.
"""
from __future__ import annotations

import json
import os
import socket
import stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from coc.io.outputs import atomic_write_bytes, os_reason
from coc.suite.cells import CELL_FIELDS, Cell, cell_key
from coc.suite.schema import check_record, json_type
from coc.utils.validation import CocError

RESULTS_FILE = "results.jsonl"
ENV_FILE = "env.json"
TABLE_FILE = "table.md"
SCALING_FILE = "scaling.png"
#: The lock file a running sweep holds in its result folder.
LOCK_FILE = ".lock"


@dataclass
class Record:
    """The outcome of one cell: one line of ``results.jsonl``, the cell's fields first.

    Attributes
    ----------
    cell : coc.suite.cells.Cell
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
        Peak memory of the warm-up round (see :func:`coc.utils.timing.measure_peak`).
    n_iter : int or None
        Iterations actually run by the last timed call (KMeans), else None.
    algorithm : str or None
        What the engine ran (``backend.algorithm(op)``): k-means++ or faiss's own seeding,
        Barnes-Hut or FFT t-SNE...
    quality : dict or None
        How good the last timed call's answer is, measured outside the clock
        (:mod:`coc.suite.quality`); None for ``generate`` and for cells that did not run.
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
    try:
        with open(path, "ab") as f:
            # A crash mid-write can leave a partial last line; start on a fresh one.
            if f.tell() > 0 and _last_byte(path) != b"\n":
                line = "\n" + line
            f.write(line.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise CocError(f"{path}: cannot append a record ({os_reason(e)}); the records written "
                       "so far are kept: free the space or fix the file, then rerun to resume") from None


def _last_byte(path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def read_jsonl(path, *, repair: bool = False, recover: Optional[str] = None) -> list:
    """The records of a ``results.jsonl`` (as dicts), in file order, each one checked.

    A line cut short by a crash (JSON that ends before its record does) is dropped: with
    ``repair`` the file is rewritten atomically without it and one notice says so (the sweep
    holding the folder's lock does this, and reruns that cell); without, one warning says
    it was ignored. Any other bad line is an error naming the line and how to recover
    (``recover``; by default, how to resume the sweep).

    Raises
    ------
    CocError
        The file cannot be read, or a line is not UTF-8, not JSON, not an object, or a
        record that lacks a field or has one of the wrong type.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CocError(f"{path}: cannot read: {os_reason(e)}") from None
    recover = recover or (f"remove that line (its cell runs again), or move {path.name} away "
                          "to start over with a new sweep")
    records, kept, cut = [], [], []
    lines = raw.split(b"\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        last = lineno == len(lines)  # no newline after it: the write may have been cut
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            if last and e.reason == "unexpected end of data":
                cut.append(lineno)
                continue
            raise CocError(f"{path} line {lineno}: not UTF-8 text (byte 0x{line[e.start]:02x}); "
                           f"{recover}") from None
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            if _cut_short(text, e):
                cut.append(lineno)
                continue
            raise CocError(f"{path} line {lineno}: not a JSON record ({e.msg} at column "
                           f"{e.colno}); {recover}") from None
        except (ValueError, RecursionError) as e:  # an integer of thousands of digits, deep nesting
            raise CocError(f"{path} line {lineno}: not a record coc can read ({_unreadable(e)}); "
                           f"{recover}") from None
        records.append(check_record(rec, f"{path} line {lineno}", recover=recover))
        kept.append(line.rstrip(b"\r") + b"\n")
    if cut:
        where = f"line{'s' if len(cut) > 1 else ''} {', '.join(map(str, cut))}"
        if repair:
            atomic_write_bytes(path, b"".join(kept), option="--out")
            print(f"coc: notice: {path}: removed {where}, cut short by an interrupted write; "
                  "its cell runs again", file=sys.stderr)
        else:
            print(f"coc: warning: {path}: {where} cut short by an interrupted write, ignored",
                  file=sys.stderr)
    elif repair and raw and not raw.endswith(b"\n"):
        atomic_write_bytes(path, b"".join(kept), option="--out")  # a whole last record, unended
    return records


_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")


def _cut_short(text: str, e: json.JSONDecodeError) -> bool:
    """Whether ``text`` is valid JSON so far and only ends too soon: a write cut short."""
    text = text.rstrip()
    rest = text[e.pos:]
    if e.pos >= len(text) or e.msg.startswith("Unterminated string"):
        return True  # (a JSON line cannot hold a raw newline, so a string open at its end was cut)
    if e.msg.startswith("Invalid \\uXXXX escape") and len(rest) < 6:
        return True
    if e.msg.startswith("Expecting ',' delimiter") and rest and len(rest) <= 3 and set(rest) <= set(".eE+-"):
        return True  # a number cut after its point or exponent sign (1. 1.5e 1.5e-)
    return e.msg == "Expecting value" and any(lit.startswith(rest) for lit in _LITERALS)


def read_env(path) -> Optional[dict]:
    """``env.json`` of a result folder (None when there is none), checked to be an object.

    Raises
    ------
    CocError
        Saying to move the file away: a new one is written by the next sweep.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    recover = f"move it away (mv {path} {path}.bad) and run again: the sweep writes a new one"
    doc = _read_json(path, recover=recover)
    if not isinstance(doc, dict):
        raise CocError(f"{path}: a JSON {json_type(doc)}, not an object; {recover}")
    runs = doc.get("runs")
    if runs is not None and not (isinstance(runs, list) and all(isinstance(r, dict) for r in runs)):
        raise CocError(f"{path}: 'runs' must be a list of objects; {recover}")
    return doc


def _read_json(path, *, recover: str):
    """The JSON document in ``path``; a CocError saying what is wrong and ``recover``."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise CocError(f"{path}: cannot read ({os_reason(e)}); {recover}") from None
    except UnicodeDecodeError:
        raise CocError(f"{path}: not UTF-8 text; {recover}") from None
    except json.JSONDecodeError as e:
        raise CocError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); {recover}") from None
    except (ValueError, RecursionError) as e:
        raise CocError(f"{path}: not a document coc can read ({_unreadable(e)}); {recover}") from None


def _unreadable(e: Exception) -> str:
    """Why valid JSON could not be loaded: Python's limits on integer digits and nesting."""
    return "nested too deeply" if isinstance(e, RecursionError) else "a number with too many digits"


def check_appendable(path) -> None:
    """Refuse, before any cell runs, a ``results.jsonl`` that cannot take one more line.

    A file without write permission is refused even for root, who could write it: someone
    marked it read-only on purpose.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise CocError(f"{path}: {os_reason(e)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CocError(f"{path} is not a file; move it away, or give another --out")
    if not st.st_mode & stat.S_IWUSR:
        what, bits = ("read-only", "w") if st.st_mode & stat.S_IRUSR else ("neither readable nor writable", "rw")
        raise CocError(f"{path} is {what} (mode {stat.S_IMODE(st.st_mode):03o}): make it "
                       f"{'writable' if bits == 'w' else 'readable and writable'} (chmod u+{bits} {path}) "
                       "to resume this sweep, or give another --out")
    try:
        with open(path, "ab"):
            pass
    except OSError as e:
        raise CocError(f"{path}: cannot append ({os_reason(e)}): make it writable to resume "
                       "this sweep, or give another --out") from None


def latest(records) -> list:
    """One record per cell, the last written (a retried cell supersedes its failure)."""
    by_key = {}
    for rec in records:
        by_key[cell_key(rec)] = rec
    return list(by_key.values())


def finished_keys(path, *, retry_failed: bool = False, repair: bool = False) -> set:
    """Keys of the cells ``results.jsonl`` already holds a record for (see :func:`read_jsonl`)."""
    if not Path(path).is_file():
        return set()
    keys = set()
    for rec in latest(read_jsonl(path, repair=repair)):
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
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as e:
        reason = "no such file or folder" if isinstance(e, FileNotFoundError) else os_reason(e)
        raise CocError(f"{path}: {reason}") from None
    if is_dir:
        file = path / RESULTS_FILE
        if not file.is_file():
            raise CocError(f"{path}: not a result folder (no {RESULTS_FILE} in it)")
        label = path.resolve().name
    elif not path.is_file():
        raise CocError(f"{path}: not a regular file (a device, pipe or socket)")
    else:
        file, label = path, path.stem
    if file.suffix == ".jsonl":
        records = read_jsonl(file, recover="not a coc results file, or a damaged one: fix or "
                                           "remove that line")
        if not records:
            raise CocError(f"{file}: not a coc results file (no cell records)")
        return latest(records), label
    doc = _read_json(file, recover="not a results file")
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise CocError(f"{file}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    records = records_from_pytest_benchmark(doc, name=str(file))
    if not records:
        raise CocError(f"{file}: holds no coc benchmarks (none has extra_info with op and backend)")
    return latest(records), label


def records_from_pytest_benchmark(doc: dict, *, name: str = "pytest-benchmark JSON") -> list:
    """Records (dicts) from a pytest-benchmark JSON document; benchmarks without coc's
    ``extra_info`` (op and backend) are ignored.

    Raises
    ------
    CocError
        A benchmark that is not an object, or a coc benchmark with a field of the wrong type
        (a list where a name belongs, a median that is not a number of seconds >= 0).
    """
    machine = doc.get("machine_info") if isinstance(doc.get("machine_info"), dict) else {}
    records = []
    for i, bench in enumerate(doc.get("benchmarks") or []):
        where = f"{name}: benchmarks[{i}]"
        if not isinstance(bench, dict):
            raise CocError(f"{where} is a JSON {json_type(bench)}, not an object")
        info, stats = bench.get("extra_info") or {}, bench.get("stats") or {}
        for part, value in (("extra_info", info), ("stats", stats)):
            if not isinstance(value, dict):
                raise CocError(f"{where}: {part} is a JSON {json_type(value)}, not an object")
        if "op" not in info or "backend" not in info:
            continue
        where += f" ({bench.get('name')})" if isinstance(bench.get("name"), str) else ""
        if "median" not in stats:
            raise CocError(f"{where}: a coc benchmark without stats.median")
        rec = {k: info.get(k) for k in CELL_FIELDS}
        rec.update(
            status="ok", reason=None,
            times_s=stats.get("data") or [],
            median_s=stats["median"], min_s=stats.get("min"), max_s=stats.get("max"),
            iqr_s=stats.get("iqr"),
            peak_host_bytes=info.get("peak_host_bytes"),
            peak_device_bytes=info.get("peak_device_bytes"),
            n_iter=info.get("n_iter"),
            algorithm=info.get("algorithm"),
            quality=info.get("quality"),
            host=machine.get("node"),
            started_at=doc.get("datetime"),
        )
        records.append(check_record(rec, where))
    return records
