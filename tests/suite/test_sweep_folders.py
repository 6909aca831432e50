"""A sweep's result folder under faults: a second sweep, signals, damaged files, permissions.

Real folders on disk and real ``python -m coc sweep`` subprocesses. Each fault is one
``coc: error:`` line (exit 2) before any cell runs, saying how to recover, and leaves the
folder as it was.
"""
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coc.cli import main

REPO = str(Path(__file__).resolve().parents[2])
TINY = ["--backends", "sklearn", "--ops", "generate,kmeans", "--n-samples", "100,200", "--dims", "4",
        "--repeats", "1", "--no-progress"]
LONG = ["--backends", "sklearn,numpy", "--ops", "generate,kmeans", "--n-samples",
        ",".join(str(100 + 10 * i) for i in range(6)), "--dims", "4", "--repeats", "2", "--no-progress"]
N_LONG = 2 * 2 * 6
HOLD = """
import sys
from coc.io.lock import FolderLock
with FolderLock(sys.argv[1], name=".lock", what="coc sweep"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def coc(*args, **kwargs):
    """``python -m coc ARGS`` in a subprocess (locks, signals and users need a real process)."""
    return subprocess.run([sys.executable, "-m", "coc", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": REPO}, timeout=300, **kwargs)


def coc_here(*args):
    """``coc ARGS`` in this process (damaged files need no other process, and it is faster)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def one_error(result, *parts):
    """Exit 2, one ``coc: error:`` line holding every part, nothing on stdout."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("coc: error:"), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file() and p.name != ".lock"}


def keys(folder):
    lines = (Path(folder) / "results.jsonl").read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    return [(r["backend"], r["op"], r["n_samples"]) for r in recs]


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    """A finished tiny sweep, copied by each test that damages it."""
    out = tmp_path_factory.mktemp("sweeps") / "run"
    assert coc_here("sweep", *TINY, "--out", out).returncode == 0
    return out


@pytest.fixture
def run(done_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name, data in snapshot(done_run).items():
        (out / name).write_bytes(data)
    return out


# -- one sweep per folder ----------------------------------------------------------------------
def test_second_sweep_on_a_locked_folder_exits_2_naming_the_holder(run):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": REPO})
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(run)
        line = one_error(coc("sweep", *TINY, "--out", run), "in use by another coc sweep",
                         f"pid {holder.pid} on ", "another --out")
        assert snapshot(run) == before, line
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert coc("sweep", *TINY, "--out", run).returncode == 0  # free again


def _start_long_sweep(out):
    """A ``coc sweep`` of the LONG cells into ``out``, running in the background."""
    return subprocess.Popen([sys.executable, "-m", "coc", "sweep", *LONG, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": REPO})


def test_two_real_sweeps_at_once_never_duplicate_a_cell(tmp_path):
    out = tmp_path / "run"
    first = _start_long_sweep(out)
    lock = out / ".lock"
    for _ in range(600):
        if lock.exists() and lock.read_text().startswith("pid"):
            break
        time.sleep(0.05)
    second = coc("sweep", *LONG, "--out", out)
    first.communicate(timeout=300)
    assert first.returncode == 0
    if second.returncode == 2:  # the first still ran: the second must have said who holds it
        one_error(second, f"pid {first.pid} on ")
    else:  # the first had already finished: the second found every cell done
        assert second.returncode == 0 and "ran 0 cells" in second.stderr
    k = keys(out)
    assert len(k) == len(set(k)) == N_LONG


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_sweep_frees_the_folder_and_resumes(tmp_path, sig):
    out = tmp_path / "run"
    proc = _start_long_sweep(out)
    results = out / "results.jsonl"
    for _ in range(1200):
        if results.exists() and results.stat().st_size > 0:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    if sig == signal.SIGINT and proc.returncode != 0:
        assert proc.returncode == 130
    again = coc("sweep", *LONG, "--out", out)
    assert again.returncode == 0, again.stderr
    k = keys(out)
    assert len(k) == len(set(k)) == N_LONG


# -- damaged files: one error before any cell, saying how to recover -----------------------------
def test_record_missing_a_field(run):
    lines = (run / "results.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    del rec["status"]
    lines[1] = json.dumps(rec)
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    before = snapshot(run)
    one_error(coc_here("sweep", *TINY, "--out", run), "results.jsonl line 2", "no 'status' field",
              "remove that line")
    assert snapshot(run) == before


@pytest.mark.parametrize("value,expected", [('["sklearn"]', "field 'backend' is a list"),
                                            ('"sklearn", "median_s": "fast"', "median_s is 'fast'"),
                                            ('"sklearn", "median_s": -1.0', "median_s is -1.0")])
def test_record_with_a_field_of_the_wrong_type(run, value, expected):
    lines = (run / "results.jsonl").read_text().splitlines()
    if "median_s" in value:
        lines[0] = lines[0].replace('"median_s": ', '"median_old": ', 1)
    lines[0] = lines[0].replace('"backend": "sklearn"', f'"backend": {value}', 1)
    (run / "results.jsonl").write_text("\n".join(lines) + "\n")
    before = snapshot(run)
    one_error(coc_here("sweep", *TINY, "--out", run), "results.jsonl line 1", expected, "remove that line")
    assert snapshot(run) == before


@pytest.mark.parametrize("content,expected", [
    (b'{"op": "kmeans", \xff\xfe}\n', "line 3: not UTF-8 text"),
    (b"garbage\n", "line 3: not a JSON record"),
    (b"[1, 2]\n", "line 3: a JSON list, not a record"),
])
def test_bad_line_in_the_middle(run, content, expected):
    data = (run / "results.jsonl").read_bytes().splitlines(keepends=True)
    (run / "results.jsonl").write_bytes(b"".join(data[:2]) + content + b"".join(data[2:]))
    before = snapshot(run)
    one_error(coc_here("sweep", *TINY, "--out", run), expected, "remove that line")
    assert snapshot(run) == before


@pytest.mark.parametrize("content,expected", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2, 3]", "a JSON list, not an object"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b'{"runs": 5}', "'runs' must be a list"),
])
def test_corrupt_env_json(run, content, expected):
    (run / "env.json").write_bytes(content)
    before = snapshot(run)
    one_error(coc_here("sweep", *TINY, "--out", run), "env.json", expected, "move it away")
    assert snapshot(run) == before


def test_read_only_results_file(run):
    os.chmod(run / "results.jsonl", 0o444)
    before = snapshot(run)
    one_error(coc_here("sweep", *TINY, "--out", run), "results.jsonl is read-only", "chmod u+w")
    assert snapshot(run) == before
    os.chmod(run / "results.jsonl", 0)  # the advice gives back what a resume needs: both bits
    one_error(coc_here("sweep", *TINY, "--out", run), "neither readable nor writable (mode 000)",
              "chmod u+rw")
    os.chmod(run / "results.jsonl", 0o644)


def test_results_file_nobody_may_write(shared_dir, as_nobody, done_run):
    out = shared_dir / "run"
    out.mkdir()
    os.chmod(out, 0o777)  # the folder is open to all; the files in it are root's 0644
    for name, data in snapshot(done_run).items():
        (out / name).write_bytes(data)
    before = snapshot(out)
    one_error(as_nobody(["-m", "coc", "sweep", *TINY, "--out", str(out)], cwd=shared_dir),
              "results.jsonl: cannot append (permission denied)")
    assert snapshot(out) == before


def test_folder_nobody_may_write(shared_dir, as_nobody):
    ro = shared_dir / "ro"
    ro.mkdir()
    os.chmod(ro, 0o755)
    one_error(as_nobody(["-m", "coc", "sweep", *TINY, "--out", str(ro / "run")], cwd=shared_dir),
              "--out", "permission denied")
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize("out", ["/proc/coc-sweep", "/proc/self/coc/x"])
def test_out_under_proc(out):
    one_error(coc_here("sweep", *TINY, "--out", out), "--out /proc")


@pytest.mark.parametrize("name", ["table.md", "scaling.png"])
def test_report_path_taken_by_a_folder_is_refused_before_any_cell(tmp_path, name):
    out = tmp_path / "run"
    (out / name).mkdir(parents=True)
    one_error(coc_here("sweep", *TINY, "--out", out), name, "is a folder")
    assert not (out / "results.jsonl").exists()


def test_cut_last_line_is_repaired_with_one_notice(run):
    data = (run / "results.jsonl").read_bytes()
    cut = data[:-40]  # the last record loses its end (and its newline)
    (run / "results.jsonl").write_bytes(cut)
    result = coc_here("sweep", *TINY, "--out", run)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("cut short") == 1
    whole = [json.loads(x) for x in data.decode().splitlines()]
    again = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]  # every line whole
    assert [(r["op"], r["n_samples"]) for r in again] == [(r["op"], r["n_samples"]) for r in whole]
    assert again[:-1] == whole[:-1]  # the complete records kept as they were; the cut cell ran again
    assert "cut short" not in coc_here("sweep", *TINY, "--out", run).stderr


def test_help_shows_defaults_and_how_to_rerun():
    result = coc("sweep", "--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    assert "(default: smoke)" in text and "(default: the profile's)" in text
    assert "never run again" in text and "--retry-failed" in text and "new --out" in text


def test_sweep_as_nobody_after_roots_lock(shared_dir, as_nobody):
    """A lock file left by another user is shared, not a wall: flock works read-only."""
    out = shared_dir / "run"
    out.mkdir()
    os.chmod(out, 0o777)
    (out / ".lock").write_text("")
    os.chmod(out / ".lock", 0o644)  # root's
    result = as_nobody(["-m", "coc", "sweep", *TINY, "--out", str(out)], cwd=shared_dir)
    assert result.returncode == 0, result.stderr
    assert len(keys(out)) == 4
