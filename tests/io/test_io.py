"""coc.io.outputs: atomic outputs, several at once all or nothing, umask modes, early path checks.

Real files on disk; permission cases run as the ``nobody`` user (tests run as root, who may
write anywhere).
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from coc.io import outputs as _io
from coc.io.outputs import (
    atomic_write_bytes,
    check_outputs_writable,
    check_writable_dir,
    current_umask,
    new_file_mode,
    write_outputs,
)
from coc.utils.validation import CocError

REPO = str(Path(__file__).resolve().parents[2])


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _hidden(folder):
    """Temporary or backup files left behind (every staged file is hidden)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda value: os.umask(value)
    os.umask(old)


# -- modes -----------------------------------------------------------------------------------
def test_current_umask_reads_without_changing(umask):
    umask(0o027)
    assert current_umask() == 0o027
    assert current_umask() == 0o027  # reading did not change it
    umask(0o002)
    assert current_umask() == 0o002


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664), (0, 0o666)])
def test_new_files_take_the_umask_mode(tmp_path, umask, mask, expected):
    umask(mask)
    assert new_file_mode() == expected
    write_outputs({tmp_path / "a.json": b"{}", tmp_path / "b.md": "text"})
    assert _mode(tmp_path / "a.json") == expected
    assert _mode(tmp_path / "b.md") == expected
    # the same mode as a file Python itself creates under that umask
    (tmp_path / "ref").write_text("x")
    assert _mode(tmp_path / "ref") == expected


@pytest.mark.parametrize("mode", [0o666, 0o640, 0o600, 0o444])
def test_replaced_file_keeps_its_mode(tmp_path, umask, mode):
    umask(0o077)
    path = tmp_path / "r.json"
    path.write_text("old")
    os.chmod(path, mode)
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert _mode(path) == mode
    assert _hidden(tmp_path) == []


def test_umask_of_a_subprocess(tmp_path):
    code = ("import os; os.umask(0o007); from coc.io.outputs import atomic_write_text; "
            f"atomic_write_text({str(tmp_path / 'x.txt')!r}, 'hi')")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": REPO})
    assert _mode(tmp_path / "x.txt") == 0o660


# -- all or nothing --------------------------------------------------------------------------
def _old_outputs(folder):
    outs = {folder / "experiment.json": b'{"seed": 0}', folder / "experiment.md": b"seed 0",
            folder / "tsne.png": b"PNG0"}
    for path, data in outs.items():
        path.write_bytes(data)
    return outs


def _new_outputs(folder):
    return {folder / "experiment.json": b'{"seed": 7}', folder / "experiment.md": "seed 7",
            folder / "tsne.png": lambda f: f.write(b"PNG7")}


def test_all_outputs_written(tmp_path):
    old = _old_outputs(tmp_path)
    written = write_outputs(_new_outputs(tmp_path))
    assert written == list(old)
    assert (tmp_path / "experiment.json").read_bytes() == b'{"seed": 7}'
    assert (tmp_path / "experiment.md").read_bytes() == b"seed 7"
    assert (tmp_path / "tsne.png").read_bytes() == b"PNG7"
    assert _hidden(tmp_path) == []


def test_folder_in_the_way_leaves_every_old_file(tmp_path):
    old = _old_outputs(tmp_path)
    os.unlink(tmp_path / "experiment.json")
    (tmp_path / "experiment.json").mkdir()
    del old[tmp_path / "experiment.json"]
    with pytest.raises(CocError, match=r"experiment\.json \(--out\): is a folder"):
        write_outputs(_new_outputs(tmp_path))
    for path, data in old.items():
        assert path.read_bytes() == data
    assert _hidden(tmp_path) == []


