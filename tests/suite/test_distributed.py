"""coc sweep on a real Dask cluster (two worker processes on loopback), and silhouette-dask."""
import json
import os
import signal
import sys
import threading
import time
from collections import Counter

import numpy as np
import psutil
import pytest
from sklearn.metrics import silhouette_samples, silhouette_score

from coc.suite import profiles
from coc.suite.cells import cell_key as record_key
from coc.cli import main
from coc.suite.sweep import run_sweep

dd = pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed (pip install 'coc[dask]')")
da = pytest.importorskip("dask.array")

SMALL = dict(backends=["sklearn", "numpy"], ops=["generate", "kmeans", "silhouette"],
             n_samples=[100, 200], dims=[4])


def records(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def client():
    from coc.suite.distributed import _local_cluster

    cluster = _local_cluster(2, dd)  # what coc sweep --workers 2 starts
    with dd.Client(cluster) as c:
        yield c
    cluster.close()


def test_silhouette_dask_matches_sklearn():
    from coc.kernels.silhouette_dask import silhouette_samples_dask, silhouette_score_dask

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.6, size=(60, 5)) for c in (0, 2, 4, 6)])
    y = np.repeat([3, 1, 7, 5], 60)
    y[0] = 9  # a singleton cluster scores 0
    Xd = da.from_array(X, chunks=(70, 2))  # uneven row blocks; column chunks are merged
    s = silhouette_samples_dask(Xd, y, xp=np, scheduler="sync")
    np.testing.assert_allclose(s, silhouette_samples(X, y), rtol=0, atol=1e-6)
    score = silhouette_score_dask(Xd, da.from_array(y, chunks=70), xp=np, scheduler="threads")
    assert abs(float(score) - silhouette_score(X, y)) < 1e-6
    X32 = X.astype(np.float32)
    s32 = silhouette_samples_dask(da.from_array(X32, chunks=(50, -1)), y, xp=np)
    assert s32.dtype == np.float32
    np.testing.assert_allclose(s32, silhouette_samples(X32, y), rtol=0, atol=1e-4)


def test_silhouette_dask_is_an_op_beside_the_in_memory_one(tmp_path):
    out = tmp_path / "run"
    assert main(["sweep", "--backends", "sklearn,numpy", "--ops", "silhouette,silhouette-dask",
                 "--n-samples", "150", "--dims", "3", "--repeats", "1", "--no-progress",
                 "--out", str(out)]) == 0
    recs = records(out)
    assert sorted((r["backend"], r["op"]) for r in recs) == [
        ("numpy", "silhouette"), ("numpy", "silhouette-dask"),
        ("sklearn", "silhouette"), ("sklearn", "silhouette-dask"),
    ]
    assert all(r["status"] == "ok" and r["k"] == 10 for r in recs)
    assert "| silhouette-dask | 150 | 3 |" in (out / "table.md").read_text()


def slow_cell_plugin(pidfile):
    """A worker plugin (on restarted workers too): the sklearn silhouette at n=200 writes its
    worker's pid to ``pidfile`` and sleeps, until ``pidfile.done`` exists."""

    class SlowCell(dd.WorkerPlugin):
        def setup(self, worker):
            import functools

            from coc.backends import SklearnBackend

            real = getattr(SklearnBackend.silhouette, "__wrapped__", SklearnBackend.silhouette)

            @functools.wraps(real)
            def slow(self, X, labels, **kw):
                if X.shape[0] == 200 and not os.path.exists(pidfile + ".done"):
                    with open(pidfile + ".tmp", "w") as f:
                        f.write(str(os.getpid()))
                    os.replace(pidfile + ".tmp", pidfile)
                    time.sleep(60)
                return real(self, X, labels, **kw)

            SklearnBackend.silhouette = slow

        def teardown(self, worker):
            from coc.backends import SklearnBackend

            SklearnBackend.silhouette = getattr(SklearnBackend.silhouette, "__wrapped__",
                                                SklearnBackend.silhouette)

    return SlowCell()


