"""The FFT repulsion (coc/kernels/_tsne_fft.py): against the exact sums, its spectra cache,
and the symmetrization's and the descent's determinism."""
import numpy as np
import pytest

from coc.kernels import data
from coc.kernels import _tsne_attraction as A
from coc.kernels import _tsne_fft as F
from coc.kernels import tsne as T
from coc.testing import strict_namespace
from tests.conftest import to_host as host


def clusters(scale, n=1500, seed=0):
    g = np.random.default_rng(seed)
    return scale * np.concatenate([g.normal(0, 4, (n // 2, 2)), g.normal(12, 1, (n // 4, 2)),
                                   g.normal(-10, 0.2, (n - n // 2 - n // 4, 2))])


@pytest.mark.parametrize("scale", [1.0, 4.0])  # 50 boxes (the minimum), then ~120
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fft_repulsion_matches_exact_on_small_and_wide_grids(xp, scale, dtype):
    Y = clusters(scale)
    F_exact, Z_exact = T._repulsive_exact(xp.asarray(Y), xp=xp)
    F_fft, Z_fft = F.repulsive_fft(xp.asarray(Y.astype(dtype)), xp=xp)
    g_exact = host(F_exact) / float(Z_exact)
    g_fft = host(F_fft).astype(np.float64) / float(Z_fft)
    assert abs(float(Z_fft) / float(Z_exact) - 1) < 2e-3
    assert np.linalg.norm(g_fft - g_exact) / np.linalg.norm(g_exact) < 2e-2


def test_cached_spectra_give_the_same_forces_as_recomputed_ones():
    Y = clusters(2.0).astype(np.float32)
    fresh = F.repulsive_fft(Y, xp=np)
    cache = {}
    first = F.repulsive_fft(Y, xp=np, cache=cache)
    key = cache["key"]
    second = F.repulsive_fft(Y, xp=np, cache=cache)  # a hit: the same grid
    assert cache["key"] == key
    for a, b, c in zip(fresh, first, second):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    # a wider embedding is a new grid: the cache is replaced, not reused
    Y2 = 1.5 * Y
    F.repulsive_fft(Y2, xp=np, cache=cache)
    assert cache["key"] != key
    np.testing.assert_array_equal(F.repulsive_fft(Y2, xp=np, cache=cache)[0], F.repulsive_fft(Y2, xp=np)[0])


def test_a_small_change_of_span_keeps_the_grid():
    Y = clusters(2.0).astype(np.float32)
    cache = {}
    F.repulsive_fft(Y, xp=np, cache=cache)
    key = cache["key"]
    F.repulsive_fft(Y * np.float32(1 + 1e-5), xp=np, cache=cache)
    assert cache["key"] == key


def test_dct_spectra_match_the_generic_rfft2():
    # NumPy: a type-I DCT of a quadrant; the strict (CuPy-like) namespace: rfft2 of the grid
    xs = strict_namespace()
    for N, spacing in [(150, 0.2), (151, 0.33)]:
        fast = F.kernel_spectra(N, spacing, xp=np, dtype=np.float64)
        generic = host(F.kernel_spectra(N, xs.asarray(spacing), xp=xs, dtype=xs.float64))
        assert fast.shape == generic.shape == (2, 2 * N, N + 1)
        np.testing.assert_allclose(fast, generic, rtol=1e-9, atol=1e-9 * np.abs(generic).max())


def test_box_width_covers_the_span():
    # the rounded-up box width never leaves a point outside the grid
    for span in (10.0, 49.9, 137.3, 600.0):
        nb = F.box_count(span)
        width = np.exp2(np.ceil(np.log2(span / nb) * F._WIDTH_STEPS) / F._WIDTH_STEPS)
        assert nb * width >= span and nb * width <= span * 2 ** (1 / F._WIDTH_STEPS) * (1 + 1e-12)


def test_fft_descent_is_reproducible():
    X = data.blobs(4, 150, 8, 0.3, xp=np, seed=4)[0]
    a, b = (T.tsne(X, xp=np, method="fft", max_iter=120, seed=3) for _ in range(2))
    np.testing.assert_array_equal(a, b)


def test_repulsion_beside_the_attraction_gives_the_same_embedding(monkeypatch):
    X = data.blobs(4, 150, 8, 0.3, xp=np, seed=4)[0]
    overlapped = T.tsne(X, xp=np, method="fft", max_iter=60, seed=3)
    monkeypatch.setattr(T, "OVERLAP_REPULSION", False)
    np.testing.assert_array_equal(T.tsne(X, xp=np, method="fft", max_iter=60, seed=3), overlapped)


def test_descent_holds_the_blas_to_one_thread_and_gives_it_back(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    try:  # where installed, faiss brings an OpenBLAS threaded by OpenMP: threads per thread
        import faiss  # noqa: F401
    except ImportError:
        pass
    seen = []  # the repulsion runs on the attraction's worker threads
    real = T._repulsive_fft
    monkeypatch.setattr(T, "_repulsive_fft", lambda *a, **k: (seen.append(blas_threads()),
                                                              real(*a, **k))[1])
    X = data.blobs(4, 150, 8, 0.3, xp=np, seed=4)[0]
    with threadpool_limits(limits=2, user_api="blas"):  # a caller's setting, not the default
        before = blas_threads()
        if not before:
            pytest.skip("threadpoolctl sees no BLAS library in this process")
        T.tsne(X, xp=np, method="fft", max_iter=3, seed=3)
        assert blas_threads() == before  # given back
    assert seen and all(t == [1] * len(before) for t in seen)


def test_symmetrize_sums_repeated_neighbors(xp):
    # an approximate kNN may list a neighbor twice in a row: its weight must still count twice
    n = 40
    g = np.random.default_rng(5)
    idx = np.stack([g.choice(np.delete(np.arange(n), i), 6, replace=False) for i in range(n)])
    idx[:, 5] = idx[:, 4]
    P = g.random((n, 6))
    rows, cols, vals = (host(a) for a in T._symmetrize(xp.asarray(P.ravel()), xp.asarray(idx), xp=xp))
    dense = np.zeros((n, n))
    np.add.at(dense, (np.repeat(np.arange(n), 6), idx.ravel()), P.ravel())
    ref = dense + dense.T
    got = np.zeros((n, n))
    got[rows, cols] = vals
    got += got.T
    np.testing.assert_allclose(got, ref / ref.sum(), atol=1e-15)


def _random_pairs(seed, n, draws):
    """Sorted pairs i < j of ``n`` points as ``_affinities`` gives them, random weights and Y."""
    g = np.random.default_rng(seed)
    key = np.unique(g.integers(0, n * n, draws))
    rows, cols = key // n, key % n
    keep = rows < cols
    rows, cols = rows[keep], cols[keep]
    Y = g.normal(0, 3, (n, 2)).astype(np.float32)
    return Y, rows, cols, g.random(rows.size).astype(np.float32)


@pytest.mark.parametrize("chunk", [None, 1, 97, 10**6])
def test_attraction_in_parts_on_threads_equals_the_whole(chunk):
    from concurrent.futures import ThreadPoolExecutor

    Y, rows, cols, vals = _random_pairs(7, 400, 6000)
    whole = A.attractive(Y, rows, cols, vals, xp=np)
    parts = A.split(rows, cols, vals, xp=np, chunk=chunk)
    assert len(parts) == A.ATTRACTION_PARTS
    chunks = [c for part in parts for c in part]
    if chunk == 97:
        assert len(chunks) > 4 * A.ATTRACTION_PARTS
    # every pair in exactly one chunk, in order, and no row cut between two chunks
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), cols)
    np.testing.assert_array_equal(np.concatenate([np.repeat(c[2], c[4]) for c in chunks]), rows)
    assert all(a[2][-1] < b[2][0] for a, b in zip(chunks[:-1], chunks[1:]))
    with ThreadPoolExecutor(2) as pool:
        threaded = A.attractive_parts(Y, parts, xp=np, pool=pool)
    np.testing.assert_allclose(threaded, whole, rtol=1e-5, atol=1e-5)
    # the sum runs in the parts' order, so threads change nothing
    np.testing.assert_array_equal(threaded, A.attractive_parts(Y, parts, xp=np))