def test_writer_that_fails_replaces_nothing(tmp_path):
    old = _old_outputs(tmp_path)

    def broken(f):
        f.write(b"half")
        raise RuntimeError("savefig failed")

    outs = _new_outputs(tmp_path)
    outs[tmp_path / "tsne.png"] = broken
    with pytest.raises(RuntimeError, match="savefig failed"):
        write_outputs(outs)
    for path, data in old.items():
        assert path.read_bytes() == data
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("fail_at", [0, 1, 2])
@pytest.mark.parametrize("existed", [True, False])
def test_rename_failing_midway_restores_the_old_files(tmp_path, monkeypatch, fail_at, existed):
    old = _old_outputs(tmp_path) if existed else {}
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        if str(src).endswith(".tmp"):
            calls.append(dst)
            if len(calls) == fail_at + 1:
                raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(_io.os, "replace", flaky_replace)
    with pytest.raises(CocError, match="no space left on device; the previous files were left in place"):
        write_outputs(_new_outputs(tmp_path))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in old)
    for path, data in old.items():
        assert path.read_bytes() == data
    assert _hidden(tmp_path) == []


def test_per_path_options_are_named(tmp_path):
    (tmp_path / "labels.csv").mkdir()
    with pytest.raises(CocError, match="--labels-out"):
        write_outputs({tmp_path / "fig.png": b"x", tmp_path / "labels.csv": b"y"},
                      option={tmp_path / "fig.png": "--plot", tmp_path / "labels.csv": "--labels-out"})
    assert not (tmp_path / "fig.png").exists()


# -- checks before the work ------------------------------------------------------------------
def test_check_outputs_writable_names_the_option(tmp_path):
    (tmp_path / "fig.png").mkdir()
    with pytest.raises(CocError, match=r"^--plot .*fig\.png: is a folder"):
        check_outputs_writable([tmp_path / "fig.png"], option="--plot")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CocError, match=r"^--labels-out .*afile exists and is not a folder"):
        check_outputs_writable({tmp_path / "afile" / "labels.csv": "--labels-out"})
    ok = check_outputs_writable([tmp_path / "new" / "deeper" / "x.json"])
    assert [p.name for p in ok] == ["x.json"]
    assert not (tmp_path / "new").exists()  # checking creates nothing
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("target", ["/proc/x", "/proc/self/x/y", "/proc/version/x"])
def test_unwritable_file_systems_are_refused_early(target):
    with pytest.raises(CocError, match=r"^--out /proc"):
        check_writable_dir(target)
    with pytest.raises(CocError, match=r"^--out /proc"):
        check_outputs_writable([target + "/out.json"])


def test_symlink_loop_in_the_path(tmp_path):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(CocError, match="symlink loop"):
        check_outputs_writable([tmp_path / "loop" / "x.json"])


_AS_NOBODY = """
import sys
from coc.io.outputs import check_outputs_writable, check_writable_dir, write_outputs
from coc.utils.validation import CocError
folder = sys.argv[1]
for call in (lambda: check_writable_dir(folder + "/sub"),
             lambda: check_outputs_writable([folder + "/x.json"], option="--plot"),
             lambda: write_outputs({folder + "/x.json": b"new", folder + "/y.md": b"new"})):
    try:
        call()
        print("no error")
    except CocError as e:
        print(e)
"""


def test_read_only_folder_as_nobody(shared_dir, as_nobody):
    ro = shared_dir / "ro"
    ro.mkdir()
    (ro / "x.json").write_bytes(b"old")
    os.chmod(ro, 0o755)  # owned by root: nobody may read, not write
    result = as_nobody(["-c", _AS_NOBODY, str(ro)], cwd=shared_dir)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stderr
    assert len(lines) == 3, result.stdout
    assert lines[0].startswith("--out ") and "permission denied" in lines[0]
    assert lines[1].startswith("--plot ") and "permission denied" in lines[1]
    assert "permission denied" in lines[2]
    assert (ro / "x.json").read_bytes() == b"old"
    assert sorted(p.name for p in ro.iterdir()) == ["x.json"]


