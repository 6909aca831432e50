"""``coc sweep``: time many (backend, op, n_samples, dim) cells without pytest; resumable.

Each finished cell is appended to ``results.jsonl`` as one JSON line, flushed and fsynced, so
a crash or Ctrl-C loses at most the cell in flight. The same command run again reads the
file and skips every cell that already has a record (``ok``, ``skipped`` or ``failed``;
``--retry-failed`` runs the failed ones again, and the newer record wins). ``env.json``
describes the machine; ``table.md`` and ``scaling.png`` are written at the end.

A cell that cannot run here is *skipped* with the reason (backend unavailable, over the
profile's size limit, not enough free memory); one that raises is *failed* with the
exception, and the sweep goes on. Only KeyboardInterrupt stops it.

``--scheduler ADDRESS`` or ``--workers N`` runs the cells on a Dask cluster instead, one
task per cell (:mod:`coc.distributed`); records, resume and reports are the same.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from coc import _args
from coc import cells as _cells
from coc.report import ENV_FILE, RESULTS_FILE

STATUSES = ("ok", "skipped", "failed")


@dataclass
class Record:
    """The outcome of one cell: one line of ``results.jsonl``.

    Attributes
    ----------
    backend, op, n_samples, dim, k, dtype, max_iter
        The cell (see :class:`coc.cells.Cell`).
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
    host : str
        The machine's host name.
    started_at : str
        When the cell started (UTC, ISO 8601).
    wall_s : float
        Seconds the whole cell took: data, warm-up and repeats.
    worker, device : str or None
        On a Dask cluster, the worker's address and the device it ran on (the CUDA device,
        or the CPU and its threads); None in an in-process sweep.
    """

    backend: str
    op: str
    n_samples: int
    dim: int
    k: Optional[int]
    dtype: str
    max_iter: Optional[int]
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
    host: str = field(default_factory=socket.gethostname)
    started_at: str = ""
    wall_s: Optional[float] = None
    worker: Optional[str] = None
    device: Optional[str] = None

    @classmethod
    def for_cell(cls, cell, status, **kwargs) -> "Record":
        return cls(**cell.as_dict(), status=status, **kwargs)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(", ", ": "))


def record_key(rec: dict) -> tuple:
    """The cell a record (a dict) belongs to; equal to :attr:`coc.cells.Cell.key`."""
    return tuple(rec.get(f) for f in ("backend", "op", "n_samples", "dim", "k", "dtype", "max_iter"))


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


def finished_keys(path, *, retry_failed: bool = False) -> set:
    """Keys of the cells ``results.jsonl`` already holds a record for."""
    from coc.report import latest, read_jsonl

    if not Path(path).is_file():
        return set()
    keys = set()
    for rec in latest(read_jsonl(path)):
        if retry_failed and rec.get("status") == "failed":
            continue
        keys.add(record_key(rec))
    return keys


def run_cell(cell, profile, *, repeats: int, data_cache: Optional[dict] = None) -> Record:
    """Time one cell; never raises except KeyboardInterrupt.

    Parameters
    ----------
    cell : coc.cells.Cell
    profile : coc.cells.Profile
        Its size limits apply.
    repeats : int
        Timed repeats, after one warm-up round that also measures peak memory.
    data_cache : dict, optional
        Keeps the last dataset, so consecutive cells on the same data do not remake it.
    """
    import time

    from coc.backends import get_backend
    from coc.timing import measure_peak, time_call

    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    # Whole-cell wall time is bookkeeping for the progress estimate, not a measurement.
    t_start = time.monotonic()

    def done(status, **kwargs):
        return Record.for_cell(
            cell, status, repeats=repeats, started_at=started,
            wall_s=round(time.monotonic() - t_start, 3), **kwargs
        )

    reason = _cells.skip_reason(cell, profile)
    if reason:
        return done("skipped", reason=reason)
    backend = None
    try:
        backend = get_backend(cell.backend)
        if data_cache and _cells.data_key(cell) not in data_cache:
            # Drop the last dataset before asking what memory is free: it is not needed now.
            data_cache.clear()
            backend.release_memory()
        reason = _cells.memory_reason(cell, backend)
        if reason:
            return done("skipped", reason=reason)
        data = _cached_data(cell, backend, data_cache)
        prepared = _cells.prepare(cell, backend, data)
        peak = measure_peak(prepared.fn, backend=backend)  # doubles as the warm-up round
        timing = time_call(prepared.fn, sync=backend.synchronize, warmup=0, repeats=repeats)
        return done(
            "ok", times_s=timing.times_s, median_s=timing.median_s, min_s=timing.min_s,
            max_s=timing.max_s, iqr_s=timing.iqr_s, peak_host_bytes=peak.host_bytes,
            peak_device_bytes=peak.device_bytes, n_iter=_cells.n_iter_of(timing.result),
        )
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one cell is recorded, and we go on
        if data_cache is not None:
            data_cache.clear()
        return done("failed", reason=_failure_reason(e, backend))
    finally:
        if backend is not None:
            prepared = peak = timing = None  # noqa: F841 - drop results before freeing the pool
            backend.release_memory()


def _cached_data(cell, backend, cache):
    key = _cells.data_key(cell)
    if cache is None:
        return _cells.make_data(cell, backend)
    if key not in cache:
        cache.clear()  # one dataset at a time: a large one must not outlive its cells
        cache[key] = _cells.make_data(cell, backend)
    return cache[key]


def _failure_reason(e: BaseException, backend) -> str:
    text = f"{type(e).__name__}: {e}".strip()
    try:
        oom = backend.is_out_of_memory(e) if backend is not None else isinstance(e, MemoryError)
    except Exception:  # noqa: BLE001 - a broken GPU stack must not hide the original error
        oom = isinstance(e, MemoryError)
    if oom:
        text = f"out of memory ({text})"
    return " ".join(text.split())[:500]


def run_sweep(cells, out, *, profile, repeats: int, progress: bool = True,
              retry_failed: bool = False, env: Optional[dict] = None, client=None) -> list:
    """Run ``cells`` not yet in ``out/results.jsonl``, appending one record per cell.

    Parameters
    ----------
    cells : list of coc.cells.Cell
    out : path
        The result folder (made if needed).
    profile : coc.cells.Profile
        Whose size limits apply.
    repeats : int
        Timed repeats per cell.
    progress : bool
        Show a progress bar on stderr naming the cell in flight, with an ETA.
    retry_failed : bool
        Run again the cells whose record says ``failed``.
    env : dict, optional
        Written to ``env.json``; :func:`coc.envinfo.collect_env` when omitted.
    client : dask.distributed.Client, optional
        Run the cells on its cluster (see :mod:`coc.distributed`) instead of in this process.

    Returns
    -------
    list of Record
        The records written by this run (earlier ones stay in the file).
    """
    from tqdm.auto import tqdm

    from coc._io import atomic_write_json
    from coc.envinfo import collect_env

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS_FILE
    env_path = out / ENV_FILE
    env = env or collect_env()
    if env_path.exists():
        # A resumed sweep keeps each machine description it ran under.
        previous = json.loads(env_path.read_text(encoding="utf-8"))
        runs = previous.get("runs", [previous])
        env = {**env, "runs": [*runs, {k: v for k, v in env.items() if k != "runs"}]}
    atomic_write_json(env_path, env)

    done = finished_keys(results, retry_failed=retry_failed)
    todo = [c for c in cells if c.key not in done]
    written = []
    cache = {}
    bar = tqdm(total=len(todo), disable=not progress, unit="cell", file=sys.stderr,
               dynamic_ncols=True, initial=0)
    if progress and len(todo) < len(cells):
        bar.write(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already in {results}")

    def keep(record):
        append_record(results, record)
        written.append(record)
        bar.update(1)

    try:
        if client is not None:
            from coc.distributed import run_cells

            bar.set_description_str("on the Dask cluster")
            run_cells(client, todo, profile=profile, repeats=repeats, record=keep)
        else:
            for cell in todo:
                bar.set_description_str(cell.label)
                keep(run_cell(cell, profile, repeats=repeats, data_cache=cache))
    finally:
        cache.clear()
        bar.close()
    return written


# -- command line ---------------------------------------------------------------------------
def add_arguments(p) -> None:
    """Options of ``coc sweep``."""
    p.add_argument("--profile", default=_cells.DEFAULT_PROFILE,
                   help=f"named cells and limits: {', '.join(_cells.PROFILES)} (default: "
                        f"{_cells.DEFAULT_PROFILE}); the options below replace its lists")
    p.add_argument("--backends", type=_args.str_list, default=None,
                   help="comma-separated backends or aliases (cpu, gpu)")
    p.add_argument("--ops", type=_args.str_list, default=None,
                   help=f"comma-separated ops from: {', '.join(_cells.ALL_OPS)}")
    p.add_argument("--n-samples", type=_args.int_list, default=None, help="comma-separated sizes")
    p.add_argument("--dims", type=_args.int_list, default=None, help="comma-separated dimensions")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per cell (after one warm-up)")
    p.add_argument("--out", default=None,
                   help="result folder (default: results/sweeps/<machine tag>/); a folder with "
                        "results.jsonl is resumed")
    p.add_argument("--retry-failed", action="store_true", help="run again the cells recorded as failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="run the cells on the running Dask scheduler at ADDRESS "
                              "(tcp://host:8786); needs pip install 'coc[dask]'")
    cluster.add_argument("--workers", type=int, default=None, metavar="N",
                         help="run the cells on a local Dask cluster of N workers (one per GPU "
                              "with dask-cuda)")


def main(args) -> int:
    """Run ``coc sweep``; returns the exit status."""
    from coc._io import check_writable_dir
    from coc.envinfo import collect_env, machine_tag
    from coc.report import load_results, write_report
    from coc.timing import harness_overhead
    from coc.validation import CocError

    profile = _cells.get_profile(args.profile)
    repeats = profile.repeats if args.repeats is None else args.repeats
    if repeats < 1:
        raise CocError(f"--repeats must be >= 1, got {repeats}")
    cells = _cells.make_cells(
        profile, backends=args.backends, ops=args.ops, n_samples=args.n_samples, dims=args.dims
    )
    env = collect_env()
    # What the clock adds to each timed call on this machine, for the suite's own accounting.
    env["harness_overhead_s"] = harness_overhead(sync=lambda: None)
    out = check_writable_dir(Path(args.out or Path("results") / "sweeps" / machine_tag(env)))
    if (out / RESULTS_FILE).exists() and not (out / RESULTS_FILE).is_file():
        raise CocError(f"{out / RESULTS_FILE} is not a file")
    if args.scheduler or args.workers is not None:
        from coc.distributed import connect

        cluster = connect(scheduler=args.scheduler, workers=args.workers)
    else:
        cluster = contextlib.nullcontext()
    with cluster as client:  # a bad address is an error before anything is written
        print(f"coc sweep: profile {profile.name}, {len(cells)} cells, {repeats} repeats -> {out}"
              + (f" on {client.scheduler.address}" if client is not None else ""), file=sys.stderr)
        records = run_sweep(cells, out, profile=profile, repeats=repeats, client=client,
                            progress=not args.no_progress, retry_failed=args.retry_failed, env=env)
    all_records, _label = load_results(out)
    title = f"coc sweep on {machine_tag(env)}"
    fastest = min((r["median_s"] for r in all_records if r.get("status") == "ok"), default=None)
    note = f"Harness overhead: {env['harness_overhead_s'] * 1e9:.0f} ns per timed call"
    if fastest:
        note += f", {100 * env['harness_overhead_s'] / fastest:.2f}% of the fastest cell's median"
    table, png = write_report(all_records, out, title=title, note=note + ".")
    counts = {s: sum(r.status == s for r in records) for s in STATUSES}
    print(Path(table).read_text(encoding="utf-8"))
    print(f"coc sweep: ran {len(records)} cells ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
          f"wrote {out / RESULTS_FILE}, {out / ENV_FILE}, {table}, {png}", file=sys.stderr)
    return 0
