"""Shared fixtures: array namespaces and backends, skipping with the reason where one cannot run."""
import os
from pathlib import Path

import numpy as np
import pytest

import coc
from coc.testing import StrictArray, StrictNamespace, strict_namespace

#: The checkout under test: subprocesses import coc from here.
REPO = str(Path(__file__).resolve().parents[1])


def backend_or_skip(name):
    reason = coc.available_backends()[name]
    if reason is not None:
        pytest.skip(f"backend {name!r} cannot run here: {reason}")
    return coc.get_backend(name)


def to_host(a):
    """A NumPy copy of a NumPy, CuPy or strict-namespace array (tests compare on the host)."""
    if isinstance(a, StrictArray) or type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


@pytest.fixture(params=["numpy", "strict", "cupy"])
def xp(request):
    """The kernels' array namespace: NumPy; coc.testing's strict namespace (CuPy's API and
    host-sync rules on NumPy, so the GPU path runs in CI); CuPy where a CUDA device is usable."""
    if request.param == "numpy":
        return np
    if request.param == "strict":
        return strict_namespace()
    return backend_or_skip("cupy").xp


def skip_heavy_strict(xp, heavy=True):
    """Skip a slow case under the strict namespace: its calls are covered by the small cases,
    and the strict runs must stay within a minute of CI time."""
    if heavy and isinstance(xp, StrictNamespace):
        pytest.skip("large case: the strict namespace runs the same calls in the small cases")


@pytest.fixture
def sklearn_backend():
    return coc.get_backend("sklearn")


@pytest.fixture
def shared_dir():
    """A world-writable temporary folder that the ``nobody`` user can reach (tmp_path is 0700)."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="coc-test-")
    os.chmod(folder, 0o777)
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def as_nobody():
    """Run ``python -m coc ...`` (or any python code) as the unprivileged ``nobody`` user.

    Tests run as root, which may write anywhere; permission errors need an ordinary user.
    Skips with the reason where that cannot work (not root, no setpriv, no such user).
    """
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0:
        pytest.skip("permission tests switch to the nobody user, which needs root")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("permission tests need setpriv (util-linux) to run as nobody")
    prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run(prefix + [sys.executable, "-c", "import numpy, coc"], capture_output=True,
                           env={**os.environ, "PYTHONPATH": REPO}, cwd="/")
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this Python and coc: {probe.stderr.decode()[-200:]}")

    def run(args, *, cwd):
        # nobody's home is root's here: matplotlib would warn that it cannot make its cache there.
        env = {**os.environ, "PYTHONPATH": REPO, "HOME": str(cwd), "MPLCONFIGDIR": str(cwd)}
        return subprocess.run(prefix + [sys.executable, *args], capture_output=True, text=True,
                              env=env, cwd=cwd, timeout=120)
    return run


@pytest.fixture
def coc_cmd():
    """``coc_cmd(args, cwd=, env=)``: ``python -m coc ARGS`` in a real subprocess, this checkout first."""
    return _run_coc


def _run_coc(args, *, cwd=None, env=None, timeout=120, **kwargs):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "coc", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": REPO, **(env or {})}, cwd=cwd,
                          timeout=timeout, **kwargs)
