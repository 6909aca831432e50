"""coc.testing's strict namespace: CuPy's API only, no implicit host conversion, syncs counted."""
import numpy as np
import pytest
from sklearn.metrics import silhouette_score as sk_silhouette

from coc.utils import xp as _xp
from coc.utils.validation import CocError, check_X_and_labels
from coc.testing import StrictArray, StrictBackend, count_syncs, strict_namespace


@pytest.fixture
def xp():
    return strict_namespace()


@pytest.fixture
def a(xp):
    return xp.asarray(np.arange(12.0).reshape(3, 4))


# -- only what CuPy 13 and 14 have -----------------------------------------------------------
@pytest.mark.parametrize("name", ["nanpercentile", "put_along_axis", "cumulative_sum", "concat",
                                  "unique_values", "geomspace", "insert", "vecdot", "block"])
def test_functions_cupy_lacks_raise_naming_them(xp, name):
    assert hasattr(np, name)  # NumPy has each of them
    with pytest.raises(AttributeError, match=name):
        getattr(xp, name)


@pytest.mark.parametrize("name", ["normal", "choice", "permutation", "shuffle", "permuted", "bytes",
                                  "multivariate_normal", "lognormal"])
def test_generator_methods_cupy_lacks_raise(xp, name):
    g = xp.random.default_rng(0)
    assert hasattr(np.random.default_rng(0), name)
    with pytest.raises(AttributeError, match=name):
        getattr(g, name)


def test_submodules_and_ndarray_methods_cupy_lacks_raise(xp, a):
    with pytest.raises(AttributeError, match="eig"):
        xp.linalg.eig  # CuPy 13 has eigh only
    with pytest.raises(AttributeError, match="hfft2"):
        xp.fft.hfft2
    with pytest.raises(AttributeError, match="tofile"):
        a.tofile
    with pytest.raises(AttributeError, match="legacy"):
        xp.random.legacy


def test_cupy_signatures_refuse_numpy_only_arguments(xp, a):
    with pytest.raises(TypeError, match="where"):
        xp.sum(a, where=a > 1)
    with pytest.raises(TypeError, match="initial"):
        a.max(initial=0)
    with pytest.raises(TypeError, match="like"):
        xp.zeros(3, like=a)
    with pytest.raises(TypeError, match="kind"):
        xp.argpartition(a, 1, kind="introselect")


def test_ufunc_at_only_where_cuda_has_the_atomic(xp):
    z = xp.zeros(3, dtype=xp.float32)
    xp.add.at(z, xp.asarray([0, 0, 2]), 1.0)
    np.testing.assert_array_equal(z.get(), [2, 0, 1])
    with pytest.raises(TypeError, match="subtract"):
        xp.subtract.at(z, xp.asarray([0]), 1.0)  # atomicSub exists for 32-bit integers only
    with pytest.raises(NotImplementedError):
        xp.multiply.at(z, xp.asarray([0]), 2.0)


def test_computes_like_numpy(xp, a):
    host = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal((a @ a.T + 1).get(), host @ host.T + 1)
    np.testing.assert_array_equal(xp.take_along_axis(a, xp.argmin(a, axis=1)[:, None], axis=1).get(),
                                  np.take_along_axis(host, host.argmin(axis=1)[:, None], axis=1))
    out = xp.empty_like(a)
    assert xp.maximum(a, 5, out=out) is out
    b = a.copy()
    b += 1
    np.testing.assert_array_equal(b.get(), host + 1)
    assert isinstance(a.sum(), StrictArray) and a.sum().shape == ()  # 0-d arrays, as CuPy's
    g = xp.random.default_rng(3)
    assert g.random((2, 2), dtype=xp.float32).dtype == np.float32
    assert g.uniform(size=3, dtype=xp.float32).dtype == np.float32


# -- no implicit conversion to NumPy ---------------------------------------------------------
def test_numpy_refuses_its_arrays(a):
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.array([a, a])
    with pytest.raises(TypeError):
        np.nanpercentile(a, 50)  # NumPy's function, which CuPy does not dispatch
    # as CuPy's arrays, it dispatches NumPy ufuncs and functions CuPy has to the device
    assert isinstance(np.sqrt(a), StrictArray) and isinstance(np.mean(a), StrictArray)
    assert isinstance(np.float32(2) * a, StrictArray)


def test_its_functions_and_operators_refuse_numpy_arrays(xp, a):
    host = np.ones((3, 4))
    with pytest.raises(TypeError, match="Unsupported type"):
        a + host
    with pytest.raises(TypeError, match="Unsupported type"):
        xp.maximum(a, host)
    np.testing.assert_array_equal(xp.asarray(host).get(), host)  # the entrance takes them


# -- synchronizations ------------------------------------------------------------------------
SYNCING = {
    "item": lambda xp, a: a[0, 0].item(),
    "tolist": lambda xp, a: a.tolist(),
    "get": lambda xp, a: a.get(),
    "float": lambda xp, a: float(a[0, 0]),
    "int": lambda xp, a: int(a[0, 0]),
    "bool": lambda xp, a: bool(a[0, 0] > 1),
    "index": lambda xp, a: [0, 1, 2][xp.argmax(a[0]) - 2],
    "repr": lambda xp, a: repr(a),
    "str": lambda xp, a: str(a),
    "format": lambda xp, a: f"{a.sum():.2f}",
    "asnumpy": lambda xp, a: xp.asnumpy(a),
    "unique": lambda xp, a: xp.unique(a),
    "nonzero": lambda xp, a: xp.nonzero(a),
    "nonzero method": lambda xp, a: a.nonzero(),
    "argwhere": lambda xp, a: xp.argwhere(a),
    "flatnonzero": lambda xp, a: xp.flatnonzero(a),
    "where one argument": lambda xp, a: xp.where(a > 3),
    "mask getitem": lambda xp, a: a[a > 3],
    "mask setitem": lambda xp, a: a.__setitem__(a > 3, 0),
    "compress": lambda xp, a: xp.compress(xp.asarray([True, False, True]), a, axis=0),
    "bincount": lambda xp, a: xp.bincount(xp.asarray([0, 2, 2])),
    "repeat array": lambda xp, a: xp.repeat(a[0], xp.asarray([1, 2, 0, 1])),
    "stream": lambda xp, a: xp.cuda.get_current_stream().synchronize(),
}


