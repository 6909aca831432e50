"""coc compare: speedup tables between result folders and pytest-benchmark files."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from coc.cli import main

ROOT = Path(__file__).resolve().parents[2]


def rec(backend, op, n, dim, median, status="ok", **kw):
    return {"backend": backend, "op": op, "n_samples": n, "dim": dim, "k": 10 if op == "kmeans" else None,
            "dtype": "float32", "max_iter": 30 if op == "kmeans" else None, "status": status,
            "reason": None if status == "ok" else "why", "times_s": [median], "median_s": median,
            "min_s": median, "max_s": median, "iqr_s": 0.0, **kw}


def folder(path, records):
    path.mkdir(parents=True)
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_compare_two_folders(tmp_path, capsys):
    a = folder(tmp_path / "laptop", [rec("sklearn", "kmeans", 1000, 32, 2.0), rec("numpy", "kmeans", 1000, 32, 1.0),
                                     rec("sklearn", "tsne", 1000, 32, 9.0), rec("sklearn", "kmeans", 5000, 32, 5.0)])
    b = folder(tmp_path / "h100", [rec("sklearn", "kmeans", 1000, 32, 1.0), rec("cupy", "kmeans", 1000, 32, 0.1),
                                   rec("cupy", "tsne", 1000, 32, 0.3, status="failed"),
                                   rec("cupy", "kmeans", 1e6, 32, 0.5)])
    out = tmp_path / "cmp.md"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text == out.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| op |"))
    assert header == ("| op | n_samples | dim | dtype | A:sklearn | A:numpy | B:sklearn | B:cupy | "
                      "B:sklearn vs A:sklearn | B:cupy vs A:sklearn |")
    assert "| kmeans | 1,000 | 32 | float32 | 2 s | 1 s | 1 s | 100 ms | ×2.00 | ×20.00 |" in text
    assert "| tsne |" not in text  # B's t-SNE failed: not a shared finished cell
    assert "1 shared cells; 2 only in A, 1 only in B" in text

    assert main(["compare", str(a), str(b), "--baseline", "numpy"]) == 0
    assert "×10.00 |" in capsys.readouterr().out


def test_compare_reads_a_real_pytest_benchmark_file(tmp_path, capsys):
    bench_json = tmp_path / "bench.json"
    r = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-q", "-p", "no:cacheprovider",
         "-k", "sklearn and generate", "--benchmark-json", str(bench_json)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(bench_json.read_text())
    info = doc["benchmarks"][0]["extra_info"]
    assert {"backend", "op", "n_samples", "dim", "k", "dtype", "peak_host_bytes", "peak_device_bytes"} <= set(info)
    assert doc["benchmarks"][0]["group"] == f"generate n={info['n_samples']} d={info['dim']}"

    a = folder(tmp_path / "sweep", [rec("sklearn", "generate", 250, 16, 1e-3), rec("sklearn", "generate", 500, 16, 2e-3)])
    assert main(["compare", str(a), str(bench_json)]) == 0
    text = capsys.readouterr().out
    assert "| generate | 250 | 16 | float32 |" in text and "| generate | 500 | 16 | float32 |" in text
    assert "B:sklearn vs A:sklearn" in text


@pytest.mark.parametrize("name, content, message", [
    ("missing", None, "no such file or folder"),
    ("empty", "<folder>", "not a result folder"),
    ("x.json", '{"a": 1}', "not a pytest-benchmark JSON file"),
    ("x.json", "not json", "not a results file"),
    ("r.jsonl", '{"a": 1}\n', "not a coc results file"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, capsys, name, content, message):
    bad = tmp_path / name
    if content == "<folder>":
        bad.mkdir()
    elif content is not None:
        bad.write_text(content)
    good = folder(tmp_path / "good", [rec("sklearn", "kmeans", 1000, 32, 2.0)])
    assert main(["compare", str(bad), str(good)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coc: error:") and err.count("\n") == 1 and message in err


def test_no_shared_cells_and_unknown_baseline_are_errors(tmp_path, capsys):
    a = folder(tmp_path / "a", [rec("sklearn", "kmeans", 1000, 32, 2.0)])
    b = folder(tmp_path / "b", [rec("cupy", "kmeans", 2000, 32, 2.0)])
    assert main(["compare", str(a), str(b)]) == 2
    assert "share no finished cell" in capsys.readouterr().err
    assert main(["compare", str(a), str(a), "--baseline", "cuml"]) == 2
    assert "--baseline 'cuml'" in capsys.readouterr().err


# -- malformed input: one clear error, never AttributeError or TypeError ----------------------
def _bench(info=None, stats=None, name="test_kmeans"):
    cell = {k: v for k, v in rec("sklearn", "kmeans", 1000, 32, 1.0).items()
            if k in ("backend", "op", "n_samples", "dim", "k", "dtype", "max_iter")}
    return {"name": name, "extra_info": cell if info is None else info,
            "stats": {"median": 1.0} if stats is None else stats}


CELL = _bench()["extra_info"]


@pytest.mark.parametrize("benchmarks, message", [
    ([1, "x"], "benchmarks[0] is a JSON integer, not an object"),
    ([_bench(), None], "benchmarks[1] is a JSON null, not an object"),
    ([_bench(info=[1, 2])], "extra_info is a JSON list, not an object"),
    ([_bench(stats="fast")], "stats is a JSON string, not an object"),
    ([_bench(stats={"median": "fast"})], "median_s is 'fast'"),
    ([_bench(stats={"median": -0.5})], "median_s is -0.5"),
    ([_bench(stats={"median": float("nan")})], "median_s is nan"),
    ([_bench(stats={"median": True})], "median_s is True"),
    ([_bench(stats={"mean": 1.0})], "without stats.median"),
    ([_bench(stats={"median": 1.0, "data": "1,2"})], "times_s must be a list"),
    ([_bench(info={**CELL, "backend": ["sklearn"]})], "field 'backend' is a list"),
    ([_bench(info={**CELL, "n_samples": [1000]})], "field 'n_samples' is a list"),
    ([_bench(info={**CELL, "dim": "32"})], "field 'dim' is a string"),
    ([_bench(info={**CELL, "n_iter": {"a": 1}})], "field 'n_iter' is an object"),
    ([_bench(info={**CELL, "quality": "good"})], "field 'quality' is a string"),
    ([_bench(info={**CELL, "quality": {"inertia_ratio": "1.0"}})], "quality 'inertia_ratio' is a string"),
])
def test_malformed_pytest_benchmark_file(tmp_path, capsys, benchmarks, message):
    bad = tmp_path / "bench.json"
    bad.write_text(json.dumps({"benchmarks": benchmarks}))
    good = folder(tmp_path / "good", [rec("sklearn", "kmeans", 1000, 32, 2.0)])
    for argv in ([str(bad), str(good)], [str(good), str(bad)]):
        assert main(["compare", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("coc: error:") and err.count("\n") == 1 and message in err, err
        assert "bench.json: benchmarks[" in err


@pytest.mark.parametrize("line, message", [
    ('{"backend": "sklearn", \xe9}', "line 1: not UTF-8 text"),
    (json.dumps(rec(["sklearn"], "kmeans", 1000, 32, 1.0)), "field 'backend' is a list"),
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, "1 s")), "median_s is '1 s'"),
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, -1.0)), "median_s is -1.0"),
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, 1.0, reason=["x"])), "field 'reason' is a list"),
    (json.dumps({**rec("sklearn", "kmeans", 1000, 32, 1.0), "status": "great"}), "status 'great'"),
    ("[1, 2]", "a JSON list, not a record"),
    # quality is an object of numbers, with text only in note and error (the gate and the
    # table read it: a record that passed here once crashed them)
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, 1.0, quality="good")), "field 'quality' is a string"),
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, 1.0, quality=[1, 2])), "field 'quality' is a list"),
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, 1.0, quality={"inertia_ratio": [1]})),
     "quality 'inertia_ratio' is a list"),
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, 1.0, quality={"note": 3})), "quality 'note' is an integer"),
    (json.dumps(rec("sklearn", "kmeans", 1000, 32, 1.0, algorithm=["lloyd"])), "field 'algorithm' is a list"),
    # valid JSON that Python will not load: too many digits, too deep
    ('{"n_samples": ' + "1" * 5000 + "}", "a number with too many digits"),
    ("[" * 100_000, "nested too deeply"),
])
def test_malformed_results_jsonl(tmp_path, capsys, line, message):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.jsonl").write_bytes(line.encode("latin-1" if "\xe9" in line else "utf-8") + b"\n")
    good = folder(tmp_path / "good", [rec("sklearn", "kmeans", 1000, 32, 2.0)])
    for argv in ([str(good), str(bad)], [str(bad), str(good)], [str(good), str(bad), "--fail-above", "2"]):
        assert main(["compare", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("coc: error:") and err.count("\n") == 1 and message in err, err


def test_good_quality_fields_are_read(tmp_path, capsys):
    q = {"inertia_per_point": 1.5, "inertia_ratio": 1.0, "ari": None, "note": "no reference"}
    a = folder(tmp_path / "a", [rec("sklearn", "kmeans", 1000, 32, 2.0, quality=q)])
    b = folder(tmp_path / "b", [rec("sklearn", "kmeans", 1000, 32, 2.0, quality={**q, "inertia_per_point": 3.0})])
    assert main(["compare", str(a), str(b), "--fail-above", "2"]) == 1  # inertia doubled: gated
    assert "inertia_per_point 1.5 -> 3" in capsys.readouterr().err


def test_non_utf8_json_file(tmp_path, capsys):
    bad = tmp_path / "bench.json"
    bad.write_bytes(b'{"benchmarks": ["\xe9"]}')
    good = folder(tmp_path / "good", [rec("sklearn", "kmeans", 1000, 32, 2.0)])
    assert main(["compare", str(bad), str(good)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not UTF-8 text" in err


def test_same_run_twice_is_labelled_as_one_run(tmp_path, capsys):
    a = folder(tmp_path / "laptop", [rec("sklearn", "kmeans", 1000, 32, 2.0), rec("numpy", "kmeans", 1000, 32, 1.0)])
    for b in (a, a / "results.jsonl"):
        assert main(["compare", str(a), str(b)]) == 0
        first = capsys.readouterr().out.splitlines()[0]
        assert first == f"# laptop: one run against itself (A and B are both {a}), its backends side by side"
    other = folder(tmp_path / "elsewhere" / "laptop", [rec("sklearn", "kmeans", 1000, 32, 1.0)])
    assert main(["compare", str(a), str(other)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"# {a} (A) vs {other} (B)"  # one name, two runs: their paths tell them apart


def test_out_may_not_overwrite_an_input(tmp_path, capsys, monkeypatch):
    a = folder(tmp_path / "a", [rec("sklearn", "kmeans", 1000, 32, 2.0)])
    b = folder(tmp_path / "b", [rec("sklearn", "kmeans", 1000, 32, 1.0)])
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"benchmarks": [_bench()]}))
    (tmp_path / "link.jsonl").symlink_to(a / "results.jsonl")
    monkeypatch.chdir(tmp_path)
    before = {p: p.read_bytes() for p in (a / "results.jsonl", b / "results.jsonl", bench)}
    for argv in (["a", "b", "--out", "a/results.jsonl"], ["a", "b", "--out", "b/../b/results.jsonl"],
                 ["a", "b", "--out", "link.jsonl"], ["a", "bench.json", "--out", "bench.json", "--format", "json"],
                 ["a/results.jsonl", "b", "--out", str(a / "results.jsonl")]):
        assert main(["compare", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("coc: error: --out") and "input file" in err and err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in before} == before
    assert main(["compare", "a", "b", "--out", "a/table-vs-b.md"]) == 0  # beside it is fine
    assert "| kmeans |" in (a / "table-vs-b.md").read_text()
    # nor a file the sweep keeps beside it, by any name of the folder (an env.json overwritten
    # stopped the next sweep there from resuming)
    (a / "env.json").write_text("{}")
    capsys.readouterr()
    (tmp_path / "run.jsonl").symlink_to(a / "results.jsonl")  # an input by another name
    for argv in (["a", "b", "--out", "a/env.json"], ["a", "b", "--out", "b/../a/table.md"],
                 ["a", "b", "--out", str(b / "scaling.png")], ["a", "b", "--out", "a/./env.json"],
                 ["run.jsonl", "b", "--out", "a/env.json"], ["a", "b", "--out", "b/.lock"]):
        out = argv[-1]
        assert main(["compare", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"coc: error: --out {out}: ") and "belongs to the sweep" in err, err
    assert (a / "env.json").read_text() == "{}" and not (a / "table.md").exists()
    assert main(["compare", "a", "bench.json", "--out", "table.md"]) == 0  # no sweep in "."
    capsys.readouterr()
    # --out as the write resolves it: through a folder not made yet, or with a trailing slash;
    # and a sweep folder whose results.jsonl links elsewhere keeps its own files
    c = tmp_path / "c"
    c.mkdir()
    (c / "results.jsonl").symlink_to(tmp_path / "link.jsonl")
    for argv, why in ((["a", "b", "--out", "a/new/../results.jsonl"], "input file"),
                      (["bench.json", "b", "--out", "new/../bench.json"], "input file"),
                      (["a", "b", "--out", "a/new/../env.json"], "belongs to the sweep"),
                      (["a", "b", "--out", "a/env.json/"], "belongs to the sweep"),
                      (["c", "b", "--out", "c/env.json"], "belongs to the sweep"),
                      (["c/results.jsonl", "b", "--out", "c/table.md"], "belongs to the sweep")):
        assert main(["compare", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"coc: error: --out {argv[3]}: ") and why in err, err
    assert main(["compare", "a", "b", "--out", "a/new/../vs.md"]) == 0  # legitimate: written
    assert "| kmeans |" in (a / "vs.md").read_text()
    assert not (a / "new").exists() and not (tmp_path / "new").exists()  # and nothing made for it
    assert (a / "env.json").read_text() == "{}" and not (c / "env.json").exists()
    assert {p: p.read_bytes() for p in before} == before


def test_out_to_a_fifo_is_written_into_not_replaced(tmp_path, capsys):
    # a FIFO (or /dev/null, /dev/stdout) cannot be replaced by a renamed file: it is written into
    import threading

    a = folder(tmp_path / "a", [rec("sklearn", "kmeans", 1000, 32, 2.0)])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    # (a daemon: were the FIFO replaced, its reader would wait for a writer forever)
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    assert main(["compare", str(a), str(a), "--out", str(fifo)]) == 0
    reader.join(timeout=10)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and "| kmeans |" in got[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "fifo"]  # no temporary file left


def test_out_is_written_before_a_reader_closes_stdout(tmp_path):
    # `coc compare A B --out F | head`: F must not be lost when the table fills the pipe
    a = folder(tmp_path / "a", [rec("sklearn", "kmeans", n, 32, 2.0) for n in range(1000, 400_000, 1000)])
    out = tmp_path / "table.json"
    proc = subprocess.Popen([sys.executable, "-m", "coc", "compare", str(a), str(a), "--format", "json",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err
    assert len(json.loads(out.read_text())["rows"]) == 399
