"""Shared fixtures: array namespaces and backends, skipping with the reason where one cannot run."""
import numpy as np
import pytest

import coc


def backend_or_skip(name):
    reason = coc.available_backends()[name]
    if reason is not None:
        pytest.skip(f"backend {name!r} cannot run here: {reason}")
    return coc.get_backend(name)


def to_host(a):
    """A NumPy copy of a NumPy or CuPy array (tests compare on the host)."""
    return a.get() if type(a).__module__.startswith("cupy") else np.asarray(a)


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """The kernels' array namespace: NumPy always, CuPy where a CUDA device is usable."""
    if request.param == "numpy":
        return np
    return backend_or_skip("cupy").xp


@pytest.fixture
def sklearn_backend():
    return coc.get_backend("sklearn")