@pytest.mark.parametrize("name", list(SYNCING))
def test_each_synchronizing_call_counts_one(xp, a, name):
    before = xp.syncs
    with count_syncs(xp) as c:
        SYNCING[name](xp, a)
    assert c.count == 1, c.calls
    assert xp.syncs == before + 1


def test_device_only_work_counts_nothing(xp, a):
    with count_syncs(xp) as c:
        b = xp.where(a > 3, a, 0) @ a.T
        xp.repeat(a, 2, axis=0)
        a[xp.asarray([0, 2])] = b[:2, :1]  # integer indices, not a mask
        xp.sort(a, axis=1)
        xp.count_nonzero(a > 2)
        xp.random.default_rng(0).standard_normal((3, 2), dtype=xp.float32)
        len(a), a.shape, a.dtype
    assert c.count == 0, c.calls


def test_counters_nest_and_stop_counting_when_closed(xp, a):
    with count_syncs(xp) as outer:
        float(a.sum())
        with count_syncs(xp) as inner:
            a.get()
    a.get()
    assert (outer.count, inner.count) == (2, 1)
    assert inner.calls == ["ndarray.get"]


# -- CuPy-only calls and the backend ---------------------------------------------------------
def test_cupy_only_stand_ins(xp):
    free, total = xp.cuda.runtime.memGetInfo()
    assert 0 < free <= total
    pool = xp.get_default_memory_pool()
    pool.free_all_blocks()
    assert pool.used_bytes() == pool.total_bytes() == pool.free_bytes() == 0
    assert _xp.free_bytes(xp) > 0
    assert not _xp.is_numpy(xp)
    errors = _xp.oom_errors(xp)
    assert MemoryError in errors and xp.cuda.memory.OutOfMemoryError in errors
    assert issubclass(xp.cuda.memory.OutOfMemoryError, MemoryError)
    _xp.free_pool(xp)


def test_oom_errors_never_imports_cupy():
    class Bare:  # a namespace without cupy's cuda.memory: no ImportError may replace the error
        __name__ = "cupy"

    assert _xp.oom_errors(Bare()) == (MemoryError,)


def test_strict_backend_runs_ops_and_its_exit_counts():
    be = StrictBackend()
    X, y = be.blobs(3, 30, 4, 0.05, seed=0)
    assert isinstance(X, StrictArray)
    labels, inertia = be.kmeans(X, 3, seed=0)
    with count_syncs(be.xp) as c:
        host = be.to_numpy(labels)
    assert c.count == 1 and isinstance(host, np.ndarray)
    assert -1 <= be.silhouette(X, labels) <= 1
    assert be.device_name().startswith("cpu") and be.memory_pool() is be.xp.get_default_memory_pool()


# -- the strict test backend: data generation and input checks within their sync budgets -------
def test_strict_backend_generation_syncs_nothing():
    be = StrictBackend()
    with count_syncs(be.xp) as c:
        be.uniform(500, 8, seed=0)
        be.blobs(5, 40, 8, 0.3, seed=1)
    assert c.count == 0, c.calls


@pytest.mark.parametrize("n_per", [20, 200])
def test_strict_backend_checks_X_and_labels_with_one_read(n_per):
    be = StrictBackend()
    X, y = be.blobs(5, n_per, 8, 0.3, seed=1)
    with count_syncs(be.xp) as c:
        check_X_and_labels(X, y, xp=be.xp)
    assert c.count == 1, c.calls
    with count_syncs(be.xp) as c:
        score = be.silhouette(X, y)
    # the checks, unique's size in the kernel, the float returned
    assert c.count == 3, c.calls
    assert abs(score - sk_silhouette(be.to_numpy(X), be.to_numpy(y))) <= 1e-5


def test_strict_backend_kmeans_and_tsne_budgets():
    be = StrictBackend()
    X = be.uniform(300, 8, seed=0)
    with count_syncs(be.xp) as c:
        be.kmeans(X, 4, seed=0, tol=None, max_iter=30)
    assert c.count == 2, c.calls  # the input check, the inertia
    with count_syncs(be.xp) as c:
        be.kmeans(X, 4, seed=0, tol=None, max_iter=30, check_input=False)
    assert c.count == 1, c.calls


def test_combined_check_refuses_what_each_check_refuses():
    X = np.random.default_rng(0).random((10, 3))
    with pytest.raises(CocError, match="distinct labels"):
        check_X_and_labels(X, np.zeros(10, dtype=int), xp=np)
    with pytest.raises(CocError, match="NaN"):
        check_X_and_labels(np.where(X > 0.9, np.nan, X), np.arange(10) % 2, xp=np)
    with pytest.raises(CocError, match="one label per point"):
        check_X_and_labels(X, np.arange(9) % 2, xp=np)
    Xc, yc = check_X_and_labels(X, np.arange(10) % 3, xp=np)
    assert Xc.dtype == np.float64 and yc.shape == (10,)
