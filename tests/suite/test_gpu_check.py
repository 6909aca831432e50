"""bench/gpu_check.sh: parts run alone, each packed into OUT as it finishes (rehearsed with numpy)."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_check(out, work, *parts, **env):
    env = {**os.environ, "COC_GPU_BACKEND": "numpy", "COC_CHECK_WORK": str(work),
           "COC_FLOORS_ARGS": "--n-matmul 128 --copy-mib 4",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(out), *parts],
                          capture_output=True, text=True, env=env, timeout=120)


def test_one_part_alone_is_packed_with_its_status(tmp_path):
    out = tmp_path / "out"
    r = run_check(out, tmp_path / "work", "b")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["b.tar.gz", "status.txt"]
    assert (out / "status.txt").read_text().startswith("b rc=0 ")
    with tarfile.open(out / "b.tar.gz") as tar:
        floors = json.load(tar.extractfile("b/floors.json"))
    assert floors["backend"] == "numpy" and floors["matmul_flops_per_s"] > 0


def test_a_part_over_its_timeout_is_packed_and_reported(tmp_path):
    out = tmp_path / "out"
    r = run_check(out, tmp_path / "work", "c", COC_T_C="1")
    assert r.returncode == 1
    assert (out / "status.txt").read_text().startswith("c rc=124 ")
    with tarfile.open(out / "c.tar.gz") as tar:
        assert "c/experiment.log" in tar.getnames()


def test_an_unknown_part_runs_nothing(tmp_path):
    r = run_check(tmp_path / "out", tmp_path / "work", "b", "x")
    assert r.returncode == 2 and "unknown part 'x'" in r.stderr
    assert not (tmp_path / "out" / "status.txt").exists()
