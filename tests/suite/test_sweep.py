"""coc sweep end to end at a tiny size, through the real command line."""
import json

import pytest

import coc
from coc.suite import cells, profiles, runner
from coc.backends import SklearnBackend
from coc.cli import main

FIELDS = {
    "backend", "op", "n_samples", "dim", "k", "dtype", "max_iter", "status", "reason", "times_s",
    "median_s", "min_s", "max_s", "iqr_s", "peak_host_bytes", "peak_device_bytes", "n_iter",
    "host", "started_at",
}
TINY = ["--ops", "generate,kmeans,silhouette", "--n-samples", "100,200", "--dims", "4",
        "--repeats", "2", "--no-progress"]


def records(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def sweep(out, *extra, backends="sklearn"):
    return main(["sweep", "--backends", backends, *TINY, "--out", str(out), *extra])


def test_sweep_writes_records_env_table_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    assert sweep(out, backends="cpu,cupy,cuml") == 0
    recs = records(out)
    assert len(recs) == 3 * 2 * 3  # backends x sizes x ops, aliases resolved
    assert all(FIELDS <= set(r) for r in recs)
    available = coc.available_backends()
    for r in recs:
        if r["backend"] == "sklearn" or available[r["backend"]] is None:
            assert r["status"] == "ok", r
            assert len(r["times_s"]) == 2 and r["median_s"] > 0 and r["reason"] is None
            # A tiny call may fit in pages already resident: the RSS peak is then 0, not
            # missing (test_timing checks that real allocations are seen).
            assert isinstance(r["peak_host_bytes"], int) and r["peak_host_bytes"] >= 0
            assert r["dtype"] == "float32"
        else:
            assert r["status"] == "skipped" and "cannot run here" in r["reason"]
            assert r["times_s"] == [] and r["median_s"] is None
    km = [r for r in recs if r["op"] == "kmeans" and r["status"] == "ok"]
    assert all(r["k"] == 10 and r["max_iter"] == 30 and 1 <= r["n_iter"] <= 30 for r in km)

    env = json.loads((out / "env.json").read_text())
    assert {"cpu", "blas", "gpu", "packages", "git_commit", "host", "python"} <= set(env)
    assert env["cpu"]["logical_cores"] >= 1 and "numpy" in env["packages"]
    assert env["gpu"] is not None or env["gpu_reason"]

    table = (out / "table.md").read_text()
    assert "| op | n_samples | dim | sklearn | cupy | cuml |" in table
    for op in ("generate", "kmeans", "silhouette"):
        assert f"| {op} | 200 | 4 |" in table
    assert "×1.00" in table
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| silhouette | 100 | 4 |" in capsys.readouterr().out


def test_rerun_resumes_and_skips_finished_cells(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert sweep(out) == 0
    before = (out / "results.jsonl").read_text()

    def must_not_run(*a, **k):
        raise AssertionError("a finished cell ran again")

    monkeypatch.setattr(runner, "setup_cell", must_not_run)
    assert sweep(out) == 0
    assert (out / "results.jsonl").read_text() == before
    assert len(json.loads((out / "env.json").read_text())["runs"]) == 2


def test_interrupt_keeps_finished_cells_and_rerun_completes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real = SklearnBackend.silhouette

    def interrupted(self, X, labels, **kw):
        if X.shape[0] == 200:
            raise KeyboardInterrupt
        return real(self, X, labels, **kw)

    monkeypatch.setattr(SklearnBackend, "silhouette", interrupted)
    assert sweep(out) == 130
    assert "coc: interrupted" in capsys.readouterr().err
    kept = records(out)
    # generate, kmeans, silhouette at 100, then generate and kmeans at 200: the cell in flight is lost
    assert [(r["op"], r["n_samples"]) for r in kept] == [
        ("generate", 100), ("kmeans", 100), ("silhouette", 100), ("generate", 200), ("kmeans", 200),
    ]
    assert not (out / "table.md").exists()

    monkeypatch.setattr(SklearnBackend, "silhouette", real)
    assert sweep(out) == 0
    recs = records(out)
    assert recs[:5] == kept and len(recs) == 6
    assert recs[-1]["op"] == "silhouette" and recs[-1]["status"] == "ok"


def test_failed_cell_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    out = tmp_path / "run"

    def boom(self, *a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(SklearnBackend, "kmeans_result", boom)
    assert sweep(out) == 0
    recs = records(out)
    failed = [r for r in recs if r["status"] == "failed"]
    assert {r["op"] for r in failed} == {"kmeans"} and len(failed) == 2
    assert failed[0]["reason"] == "RuntimeError: boom"
    assert sum(r["status"] == "ok" for r in recs) == 4
    assert "failed [1]" in (out / "table.md").read_text()

    monkeypatch.undo()
    assert sweep(out) == 0
    assert len(records(out)) == 6  # failed cells count as finished...
    assert sweep(out, "--retry-failed") == 0  # ...unless asked to retry them
    recs = records(out)
    assert len(recs) == 8 and all(r["status"] == "ok" for r in recs[-2:])
    assert "failed" not in (out / "table.md").read_text()


def test_oversized_cells_are_skipped_with_the_reason(tmp_path, monkeypatch):
    out = tmp_path / "run"
    # over the laptop profile's limit: never run
    assert main(["sweep", "--profile", "laptop", "--backends", "sklearn", "--ops", "silhouette",
                 "--n-samples", "40000", "--dims", "2", "--no-progress", "--out", str(out)]) == 0
    (rec,) = records(out)
    assert rec["status"] == "skipped" and "laptop profile limit" in rec["reason"]
    # more memory than the device has free
    monkeypatch.setattr("coc.utils.xp.free_bytes", lambda xp: 1000)
    assert sweep(tmp_path / "small") == 0
    recs = records(tmp_path / "small")
    assert all(r["status"] == "skipped" and "does not fit" in r["reason"] for r in recs)


def test_partial_last_line_is_repaired_once_and_rerun(tmp_path, capsys):
    out = tmp_path / "run"
    assert sweep(out) == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    capsys.readouterr()
    assert sweep(out) == 0
    err = capsys.readouterr().err
    assert err.count("cut short") == 1 and "removed line 6" in err
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]  # every line whole
    assert len(recs) == 6 and [r["op"] for r in recs] == [json.loads(x)["op"] for x in lines]
    assert sweep(out) == 0
    assert "cut short" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--backends", "cupi"], "unknown backend 'cupi'"),
    (["--ops", "pca"], "unknown op 'pca'"),
    (["--profile", "huge"], "unknown profile 'huge'"),
    (["--repeats", "0"], "--repeats must be an integer >= 1"),
    (["--n-samples", "ten"], "expected comma-separated integers"),
    (["--n-samples", "1"], "n_samples must be an integer >= 2"),
    (["--dims", "0"], "dim must be an integer >= 1"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["sweep", *argv, "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coc: error:") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "x").exists()


def test_out_that_is_a_file_is_an_error(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("")
    assert main(["sweep", "--out", str(f / "sub"), "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("coc: error: --out")


def test_profiles_as_data():
    assert profiles.DEFAULT_PROFILE == "smoke"
    ws = profiles.PROFILES["workstation"]
    assert max(ws.n_samples) == 1_000_000 and max(ws.dims) == 1024
    for profile in profiles.PROFILES.values():
        assert set(profile.ops) <= set(cells.OPS) and profile.repeats >= 1
        for (who, op), limit in profile.limits.items():
            assert op in cells.OPS and who in {"cpu", "gpu", *coc.backend_names()} and limit.reason
    c = profiles.make_cells(profiles.PROFILES["smoke"], backends=["gpu", "sklearn"], ops=["tsne", "kmeans"],
                         n_samples=[300], dims=[8])
    assert [(x.op, x.k, x.max_iter) for x in c[-2:]] == [("tsne", None, 250), ("kmeans", 10, 30)]
    big = cells.Cell("sklearn", "tsne", 1_000_000, 1024, None, "float32", 500)
    assert "workstation profile limit" in profiles.skip_reason(big, ws)
