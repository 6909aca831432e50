"""Every cell of the chosen profile as one pytest-benchmark benchmark.

The cells, their data and the timed call come from :mod:`coc.cells`, exactly as ``coc
sweep`` runs them. Data is made and moved to the device before timing; the timed function
synchronizes the device before it returns; the peak-memory run (``coc.timing.measure_peak``)
is the warm-up round. A backend that cannot run here, or a cell over the profile's size
limit or this device's free memory, is skipped with the reason.
"""
import pytest

from coc.backends import get_backend
from coc.cells import memory_reason, n_iter_of, prepare, skip_reason
from coc.timing import measure_peak


def test_cell(benchmark, cell, bench_profile):
    reason = skip_reason(cell, bench_profile)
    if reason:
        pytest.skip(reason)
    backend = get_backend(cell.backend)
    reason = memory_reason(cell, backend)
    if reason:
        pytest.skip(reason)
    prepared = prepare(cell, backend)

    benchmark.group = cell.group  # backends side by side in one table per op and size
    benchmark.extra_info.update(cell.as_dict())
    peak = None
    if not benchmark.disabled:  # --benchmark-disable (CI): one plain call, nothing measured
        peak = measure_peak(prepared.fn, backend=backend)
    benchmark.extra_info["peak_host_bytes"] = peak.host_bytes if peak else None
    benchmark.extra_info["peak_device_bytes"] = peak.device_bytes if peak else None

    result = benchmark.pedantic(prepared.fn, rounds=bench_profile.repeats, iterations=1, warmup_rounds=0)
    benchmark.extra_info["n_iter"] = n_iter_of(result)
