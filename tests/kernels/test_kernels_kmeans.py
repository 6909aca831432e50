"""coc.kernels.kmeans against scikit-learn's KMeans and the known partition of blobs."""
import functools

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

import coc.kernels.kmeans as km
from coc.kernels import data
from coc.kernels.distances import row_norms_sq
import coc.kernels._kmeans_host as host
from coc.kernels._kmeans_host import assign_host, host_threads
from coc.testing import count_syncs, strict_namespace
from tests.conftest import skip_heavy_strict, to_host


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_blas():
    # These small matrix products gain nothing from BLAS threads, and on a machine shared with
    # other jobs an oversubscribed OpenBLAS makes each call wait tens of milliseconds.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _partition_inertia(X, y):
    return sum(((X[y == c] - X[y == c].mean(axis=0)) ** 2).sum() for c in np.unique(y))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_separated_blobs(xp, seed):
    X, y = data.blobs(10, 100, 32, 0.01, xp=xp, seed=seed)
    res = km.kmeans(X, 10, xp=xp, seed=seed)
    assert adjusted_rand_score(to_host(y), to_host(res.labels)) == 1.0
    assert res.n_iter < 300


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blobs_03_reaches_the_true_partition_inertia(xp, seed):
    # At std 0.3 a few points lie nearer another blob's mean, so the k-means optimum differs
    # from the generating partition by a point or two: ARI 1.0 is not reachable, but the
    # inertia of the generating partition is (and beats every merged/split local optimum).
    X, y = data.blobs(10, 100, 32, 0.3, xp=np, seed=seed)
    res = km.kmeans(xp.asarray(X), 10, xp=xp, seed=seed, n_init=10)
    assert res.inertia <= _partition_inertia(X, y) * (1 + 1e-9)
    assert adjusted_rand_score(y, to_host(res.labels)) >= 0.98


@pytest.mark.parametrize("n_init", [1, 3])
def test_inertia_close_to_sklearn_on_uniform(xp, n_init):
    skip_heavy_strict(xp, n_init > 1)
    X = data.uniform(5000, 32, xp=np, seed=0)
    ours = km.kmeans(xp.asarray(X), 20, xp=xp, seed=0, n_init=n_init)
    assert abs(ours.inertia / _sklearn_inertia_on_uniform(n_init) - 1) <= 0.02


@functools.lru_cache(maxsize=None)
def _sklearn_inertia_on_uniform(n_init):
    # computed once for every namespace that is compared with it
    X = data.uniform(5000, 32, xp=np, seed=0)
    return KMeans(n_clusters=20, n_init=n_init, random_state=0).fit(X).inertia_


def test_result_types(xp):
    X = data.uniform(200, 4, xp=xp, seed=1, dtype="float32")
    res = km.kmeans(X, 3, xp=xp, seed=0)
    assert isinstance(res.inertia, float) and isinstance(res.n_iter, int)
    assert res.labels.shape == (200,) and res.labels.dtype.kind == "i"
    assert res.centers.shape == (3, 4) and res.centers.dtype == X.dtype
    with pytest.raises(AttributeError):
        res.n_iter = 0


def test_same_seed_same_result(xp):
    X = data.uniform(1000, 8, xp=xp, seed=2)
    a = km.kmeans(X, 7, xp=xp, seed=3, n_init=2)
    b = km.kmeans(X, 7, xp=xp, seed=3, n_init=2)
    c = km.kmeans(X, 7, xp=xp, seed=4, n_init=2)
    np.testing.assert_array_equal(to_host(a.labels), to_host(b.labels))
    np.testing.assert_array_equal(to_host(a.centers), to_host(b.centers))
    assert a.inertia == b.inertia and a.n_iter == b.n_iter
    assert not np.array_equal(to_host(a.centers), to_host(c.centers))


def test_tol_none_runs_exactly_max_iter(xp):
    X, y = data.blobs(5, 40, 8, 0.01, xp=xp, seed=5)
    converged = km.kmeans(X, 5, xp=xp, seed=0)
    fixed = km.kmeans(X, 5, xp=xp, seed=0, tol=None, max_iter=17)
    assert converged.n_iter < 17 and fixed.n_iter == 17
    np.testing.assert_array_equal(to_host(fixed.labels), to_host(converged.labels))


