"""coc.utils.timing: the one clock reader synchronizes before every read; peak memory."""
import numpy as np
import pytest

from coc.utils import timing
from coc.utils.timing import iqr, measure_peak, time_call


def test_time_call_synchronizes_before_every_clock_read():
    events = []
    ticks = iter(range(100))

    def clock():
        events.append("clock")
        return float(next(ticks))

    def fn():
        events.append("fn")
        return len(events)

    timing = time_call(fn, sync=lambda: events.append("sync"), warmup=2, repeats=3, clock=clock)

    assert events.count("clock") == 6  # two reads per timed repeat, none for the warm-up
    assert events.count("fn") == 5
    assert events[:2] == ["fn", "fn"]  # warm-up first, untimed
    for i, e in enumerate(events):
        if e == "clock":
            assert events[i - 1] == "sync", events
    # each timed call sits between a clock read and the sync that precedes the next read
    timed = [i for i, e in enumerate(events) if e == "fn"][2:]
    for i in timed:
        assert events[i - 1] == "clock" and events[i + 1] == "sync"
    assert timing.times_s == [1.0, 1.0, 1.0]
    assert timing.median_s == 1.0 and timing.min_s == 1.0 and timing.max_s == 1.0
    assert timing.result == events.index("fn", timed[-1]) + 1


def test_time_call_needs_a_repeat():
    with pytest.raises(ValueError):
        time_call(lambda: None, sync=lambda: None, repeats=0)


@pytest.mark.parametrize("values", [[1.0], [3.0, 1.0], [1.0, 5.0, 2.0, 9.0, 4.0]])
def test_iqr_matches_numpy(values):
    expected = 0.0 if len(values) < 2 else float(np.subtract(*np.percentile(values, [75, 25])))
    assert iqr(values) == pytest.approx(expected)


@pytest.mark.parametrize("method", ["rss", "tracemalloc"])
def test_measure_peak_sees_numpy_allocations(sklearn_backend, monkeypatch, method):
    if method == "tracemalloc":
        monkeypatch.setattr(timing, "_reset_rss_peak", lambda: False)
    # 80 MB: above glibc's largest mmap threshold, so the pages are fresh, not reused
    peak = measure_peak(lambda: np.ones(10_000_000).sum(), backend=sklearn_backend)
    assert peak.host_bytes >= 70_000_000
    assert peak.device_bytes is None
    assert peak.result == 10_000_000


def test_measure_peak_reads_the_device_pool_after_emptying_it():
    calls = []

    class Pool:
        def free_all_blocks(self):
            calls.append("free")

        def total_bytes(self):
            calls.append("total")
            return 12345

    class FakeGpu:
        is_gpu = True

        def memory_pool(self):
            return Pool()

        def synchronize(self):
            calls.append("sync")

    peak = measure_peak(lambda: calls.append("fn"), backend=FakeGpu())
    assert peak.device_bytes == 12345
    assert calls == ["sync", "free", "fn", "sync", "total"]
