"""Run one benchmark cell: set it up, time it, record it.

:func:`setup_cell` is the one pipeline from a cell to its timed call (skip checks, the
backend, the memory check, the data, the call); ``coc sweep`` (:func:`run_cell`) and
``bench/`` (pytest-benchmark) both use it, so they time exactly the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from coc.backends import get_backend
from coc.suite.cells import Cell, data_key, make_data, memory_reason, n_iter_of, timed_call
from coc.suite.profiles import Profile, skip_reason
from coc.suite.quality import cell_quality
from coc.suite.records import Record
from coc.utils.timing import Stopwatch, measure_peak, time_call, timestamp


@dataclass
class Setup:
    """A cell ready to time, or the reason it cannot run here.

    Attributes
    ----------
    skip : str or None
        Why the cell is skipped (backend unavailable, over a profile limit, not enough free
        memory); when set, ``backend`` may be None and ``fn`` is None.
    backend : coc.Backend or None
    fn : callable or None
        Runs the op once on data already made and checked, and synchronizes the device.
    data : dict or None
        The cell's inputs (``X``, ``y``) on the device, which quality is measured against.
    """

    skip: Optional[str]
    backend: Any = None
    fn: Optional[Callable[[], Any]] = None
    data: Optional[dict] = None

    def quality(self, cell: Cell, result) -> Optional[dict]:
        """The quality of ``result`` (a timed call's return) for ``cell``, measured on the host,
        outside the clock (:func:`coc.suite.quality.cell_quality`); a failure to measure it is
        recorded as ``{"error": ...}`` rather than failing the timed cell."""
        try:
            return cell_quality(cell, self.backend, self.data, result)
        except Exception as e:  # noqa: BLE001 - the timing stands; the record says what broke
            return {"error": " ".join(f"{type(e).__name__}: {e}".split())[:300]}

    def n_iter(self, cell: Cell, result) -> Optional[int]:
        """Iterations the timed call ran: KMeans says so; t-SNE runs its budget, or, where the
        cell gives none, the engine's own default (:attr:`coc.backends.Backend.tsne_max_iter`)."""
        if cell.op == "tsne":
            return cell.max_iter or self.backend.tsne_max_iter
        return n_iter_of(result)

    def algorithm(self, cell: Cell) -> Optional[str]:
        """What the engine runs for ``cell``'s op, for the records (None where it says nothing)."""
        return self.backend.algorithm(cell.op) or None


def setup_cell(cell: Cell, profile: Profile, *, data_cache: Optional[dict] = None) -> Setup:
    """Get ``cell`` ready to time: check it can run here, make its data, bind its call.

    Parameters
    ----------
    cell : coc.suite.cells.Cell
    profile : coc.suite.profiles.Profile
        Its size limits apply.
    data_cache : dict, optional
        Keeps the last dataset, so consecutive cells on the same data do not remake it.

    Returns
    -------
    Setup
    """
    reason = skip_reason(cell, profile)
    if reason:
        return Setup(skip=reason)
    backend = get_backend(cell.backend)
    key = data_key(cell)
    if data_cache is not None and key not in data_cache:
        # Drop the last dataset before asking what memory is free: it is not needed now.
        data_cache.clear()
        backend.release_memory()
    reason = memory_reason(cell, backend)
    if reason:
        return Setup(skip=reason, backend=backend)
    if data_cache is None:
        data = make_data(cell, backend)
    else:
        if key not in data_cache:
            data_cache[key] = make_data(cell, backend)  # one dataset at a time
        data = data_cache[key]
    return Setup(skip=None, backend=backend, fn=timed_call(cell, backend, data), data=data)


def run_cell(cell: Cell, profile: Profile, *, repeats: int, data_cache: Optional[dict] = None) -> Record:
    """Time one cell, then measure its answer's quality (untimed); never raises except
    KeyboardInterrupt.

    Parameters
    ----------
    cell : coc.suite.cells.Cell
    profile : coc.suite.profiles.Profile
        Its size limits apply.
    repeats : int
        Timed repeats, after one warm-up round that also measures peak memory.
    data_cache : dict, optional
        Keeps the last dataset, so consecutive cells on the same data do not remake it.
    """
    started = timestamp()
    watch = Stopwatch()  # whole-cell wall time: bookkeeping for the progress estimate

    def done(status, **kwargs):
        return Record(cell, status, repeats=repeats, started_at=started,
                      wall_s=round(watch.elapsed_s, 3), **kwargs)

    setup = None
    try:
        setup = setup_cell(cell, profile, data_cache=data_cache)
        if setup.skip:
            return done("skipped", reason=setup.skip)
        peak = measure_peak(setup.fn, backend=setup.backend)  # doubles as the warm-up round
        timing = time_call(setup.fn, sync=setup.backend.synchronize, warmup=0, repeats=repeats)
        return done(
            "ok", times_s=timing.times_s, median_s=timing.median_s, min_s=timing.min_s,
            max_s=timing.max_s, iqr_s=timing.iqr_s, peak_host_bytes=peak.host_bytes,
            peak_device_bytes=peak.device_bytes, n_iter=setup.n_iter(cell, timing.result),
            algorithm=setup.algorithm(cell), quality=setup.quality(cell, timing.result),
        )
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one cell is recorded, and we go on
        if data_cache is not None:
            data_cache.clear()
        return done("failed", reason=failure_reason(e, setup.backend if setup else None))
    finally:
        backend = setup.backend if setup is not None else None
        setup = peak = timing = None  # noqa: F841 - drop results before freeing the pool
        if backend is not None:
            backend.release_memory()


def failure_reason(e: BaseException, backend=None) -> str:
    """One line for a failed cell: the exception, marked as out of memory where it is one."""
    text = f"{type(e).__name__}: {e}".strip()
    try:
        oom = backend.is_out_of_memory(e) if backend is not None else isinstance(e, MemoryError)
    except Exception:  # noqa: BLE001 - a broken GPU stack must not hide the original error
        oom = isinstance(e, MemoryError)
    if oom:
        text = f"out of memory ({text})"
    return " ".join(text.split())[:500]