def test_labels_and_inertia_match_final_centers(xp):
    X = data.uniform(3000, 16, xp=np, seed=6)
    res = km.kmeans(xp.asarray(X), 12, xp=xp, seed=1, max_iter=5)  # stopped before convergence
    C = to_host(res.centers)
    d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(to_host(res.labels), d2.argmin(axis=1))
    assert res.inertia == pytest.approx(d2.min(axis=1).sum(), rel=1e-9)


def test_empty_cluster_takes_the_farthest_point(xp):
    X, _ = data.blobs(3, 20, 4, 0.01, xp=np, seed=7)
    centers = np.stack([X[0], X[20], np.full(4, 1e3)])  # the third center attracts nobody
    x_sq = row_norms_sq(X, xp=np)
    nearest = ((X[:, None, :] - centers[None, :2, :]) ** 2).sum(axis=2).min(axis=1)
    labels, _, n_iter, new = km._lloyd(
        xp.asarray(X), xp.asarray(x_sq), xp.asarray(centers), xp=xp, max_iter=1, tol=None, tile=16
    )
    new = to_host(new)
    assert n_iter == 1
    np.testing.assert_allclose(new[2], X[nearest.argmax()], rtol=0, atol=1e-12)
    assert np.bincount(to_host(labels), minlength=3).min() > 0


