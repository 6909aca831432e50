"""The command line end to end: the experiment at a small size, and one-line errors."""
import json
import os
import subprocess
import sys

import pytest

from coc.cli import main

SMALL = ["--n-samples", "200", "--dim", "8", "--ks", "2,10", "--perplexity", "10", "--no-progress"]


def test_experiment_writes_table_json_markdown_and_picture(tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["experiment", *SMALL, "--seed", "1", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "| scenario | k=2 | k=10 | best k |" in stdout
    for name in ("uniform", "blobs-0.01", "blobs-0.3", "blobs-0.4", "blobs-0.5"):
        assert f"| {name} |" in stdout
    doc = json.loads((out / "experiment.json").read_text())
    assert {(r["scenario"], r["k"]) for r in doc["rows"]} == {
        (s, k) for s in ("uniform", "blobs-0.01", "blobs-0.3", "blobs-0.4", "blobs-0.5") for k in (2, 10)
    }
    assert all({"scenario", "k", "silhouette"} <= set(r) for r in doc["rows"])
    assert doc["best_k"]["blobs-0.01"] == 10
    assert "| blobs-0.01 |" in (out / "experiment.md").read_text()
    png = (out / "tsne.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["experiment.json", "experiment.md", "tsne.png"]


def test_python_dash_m_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "coc", "backends"], capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["sklearn", "numpy", "cupy", "cuml"]
    assert lines[0].split()[1] == "available"


BAD = [
    (["experiment", "--ks", "1"], "n_clusters (k) must be an integer >= 2"),
    (["experiment", "--ks", "2,1000"], "must be < n_samples"),
    (["experiment", "--n-samples", "1"], "n_samples must be"),
    (["experiment", "--dim", "0"], "dim must be"),
    (["experiment", "--stds", "-0.3"], "std must be"),
    (["experiment", "--stds", "0.1,1e200"], "std 1e+200: blobs this wide overflow float32"),
    (["experiment", "--stds", "1e40", "--dim", "4"], "std 1e+40: blobs this wide overflow float32"),  # t-SNE segfaulted
    (["experiment", "--n-samples", "25", "--ks", "2"], "perplexity must be < n_samples"),
    (["experiment", "--backend", "cupi"], "unknown backend 'cupi'"),
    (["experiment", "--ks", "two"], "expected comma-separated integers"),
    (["experiment", "--bogus"], "unrecognized arguments"),
    (["nope"], "invalid choice"),
]


@pytest.mark.parametrize("argv, message", BAD)
def test_user_mistake_is_one_line_exit_2_nothing_written(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    status = main([*argv, "--out", str(out), "--no-progress"] if argv[0] == "experiment" else argv)
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("coc: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not out.exists()


def test_gpu_backend_without_gpu_is_a_one_line_error(tmp_path, capsys):
    import coc

    if coc.available_backends()["cupy"] is None:
        pytest.skip("this machine has a CUDA GPU with CuPy")
    assert main(["experiment", "--backend", "gpu", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coc: error: backend 'cupy' is not available here") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_no_traceback_from_the_installed_command(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "coc", "experiment", "--ks", "0", "--out", str(tmp_path / "o")],
        capture_output=True, text=True,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("coc: error:") and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_unwritable_out_is_refused_before_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["experiment", *SMALL, "--out", str(blocker / "sub")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_closed_or_full_stdout_is_no_traceback(tmp_path):
    # a reader that left (coc ... | head): quiet, status 141 as a tool killed by SIGPIPE
    proc = subprocess.Popen([sys.executable, "-m", "coc", "backends"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err
    # started with stdout closed (`coc backends >&-`): Python has no sys.stdout at all and
    # would drop the table silently; as a Unix tool, coc says so. Files are written first, and
    # a user's mistake is still reported as itself.
    closed = "coc: error: cannot write to standard output (Bad file descriptor)\n"
    done = subprocess.run(f"{sys.executable} -m coc backends >&-", shell=True, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == closed, done.stderr
    done = subprocess.run(f"{sys.executable} -m coc experiment {' '.join(SMALL)} "
                          f"--out {tmp_path / 'o'} >&-", shell=True, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    assert done.returncode == 2 and done.stderr == closed, done.stderr
    assert json.loads((tmp_path / "o" / "experiment.json").read_text())
    done = subprocess.run(f"{sys.executable} -m coc experiment --ks 0 >&-", shell=True,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("coc: error: n_clusters (k) must be"), done.stderr
    if not os.path.exists("/dev/full"):
        return  # (Linux has one; the closed pipe above is the case every system has)
    # a full device: one line
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "coc", "backends"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "coc: error: cannot write to standard output (No space left on device)\n"


def test_analyze_errors_name_the_file(tmp_path, capsys):
    import numpy as np

    path = tmp_path / "huge.npy"
    np.save(path, np.full((20, 3), 3e38, dtype=np.float32))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"coc: error: {path}: values up to 3e+38") and err.count("\n") == 1, err
    assert "overflow float32" in err  # the data's own dtype: float32 data are analyzed in float32
