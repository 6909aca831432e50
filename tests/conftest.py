"""Shared fixtures: array namespaces and backends, skipping with the reason where one cannot run."""
import numpy as np
import pytest

import coc
from coc.testing import StrictArray, StrictNamespace, strict_namespace


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