@pytest.mark.parametrize("max_iter", [1, 3])
def test_empty_cluster_on_the_host_path_takes_the_farthest_point(max_iter):
    # the farthest point by distance, (-3, 0), is not the largest |c|^2 - 2 x.c (|x|^2 left out)
    X = np.array([[0, 0], [0.1, 0], [-3, 0], [10, 0], [10.5, 0], [9.8, 0]] * 3, dtype=np.float64)
    centers = np.array([[0.0, 0], [10, 0], [1e3, 1e3]])  # the third center attracts nobody
    x_sq = row_norms_sq(X, xp=np)
    labels, inertia, n_iter, new = km._lloyd(X, x_sq, centers, xp=np, max_iter=max_iter, tol=None,
                                             tile=16, host_rows=8)
    assert n_iter == max_iter
    if max_iter == 1:
        np.testing.assert_array_equal(new[2], [-3, 0])
    counts = np.bincount(labels, minlength=3)
    assert counts.min() > 0
    d2 = ((X[:, None, :] - new[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels, d2.argmin(axis=1))
    assert inertia == pytest.approx(d2.min(axis=1).sum(), rel=1e-9)


def test_duplicate_points_more_clusters_than_distinct(xp):
    P = np.random.default_rng(8).random((4, 5))
    X = np.repeat(P, 25, axis=0)
    res = km.kmeans(xp.asarray(X), 6, xp=xp, seed=0)
    C = to_host(res.centers)
    assert np.isfinite(C).all() and res.inertia == pytest.approx(0, abs=1e-9)
    np.testing.assert_allclose(C[to_host(res.labels)], X, rtol=0, atol=1e-9)


def test_device_relocation_path_is_a_no_op_without_empties(monkeypatch):
    # On a device the relocation runs every iteration to avoid a read-back; force that path
    # on NumPy and check it changes nothing when no cluster is empty.
    X = data.uniform(2000, 8, xp=np, seed=9)
    ref = km.kmeans(X, 9, xp=np, seed=0)
    monkeypatch.setattr(km, "is_numpy", lambda xp: False)
    dev = km.kmeans(X, 9, xp=np, seed=0)
    np.testing.assert_array_equal(dev.labels, ref.labels)
    np.testing.assert_allclose(dev.centers, ref.centers, rtol=0, atol=1e-12)
    assert dev.n_iter == ref.n_iter


# -- host synchronizations on the device path (coc.testing's strict namespace) ----------------
def _syncs(xp, fn):
    with count_syncs(xp) as c:
        result = fn()
    return c.count, result


@pytest.mark.parametrize("case", ["uniform", "empty clusters"])
def test_no_sync_inside_the_lloyd_loop_with_tol_none(case):
    xp = strict_namespace()
    if case == "uniform":
        X = xp.asarray(data.uniform(2000, 8, xp=np, seed=0, dtype="float32"))
    else:  # 4 distinct points, 6 clusters: clusters are empty and relocated every iteration
        X = xp.asarray(np.repeat(np.random.default_rng(8).random((4, 5)), 25, axis=0))
    few, _ = _syncs(xp, lambda: km.kmeans(X, 6, xp=xp, seed=0, max_iter=5, tol=None))
    many, res = _syncs(xp, lambda: km.kmeans(X, 6, xp=xp, seed=0, max_iter=50, tol=None))
    assert res.n_iter == 50
    assert few == many == 1  # the inertia, read once at the end


def test_at_most_one_sync_per_iteration_with_a_tolerance():
    xp = strict_namespace()
    X = xp.asarray(data.blobs(5, 200, 8, 0.3, xp=np, seed=1)[0])
    count, res = _syncs(xp, lambda: km.kmeans(X, 5, xp=xp, seed=0, tol=1e-4))
    assert res.n_iter > 2
    assert count <= res.n_iter + 2  # the tolerance's scale, one per iteration, the inertia


def test_device_relocation_uses_no_sort():
    # CuPy's argpartition is a full sort of n points: the relocation must not call it.
    xp = strict_namespace()
    xp.argpartition = xp.argsort = None  # any call would fail
    X = xp.asarray(np.repeat(np.random.default_rng(8).random((4, 5)), 25, axis=0))
    res = km.kmeans(X, 6, xp=xp, seed=0, max_iter=3, tol=None)
    assert np.isfinite(to_host(res.centers)).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_host_assignment_matches_argmin_with_ties_and_tiles(dtype):
    X = data.uniform(3000, 6, xp=np, seed=11, dtype=dtype)
    centers = X[[5, 9, 9, 40]].copy()  # two equal centers: every point near them is a tie
    x_sq = row_norms_sq(X, xp=np)
    first = assign_host(X, x_sq, centers, rows=300, sums=True)
    labels, min_sq, sums, counts, n_moved = first[:5]
    assert n_moved == len(X)
    d2 = ((X[:, None, :].astype(np.float64) - centers[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels, d2.argmin(axis=1))  # ties go to the lower index
    assert not (labels == 2).any()
    np.testing.assert_allclose(min_sq, d2.min(axis=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(counts, np.bincount(labels, minlength=4))
    np.testing.assert_allclose(sums, [X[labels == j].sum(axis=0) for j in range(4)], rtol=1e-5)
    # the update from previous labels (in place) gives the labels and sums computed afresh
    old_labels = labels.copy()
    moved = assign_host(X, x_sq, centers + 0.05, rows=300, sums=True, previous=first)
    fresh = assign_host(X, x_sq, centers + 0.05, rows=300, sums=True)
    assert moved[0] is labels
    assert moved[4] == np.count_nonzero(fresh[0] != old_labels) > 0
    np.testing.assert_allclose(moved[1], fresh[1])
    np.testing.assert_array_equal(moved[0], fresh[0])
    np.testing.assert_array_equal(moved[3], fresh[3])
    np.testing.assert_allclose(moved[2], fresh[2], rtol=1e-5, atol=1e-6)
    # on an exact tie a point keeps its center, even the higher index: the points of center 1,
    # moved to its twin 2 in a forged state, stay there
    twin = fresh.labels == 1
    assert twin.any()
    labels = fresh.labels.copy()
    labels[twin] = 2
    code = fresh.code.copy()
    code[twin] += 300  # one center further in the (k, rows) distances
    sums = np.array([X[labels == j].sum(axis=0, dtype=np.float64) for j in range(4)])
    forged = fresh._replace(labels=labels, code=code, sums=sums, counts=np.bincount(labels, minlength=4))
    kept = assign_host(X, x_sq, centers + 0.05, rows=300, sums=True, previous=forged)
    assert kept.n_moved == 0 and (kept.labels[twin] == 2).all()
    with pytest.raises(ValueError, match="tiled in 300 rows, this call in 200"):
        assign_host(X, x_sq, centers, rows=200, previous=kept)


def test_host_update_relabels_the_moved_and_keeps_points_found_at_home():
    # a previous call's state, forged: point 51 carries a wrong label (and the sums follow
    # it), point 3 the right label but a code that points at another center, as when the
    # tile's product and the moved rows' product round apart. 51 moves back; 3 stays, is not
    # counted, and its code is repaired.
    X = data.blobs(3, 40, 4, 0.1, xp=np, seed=5, dtype="float32")[0]
    x_sq = row_norms_sq(X, xp=np)
    centers = X[[0, 40, 80]].copy()
    rows = 16
    first = assign_host(X, x_sq, centers, rows=rows, sums=True)
    labels, code = first.labels.copy(), first.code.copy()
    labels[51] = (labels[51] + 1) % 3
    code[51] = labels[51] * rows + 51 % rows
    code[3] = (labels[3] + 1) % 3 * rows + 3 % rows
    sums = np.array([X[labels == j].sum(axis=0, dtype=np.float64) for j in range(3)])
    forged = first._replace(labels=labels, code=code, sums=sums, counts=np.bincount(labels, minlength=3))
    again = assign_host(X, x_sq, centers, rows=rows, sums=True, previous=forged)
    assert again.n_moved == 1
    np.testing.assert_array_equal(again.labels, first.labels)
    np.testing.assert_array_equal(again.code, first.code)
    np.testing.assert_array_equal(again.counts, first.counts)
    np.testing.assert_allclose(again.sums, first.sums, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_host_assignment_on_two_threads_matches_one(dtype):
    X = data.blobs(4, 750, 6, 0.2, xp=np, seed=3, dtype=dtype)[0]
    x_sq = row_norms_sq(X, xp=np)
    centers = X[[0, 1, 2, 3]].copy()
    one = assign_host(X, x_sq, centers, rows=300, sums=True)
    two = assign_host(X, x_sq, centers, rows=300, sums=True, threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[3], two[3])
    np.testing.assert_allclose(one[2], two[2], rtol=1e-12)
    # the update by moved points, split over the blocks, equals one thread's and a fresh sum
    moved_centers = centers * 0.5
    previous = one._replace(labels=one.labels.copy(), code=one.code.copy())
    two_moved = assign_host(X, x_sq, moved_centers, rows=300, sums=True, previous=previous, threads=2)
    fresh = assign_host(X, x_sq, moved_centers, rows=300, sums=True)
    assert two_moved[4] == np.count_nonzero(two_moved[0] != one[0]) > 2 * 2 * 300  # batches
    np.testing.assert_array_equal(two_moved[0], fresh[0])
    np.testing.assert_array_equal(two_moved[3], fresh[3])
    np.testing.assert_allclose(two_moved[2], fresh[2], rtol=1e-5, atol=1e-6)


def test_host_threads_follow_the_blas_limit(monkeypatch):
    X = np.zeros((1000, 8), dtype=np.float32)
    with threadpool_limits(limits=2, user_api="blas"):
        allowed = max(lib["num_threads"] for lib in host._controller().select(user_api="blas").info())
        with host_threads(X) as threads:
            assert threads == 1  # 32 kB: below PARALLEL_BYTES, one thread
        monkeypatch.setattr(host, "PARALLEL_BYTES", 0)
        with host_threads(X) as threads:
            assert threads == allowed
            inside = [lib["num_threads"] for lib in host._controller().select(user_api="blas").info()]
            assert max(inside) == 1 or threads == 1  # the blocks' products run one thread each
        after = max(lib["num_threads"] for lib in host._controller().select(user_api="blas").info())
        assert after == allowed
    with threadpool_limits(limits=1, user_api="blas"), host_threads(X) as threads:
        assert threads == 1


def test_kmeans_on_threads_gives_the_one_thread_result(monkeypatch):
    X, _ = data.blobs(5, 800, 8, 0.3, xp=np, seed=4, dtype="float32")
    one = km.kmeans(X, 5, xp=np, seed=0, max_iter=50)
    monkeypatch.setattr(host, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(host, "HOST_TILE_BYTES", 256 * 8 * 4)  # 16 tiles of 256 rows
    with threadpool_limits(limits=2, user_api="blas"):
        two = km.kmeans(X, 5, xp=np, seed=0, max_iter=50)
    np.testing.assert_array_equal(one.labels, two.labels)
    assert one.n_iter == two.n_iter
    np.testing.assert_allclose(one.centers, two.centers, rtol=1e-5)
    assert one.inertia == pytest.approx(two.inertia, rel=1e-6)
