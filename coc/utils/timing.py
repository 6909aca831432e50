"""The one place in coc that reads the clock, and the one that measures peak memory.

Three readers live here and nowhere else: :func:`time_call` (measurements: the device
synchronized before every read), :class:`Stopwatch` (bookkeeping: how long a whole
analysis or sweep cell took, for reports and progress estimates, never a measurement) and
:func:`timestamp` (when a record was made).

Timing rule (the project's design contract): the device is synchronized before every clock read, so a GPU
call is charged for the work it queued, not for the time it took to queue it. The
benchmark functions of ``bench/`` also synchronize inside the timed function, so that
pytest-benchmark, which reads its own clock, follows the same rule.
"""
from __future__ import annotations

import datetime as _dt
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Timing:
    """Wall-clock times of the timed repeats of one call.

    Attributes
    ----------
    times_s : list of float
        One duration per timed repeat, in seconds (warm-up rounds excluded).
    median_s, min_s, max_s : float
        Their median, minimum and maximum.
    iqr_s : float
        Their interquartile range (0 for a single repeat).
    result : object
        What the last timed call returned (for instance a KMeans result, to read ``n_iter``).
    """

    times_s: list
    median_s: float
    min_s: float
    max_s: float
    iqr_s: float
    result: Any = field(default=None, repr=False, compare=False)


def time_call(
    fn: Callable[[], Any],
    *,
    sync: Callable[[], None],
    warmup: int = 1,
    repeats: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    Parameters
    ----------
    fn : callable
        The call to time, with its data already made and on the device.
    sync : callable
        Waits for queued device work (``backend.synchronize``); called before every clock
        read, so each duration covers exactly the work of one call.
    warmup : int
        Untimed calls first (JIT, cuBLAS handles, memory pools, thread pools).
    repeats : int
        Timed calls, at least 1.
    clock : callable
        The clock, ``time.perf_counter``; a parameter only so that tests can inject a fake.

    Returns
    -------
    Timing
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    sync()
    times = []
    result = None
    for _ in range(repeats):
        sync()
        t0 = clock()
        result = fn()
        sync()
        t1 = clock()
        times.append(t1 - t0)
    return Timing(
        times_s=times,
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        iqr_s=iqr(times),
        result=result,
    )


def timestamp() -> str:
    """The current UTC time, ISO 8601 to the second (when a record or env.json was made)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Stopwatch:
    """Elapsed wall time since creation, for bookkeeping (reports, progress estimates).

    Not a measurement: it does not synchronize any device. Measurements go through
    :func:`time_call`.

    >>> watch = Stopwatch()
    >>> watch.elapsed_s >= 0
    True
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start = clock()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the stopwatch was made."""
        return self._clock() - self._start


def harness_overhead(*, sync: Callable[[], None], repeats: int = 2000) -> float:
    """Median seconds that :func:`time_call` itself adds to one timed call.

    Times a call that does nothing, with the same ``sync`` as the real cells, so that a
    sweep can state the harness's share of its smallest cell.
    """
    return time_call(lambda: None, sync=sync, warmup=10, repeats=repeats).median_s


def iqr(values) -> float:
    """Interquartile range with linear interpolation (as ``numpy.percentile``); 0 for one value."""
    v = sorted(values)
    if len(v) < 2:
        return 0.0
    return _quantile(v, 0.75) - _quantile(v, 0.25)


def _quantile(sorted_values, q):
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class Peak:
    """Peak memory of one call.

    Attributes
    ----------
    host_bytes : int or None
        On Linux: the process's peak resident set size during the call (``VmHWM``, reset
        just before it through ``/proc/self/clear_refs``) minus its resident size before
        the call. It sees every allocation the call touched, compiled code's included
        (scikit-learn's OpenMP scratch, BLAS buffers), at no cost to the call. Free heap
        memory is first handed back to the kernel (glibc ``malloc_trim``) so that the call
        needs fresh pages; what an allocator still reuses from resident blocks is not seen,
        so it is an estimate, on the low side. Where the peak cannot be reset (not Linux), tracemalloc's
        peak instead: Python objects and NumPy arrays only, and tracing slows Python-heavy
        code several-fold (scikit-learn's t-SNE: 3 to 6 times), which is why it is the
        fallback.
    device_bytes : int or None
        On CuPy, bytes held by CuPy's default memory pool after the call, the pool having
        been emptied of cached blocks before it. Freed blocks stay in the pool, so this is
        the pool's high-water mark, input arrays included: an estimate (fragmentation adds
        to it; allocations outside the pool, such as cuML's RMM or cuBLAS workspaces, are
        missed). None on the CPU.
    result : object
        What the call returned.
    """

    host_bytes: Optional[int]
    device_bytes: Optional[int]
    result: Any = field(default=None, repr=False, compare=False)


def measure_peak(fn: Callable[[], Any], *, backend) -> Peak:
    """Run ``fn()`` once and measure its peak host and device memory (see :class:`Peak`).

    Runs outside the timed repeats; the sweep and ``bench/`` use this run as their warm-up
    round, so it costs no extra call.

    Parameters
    ----------
    fn : callable
        The call to measure.
    backend : coc.backends.Backend
        Its backend: says whether there is a device pool to read, and synchronizes.

    Returns
    -------
    Peak
    """
    pool = _device_pool(backend)
    if pool is not None:
        backend.synchronize()
        pool.free_all_blocks()
    if _reset_rss_peak():
        _trim_heap()
        rss_before = _proc_status_bytes("VmRSS")
        result = fn()
        backend.synchronize()
        peak = _proc_status_bytes("VmHWM")
        host = None if peak is None or rss_before is None else max(0, peak - rss_before)
    else:
        result, host = _tracemalloc_peak(fn, backend)
    device = int(pool.total_bytes()) if pool is not None else None
    return Peak(host_bytes=host, device_bytes=device, result=result)


def _reset_rss_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _trim_heap() -> None:
    """Hand free heap memory back to the kernel (glibc ``malloc_trim``), so that the call's
    allocations need fresh pages and show in its peak RSS instead of hiding in reused ones."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _proc_status_bytes(field_name: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _tracemalloc_peak(fn, backend):
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = fn()
        backend.synchronize()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, int(peak)


def _device_pool(backend):
    """The backend's device memory pool (CuPy's default pool), or None on the CPU."""
    return backend.memory_pool()
