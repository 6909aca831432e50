"""coc.kernels.silhouette against sklearn.metrics.silhouette_score / silhouette_samples."""
import tracemalloc

import numpy as np
import pytest
from sklearn.metrics import silhouette_samples as sk_samples
from sklearn.metrics import silhouette_score as sk_score

import coc.kernels.silhouette as sil
from coc.kernels import data
from coc.kernels.distances import MAX_TILE_BYTES
from coc.testing import count_syncs, strict_namespace
from tests.conftest import to_host

TOL = {"float64": 1e-6, "float32": 1e-4}


def _cases():
    X, y = data.blobs(10, 100, 32, 0.3, xp=np, seed=1)
    U = data.uniform(1500, 32, xp=np, seed=2)
    yu = np.random.default_rng(3).integers(0, 7, U.shape[0])
    X01, y01 = data.blobs(5, 60, 16, 0.01, xp=np, seed=4)
    return {"blobs-0.3": (X, y), "uniform": (U, yu), "blobs-0.01": (X01, y01)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", ["blobs-0.3", "uniform", "blobs-0.01"])
def test_parity_with_sklearn(xp, case, dtype):
    X, y = _cases()[case]
    X = X.astype(dtype)
    score = sil.silhouette_score(xp.asarray(X), xp.asarray(y), xp=xp)
    samples = sil.silhouette_samples(xp.asarray(X), xp.asarray(y), xp=xp)
    assert score.shape == () and score.dtype == X.dtype
    assert samples.shape == (X.shape[0],) and samples.dtype == X.dtype
    assert abs(float(to_host(score)) - sk_score(X, y)) <= TOL[dtype]
    np.testing.assert_allclose(to_host(samples), sk_samples(X, y), rtol=0, atol=TOL[dtype])


def test_arbitrary_label_values(xp):
    X, y = data.blobs(3, 40, 8, 0.3, xp=np, seed=5)
    odd = np.array([5, -3, 100])[y]
    got = float(to_host(sil.silhouette_score(xp.asarray(X), xp.asarray(odd), xp=xp)))
    assert abs(got - sk_score(X, odd)) <= 1e-6
    plain = float(to_host(sil.silhouette_score(xp.asarray(X), xp.asarray(y), xp=xp)))
    assert abs(got - plain) <= 1e-12


def test_singleton_clusters_score_zero(xp):
    X = data.uniform(50, 4, xp=np, seed=6)
    y = np.random.default_rng(7).integers(0, 3, 50)
    y[[4, 17]] = [8, 9]  # two clusters of one point each
    samples = to_host(sil.silhouette_samples(xp.asarray(X), xp.asarray(y), xp=xp))
    assert samples[4] == 0 and samples[17] == 0
    np.testing.assert_allclose(samples, sk_samples(X, y), rtol=0, atol=1e-6)
    got = float(to_host(sil.silhouette_score(xp.asarray(X), xp.asarray(y), xp=xp)))
    assert abs(got - sk_score(X, y)) <= 1e-6


def test_identical_points_score_zero(xp):
    X = np.zeros((6, 3))
    y = np.array([0, 0, 1, 1, 2, 2])
    samples = to_host(sil.silhouette_samples(xp.asarray(X), xp.asarray(y), xp=xp))
    np.testing.assert_array_equal(samples, np.zeros(6))
    np.testing.assert_array_equal(samples, sk_samples(X, y))


def test_tiny_tiles_equal_untiled(xp):
    X, y = data.blobs(4, 30, 8, 0.3, xp=xp, seed=8)
    full = to_host(sil.silhouette_samples(X, y, xp=xp))
    tiled = to_host(sil.silhouette_samples(X, y, xp=xp, tile=7))
    one = to_host(sil.silhouette_samples(X, y, xp=xp, tile=1))
    np.testing.assert_allclose(tiled, full, rtol=0, atol=1e-12)
    np.testing.assert_allclose(one, full, rtol=0, atol=1e-12)


def test_out_of_memory_halves_the_tile(xp, monkeypatch):
    X, y = data.blobs(4, 50, 8, 0.3, xp=np, seed=9)
    real = sil._tile_sums
    tiles, freed = [], []

    def flaky(left, right, onehot, start, stop, *, xp, **kw):
        tiles.append(stop - start)
        if len(tiles) == 1:
            raise MemoryError("simulated out of memory")
        return real(left, right, onehot, start, stop, xp=xp, **kw)

    monkeypatch.setattr(sil, "_tile_sums", flaky)
    monkeypatch.setattr(sil, "free_pool", lambda xp: freed.append(True))
    got = float(to_host(sil.silhouette_score(xp.asarray(X), xp.asarray(y), xp=xp, tile=64)))
    assert tiles[:3] == [64, 32, 32] and freed == [True]
    assert abs(got - sk_score(X, y)) <= 1e-6


def test_out_of_memory_at_tile_one_raises(xp, monkeypatch):
    X, y = data.blobs(2, 5, 3, 0.3, xp=xp, seed=10)

    def broke(*args, **kwargs):
        raise MemoryError("simulated out of memory")

    monkeypatch.setattr(sil, "_tile_sums", broke)
    with pytest.raises(MemoryError):
        sil.silhouette_score(X, y, xp=xp, tile=4)


def test_peak_host_memory_at_100k_points(monkeypatch):
    """n = 100000, dim = 32, k = 10 stays under 256 MB of extra host memory.

    A full run takes ~20 s here, so only the first two tiles are computed for real; the rest
    return zeros. Every array the kernel allocates up front and at the end is still made, and
    the tiles have their planned size, so the peak is that of a full run.
    """
    n = 100_000
    X = data.uniform(n, 32, xp=np, seed=11)
    y = np.random.default_rng(12).integers(0, 10, n)
    real = sil._tile_sums
    tiles = []

    def first_two(left, right, onehot, start, stop, *, xp, **kw):
        tiles.append(stop - start)
        if len(tiles) <= 2:
            return real(left, right, onehot, start, stop, xp=xp, **kw)
        k = onehot.shape[1]
        return xp.zeros((stop - start, k)), xp.zeros((left.shape[0] - stop, k))

    monkeypatch.setattr(sil, "_tile_sums", first_two)
    tracemalloc.start()
    try:
        sil.silhouette_score(X, y, xp=np)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The plan depends on free memory, so it is checked against the budget, not a number.
    assert 1 < tiles[0] and tiles[0] * n * 8 <= MAX_TILE_BYTES and sum(tiles) == n
    assert peak < 256 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_strict_out_of_memory_error_is_caught_as_cupy_s(monkeypatch):
    # coc.testing's OutOfMemoryError stands for cupy.cuda.memory's: it halves the tile too.
    xp = strict_namespace()
    X, y = data.blobs(4, 50, 8, 0.3, xp=np, seed=9)
    real, calls = sil._tile_sums, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise xp.cuda.memory.OutOfMemoryError("simulated")
        return real(*args, **kwargs)

    monkeypatch.setattr(sil, "_tile_sums", flaky)
    got = float(sil.silhouette_score(xp.asarray(X), xp.asarray(y), xp=xp, tile=64))
    assert abs(got - sk_score(X, y)) <= 1e-6


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_syncs_do_not_depend_on_n_or_the_tiles(metric):
    xp = strict_namespace()
    counts = set()
    for n_per, tile in [(20, None), (20, 7), (80, None), (80, 13)]:
        X, y = data.blobs(5, n_per, 8, 0.3, xp=xp, seed=2)
        with count_syncs(xp) as c:
            sil.silhouette_samples(X, y, xp=xp, tile=tile, metric=metric)
        counts.add(c.count)
    assert counts == {1}  # unique's size: the number of clusters
