"""Commands with several outputs: checked before the work, written all or none, umask modes.

``coc experiment`` (experiment.json, .md, tsne.png) and ``coc phase`` (phase.png, .json)
through the real command line; the unprivileged cases as the ``nobody`` user.
"""
import json
import os
import shutil
import stat

import pytest
from threadpoolctl import threadpool_limits

from coc.cli import main

TINY = ["--n-samples", "60", "--dim", "4", "--ks", "2,3", "--stds", "0.1", "--perplexity", "5",
        "--no-progress"]
EXPERIMENT = ("experiment.json", "experiment.md", "tsne.png")


def one_error(capsys, status, *parts):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("coc: error:"), captured.err
    for part in parts:
        assert part in lines[0], lines[0]
    assert captured.out == ""  # refused before the work: no table was printed
    return lines[0]


def experiment(*argv):
    # One OpenMP thread: on a busy shared CPU scikit-learn's spinning t-SNE threads crawl.
    with threadpool_limits(limits=1):
        return main(["experiment", *TINY, *argv])


@pytest.fixture(scope="module")
def seed0(tmp_path_factory):
    """A finished experiment (seed 0), written under umask 027."""
    out = tmp_path_factory.mktemp("exp") / "seed0"
    old = os.umask(0o027)
    try:
        assert experiment("--out", str(out)) == 0
    finally:
        os.umask(old)
    return out


def test_experiment_outputs_take_the_umask_and_keep_a_replaced_mode(tmp_path, seed0, capsys):
    assert {stat.S_IMODE((seed0 / n).stat().st_mode) for n in EXPERIMENT} == {0o640}
    out = tmp_path / "exp"
    shutil.copytree(seed0, out)
    old = os.umask(0o022)
    try:
        os.chmod(out / "experiment.md", 0o666)
        assert experiment("--seed", "3", "--out", str(out)) == 0
        assert stat.S_IMODE((out / "experiment.md").stat().st_mode) == 0o666
        assert stat.S_IMODE((out / "experiment.json").stat().st_mode) == 0o640
    finally:
        os.umask(old)
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPERIMENT)
    assert "seed 3" in (out / "experiment.md").read_text()


@pytest.mark.parametrize("blocked", EXPERIMENT)
def test_experiment_with_a_folder_in_the_way_keeps_every_old_output(tmp_path, seed0, capsys, blocked):
    out = tmp_path / "exp"
    shutil.copytree(seed0, out)
    old = {n: (out / n).read_bytes() for n in EXPERIMENT if n != blocked}
    (out / blocked).unlink()
    (out / blocked).mkdir()
    capsys.readouterr()
    one_error(capsys, experiment("--seed", "7", "--out", str(out)), "--out", blocked,
              "is a folder")
    assert {n: (out / n).read_bytes() for n in old} == old  # seed 0's outputs, all of them
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPERIMENT)  # no temporary file left


@pytest.mark.parametrize("command", ["experiment", "phase"])
@pytest.mark.parametrize("out", ["/proc/coc-x", "/proc/self/coc/y"])
def test_unwritable_out_is_refused_before_the_work(capsys, command, out):
    argv = [command, *(TINY if command == "experiment" else ["--stds", "0.1", "--no-progress"]), "--out", out]
    one_error(capsys, main(argv), "--out /proc")


@pytest.mark.parametrize("blocked", ["phase.png", "phase.json"])
def test_phase_with_a_folder_in_the_way(tmp_path, capsys, blocked):
    (tmp_path / blocked).mkdir()
    one_error(capsys, main(["phase", "--stds", "0.1", "--no-progress", "--out", str(tmp_path)]), blocked,
              "is a folder")
    assert [p.name for p in tmp_path.iterdir()] == [blocked]


@pytest.mark.parametrize("command", ["experiment", "phase"])
@pytest.mark.parametrize("seed", ["-1", "4294967296", "1.5", "seven"])
def test_bad_seed_is_one_line(tmp_path, capsys, command, seed):
    one_error(capsys, main([command, "--seed", seed, "--out", str(tmp_path / "o")]), "--seed")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("n_null", ["1", "0", "-3"])
def test_phase_refuses_too_few_null_draws_before_the_work(tmp_path, capsys, n_null):
    one_error(capsys, main(["phase", "--n-null", n_null, "--out", str(tmp_path / "o")]), "--n-null")
    assert not (tmp_path / "o").exists()


def test_experiment_in_a_folder_nobody_may_write(shared_dir, as_nobody):
    ro = shared_dir / "ro"
    ro.mkdir()
    (ro / "experiment.json").write_text(json.dumps({"seed": 0}))
    os.chmod(ro, 0o755)
    for out in (ro, ro / "sub"):
        result = as_nobody(["-m", "coc", "experiment", *TINY, "--out", str(out)], cwd=shared_dir)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith("coc: error: --out") and "permission denied" in lines[0]
        assert result.stdout == ""
    assert [p.name for p in ro.iterdir()] == ["experiment.json"]
