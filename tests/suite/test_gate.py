"""coc compare --fail-above: the regression gate on result folders made by a real sweep."""
import csv
import io
import json
import shutil

import pytest

from coc.cli import main


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    out = tmp_path_factory.mktemp("gate") / "a"
    assert main(["sweep", "--backends", "sklearn,numpy", "--ops", "kmeans,silhouette", "--n-samples", "200",
                 "--dims", "4", "--max-iter", "10", "--repeats", "1", "--no-progress", "--out", str(out)]) == 0
    return out


def edited_copy(src, dst, edit):
    """A copy of result folder ``src`` whose records pass through ``edit(record) -> record or None``."""
    shutil.copytree(src, dst)
    recs = [json.loads(line) for line in (src / "results.jsonl").read_text().splitlines()]
    kept = [r for r in map(edit, recs) if r is not None]
    (dst / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    return dst


def gate(a, b, ratio="1.5", *extra):
    return main(["compare", str(a), str(b), "--fail-above", ratio, *extra])


def test_equal_runs_pass(run_a, tmp_path, capsys):
    b = edited_copy(run_a, tmp_path / "b", lambda r: r)
    assert gate(run_a, b) == 0
    captured = capsys.readouterr()
    assert "| kmeans | 200 | 4 |" in captured.out and "gate passed" in captured.err


def test_a_slower_cell_fails_and_is_named(run_a, tmp_path, capsys):
    def slower(r):
        if r["backend"] == "numpy" and r["op"] == "kmeans":
            r = {**r, "median_s": r["median_s"] * 2, "times_s": [t * 2 for t in r["times_s"]]}
        return r

    b = edited_copy(run_a, tmp_path / "b", slower)
    assert gate(run_a, b) == 1
    err = capsys.readouterr().err.splitlines()
    named = [line for line in err if line.startswith("coc: gate: ")]
    assert named == [next(line for line in named if "numpy kmeans n=200 d=4 k=10 float32 max_iter=10" in line)]
    assert "slower: B/A median time 2.00 > 1.5" in named[0]
    assert gate(run_a, b, "2.5") == 0  # within a looser ratio


def test_missing_failed_and_worse_cells_fail(run_a, tmp_path, capsys):
    def edit(r):
        if r["backend"] == "sklearn" and r["op"] == "silhouette":
            return None  # missing in B
        if r["backend"] == "numpy" and r["op"] == "silhouette":
            return {**r, "status": "failed", "reason": "MemoryError: boom", "median_s": None}
        if r["backend"] == "sklearn" and r["op"] == "kmeans":
            return {**r, "quality": {**r["quality"], "inertia_per_point": r["quality"]["inertia_per_point"] * 1.05}}
        return r

    b = edited_copy(run_a, tmp_path / "b", edit)
    assert gate(run_a, b) == 1
    err = capsys.readouterr().err
    assert "coc: gate: sklearn silhouette n=200 d=4 k=10 float32: missing in B (ok in A)" in err
    assert "coc: gate: numpy silhouette n=200 d=4 k=10 float32: failed in B (ok in A): MemoryError: boom" in err
    assert "sklearn kmeans n=200 d=4 k=10 float32 max_iter=10: worse answer: inertia_per_point" in err
    assert "numpy kmeans" not in err


def test_formats_and_bad_ratio(run_a, tmp_path, capsys):
    assert main(["compare", str(run_a), str(run_a), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["op"] for r in rows} == {"kmeans", "silhouette"} and float(rows[0]["A:sklearn"]) > 0
    out = tmp_path / "c.json"
    assert main(["compare", str(run_a), str(run_a), "--format", "json", "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(out.read_text()) and doc["shared"] == 2
    assert doc["rows"][0]["B:numpy vs A:sklearn"] > 0
    assert main(["compare", str(run_a), str(run_a), "--fail-above", "0"]) == 2
    assert "--fail-above must be a finite ratio > 0" in capsys.readouterr().err


def test_pytest_benchmark_json_carries_quality_and_machine(tmp_path):
    from coc.suite.records import records_from_pytest_benchmark

    doc = {"machine_info": {"node": "box", "coc": {"cpu": {"model": "x"}}}, "datetime": "now",
           "benchmarks": [{"extra_info": {"backend": "numpy", "op": "kmeans", "n_samples": 100, "dim": 4, "k": 10,
                                          "dtype": "float32", "max_iter": 30, "algorithm": "k-means++",
                                          "quality": {"inertia_ratio": 1.01}},
                           "stats": {"median": 0.5, "data": [0.5]}}]}
    (rec,) = records_from_pytest_benchmark(doc)
    assert rec["quality"] == {"inertia_ratio": 1.01} and rec["algorithm"] == "k-means++" and rec["host"] == "box"