# -- one writer per folder -------------------------------------------------------------------
_HOLD = """
import sys, time
from coc.io.lock import FolderLock
with FolderLock(sys.argv[1], what="coc sweep"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_folder_lock_refuses_a_second_process_and_names_the_holder(tmp_path):
    from coc.io.lock import FolderLock

    env = {**os.environ, "PYTHONPATH": REPO}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CocError, match=rf"in use by another coc sweep \(pid {holder.pid} on "):
            FolderLock(tmp_path, what="coc sweep").acquire()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with FolderLock(tmp_path) as lock:  # free once the holder is gone
        assert lock.path.exists()


def test_folder_lock_is_freed_when_the_holder_is_killed(tmp_path):
    from coc.io.lock import FolderLock

    env = {**os.environ, "PYTHONPATH": REPO}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=30)
    with FolderLock(tmp_path):
        pass


def test_checkpoint_keeps_steps_and_drops_a_cut_line(tmp_path):
    from coc.io.checkpoint import Checkpoint

    cp = Checkpoint(tmp_path / "out", "job", {"seed": 1, "stds": (0.1, 0.2)})
    assert cp.done == {}
    cp.put("a", {"x": 1.5})
    cp.put("b", [1, 2])
    cp._file.write('{"step": "c", "val')  # a write cut short by a kill
    cp._file.close()
    again = Checkpoint(tmp_path / "out", "job", {"seed": 1, "stds": [0.1, 0.2]})
    assert again.done == {"a": {"x": 1.5}, "b": [1, 2]}
    again.put("c", 3)  # the file is rewritten whole: the cut line is gone
    assert Checkpoint(tmp_path / "out", "job", {"seed": 1, "stds": [0.1, 0.2]}).done == {"a": {"x": 1.5}, "b": [1, 2], "c": 3}
    assert Checkpoint(tmp_path / "out", "job", {"seed": 2, "stds": [0.1, 0.2]}).done == {}  # another config
    again.finish()
    assert not again.path.exists()
    again.path.write_bytes(b"\xff garbage")
    assert Checkpoint(tmp_path / "out", "job", {"seed": 1}).done == {}
    if os.path.exists("/dev/full"):  # a full disk: one error naming the file, not stdout's
        full = Checkpoint(tmp_path / "out", "job", {"seed": 1})
        full.put("a", 1)
        full._file.close()
        full._file = open("/dev/full", "w", encoding="utf-8")
        with pytest.raises(CocError, match=r"\.job\.partial\.jsonl: cannot keep a finished step \(no space"):
            full.put("b", "x" * 10_000)
        full._file = None


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux's /proc/self/fd")
def test_streams_are_written_into_last_and_links_to_descriptors_too(tmp_path, monkeypatch):
    # /dev/stdout is a link to /proc/self/fd/1: whatever fd 1 is (a pipe, a file), it is
    # written into, and the link stays a link. Here two such links of our own.
    r, w = os.pipe()
    held = open(tmp_path / "held.txt", "ab")
    held.write(b"printed before\n")  # kept: a stream is appended to
    held.flush()
    try:
        pipe_out, file_out = tmp_path / "to-pipe", tmp_path / "to-file"
        pipe_out.symlink_to(f"/proc/self/fd/{w}")
        file_out.symlink_to(f"/proc/self/fd/{held.fileno()}")
        (tmp_path / "report.md").write_text("old")
        outputs = {pipe_out: b"to the pipe\n", file_out: b"to the file\n", tmp_path / "report.md": "new"}
        # a rename that fails: the files are put back and no stream was written yet
        monkeypatch.setattr(_io.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(28, "full")))
        with pytest.raises(CocError, match="report.md"):
            write_outputs(outputs)
        monkeypatch.undo()
        os.set_blocking(r, False)
        with pytest.raises(BlockingIOError):
            os.read(r, 100)  # nothing reached the pipe
        assert (tmp_path / "report.md").read_text() == "old"
        write_outputs(outputs)
        held.flush()
        assert os.read(r, 100) == b"to the pipe\n"
        assert (tmp_path / "held.txt").read_bytes() == b"printed before\nto the file\n"
        assert pipe_out.is_symlink() and file_out.is_symlink()
        assert (tmp_path / "report.md").read_text() == "new"
        assert _hidden(tmp_path) == []
    finally:
        held.close()
        os.close(r)
        os.close(w)