def sweep_killing_workers(client, out, pidfile, times):
    """Run SMALL on ``client``, SIGKILLing the worker of the slow cell ``times`` times."""
    killed = []

    def killer():
        for i in range(times):
            deadline = time.monotonic() + 50
            while not pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not pidfile.exists():
                return
            pid = int(pidfile.read_text())
            pidfile.unlink()
            if i == times - 1:
                pidfile.with_name(pidfile.name + ".done").touch()  # the next attempt runs
            # a worker's: a process this test started (asking the cluster instead races with the
            # nanny restarting the worker killed before)
            assert os.getpid() in [p.pid for p in psutil.Process(pid).parents()]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    client.register_plugin(slow_cell_plugin(str(pidfile)), name="slow-cell")
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    todo = profiles.make_cells(profiles.PROFILES["smoke"], **SMALL)
    try:
        written = run_sweep(todo, out, profile=profiles.PROFILES["smoke"], repeats=2, progress=False,
                            client=client)
    finally:
        thread.join(timeout=60)
        client.unregister_worker_plugin("slow-cell")
    assert len(killed) == times, "the slow cell did not run as often as expected"
    return todo, written


def test_killed_worker_loses_no_cell_and_records_none_twice(tmp_path, client):
    out = tmp_path / "run"
    todo, written = sweep_killing_workers(client, out, tmp_path / "slow.pid", times=1)
    recs = records(out)
    assert len(written) == len(recs) == len(todo) == 12
    assert Counter(record_key(r) for r in recs) == Counter(c.key for c in todo)  # each once
    assert all(r["status"] == "ok" for r in recs), [r["reason"] for r in recs]
    assert all(r["worker"].startswith("tcp://127.0.0.1:") and r["device"].startswith("cpu")
               and r["host"] for r in recs)

    before = (out / "results.jsonl").read_text()
    assert run_sweep(todo, out, profile=profiles.PROFILES["smoke"], repeats=2, progress=False,
                     client=client) == []
    assert (out / "results.jsonl").read_text() == before


def test_cell_whose_worker_dies_twice_is_recorded_failed(tmp_path, client):
    out = tmp_path / "run"
    todo, _written = sweep_killing_workers(client, out, tmp_path / "slow.pid", times=2)
    recs = records(out)
    assert Counter(record_key(r) for r in recs) == Counter(c.key for c in todo)
    (failed,) = [r for r in recs if r["status"] != "ok"]
    assert (failed["backend"], failed["op"], failed["n_samples"]) == ("sklearn", "silhouette", 200)
    assert failed["status"] == "failed" and failed["reason"].startswith("KilledWorker")


def test_cli_sweep_on_a_running_scheduler_and_resume(tmp_path, client, capsys):
    out = tmp_path / "run"
    argv = ["sweep", "--backends", "sklearn", "--ops", "generate,kmeans,silhouette-dask",
            "--n-samples", "100", "--dims", "4", "--repeats", "1", "--no-progress",
            "--out", str(out), "--scheduler", client.scheduler.address]
    assert main(argv) == 0
    recs = records(out)
    assert {r["op"] for r in recs} == {"generate", "kmeans", "silhouette-dask"}
    assert all(r["status"] == "ok" and r["worker"] for r in recs)
    assert (out / "table.md").exists() and (out / "scaling.png").exists()
    assert main(argv) == 0
    assert records(out) == recs
    assert "ran 0 cells" in capsys.readouterr().err


def test_unreachable_scheduler_is_one_line_error(tmp_path, capsys):
    import dask

    out = tmp_path / "run"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        status = main(["sweep", "--backends", "sklearn", "--no-progress", "--out", str(out),
                       "--scheduler", "tcp://127.0.0.1:1"])
    assert status == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("coc")]
    assert lines == [lines[0]] and lines[0].startswith("coc: error: cannot reach the Dask scheduler")
    assert "Traceback" not in err and not out.exists()


def test_workers_must_be_positive(tmp_path, capsys):
    assert main(["sweep", "--workers", "0", "--no-progress", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == "coc: error: --workers must be >= 1, got 0\n"
    assert not (tmp_path / "x").exists()


def test_missing_dask_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    assert main(["sweep", "--workers", "2", "--no-progress", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err == "coc: error: --scheduler/--workers need dask: pip install 'coc[dask]'\n"
