"""Every cell of the chosen profile as one pytest-benchmark benchmark.

The cell is set up by :func:`coc.suite.runner.setup_cell`, exactly as ``coc sweep`` sets it up:
data made, checked and moved to the device before timing; the timed function synchronizes
the device before it returns; the peak-memory run (``coc.utils.timing.measure_peak``) is the
warm-up round. A backend that cannot run here, or a cell over the profile's size limit or
this device's free memory, is skipped with the reason. After the timed rounds, the answer's
quality (``coc.suite.quality``) and the algorithm that ran go into ``extra_info``, untimed.
"""
import pytest

from coc.suite.cells import n_iter_of
from coc.suite.runner import setup_cell
from coc.utils.timing import measure_peak


def test_cell(benchmark, cell, bench_profile):
    setup = setup_cell(cell, bench_profile)
    if setup.skip:
        pytest.skip(setup.skip)

    benchmark.group = cell.group  # backends side by side in one table per op and size
    benchmark.extra_info.update(cell.as_dict())
    peak = None
    if not benchmark.disabled:  # --benchmark-disable (CI): one plain call, nothing measured
        peak = measure_peak(setup.fn, backend=setup.backend)
    benchmark.extra_info["peak_host_bytes"] = peak.host_bytes if peak else None
    benchmark.extra_info["peak_device_bytes"] = peak.device_bytes if peak else None

    result = benchmark.pedantic(setup.fn, rounds=bench_profile.repeats, iterations=1, warmup_rounds=0)
    benchmark.extra_info["n_iter"] = n_iter_of(result)
    benchmark.extra_info["algorithm"] = setup.algorithm(cell)
    quality = setup.quality(cell, result)  # outside the clock, on the last round's result
    benchmark.extra_info["quality"] = quality
    assert not (quality or {}).get("error"), quality
