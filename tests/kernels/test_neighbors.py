"""t-SNE's neighbor stage: exact against scikit-learn, hnswlib's recall, the ``auto`` rule,
the missing extra, seeds, and CuPy's top-k selection under the strict namespace's sync rules."""
import builtins
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import NearestNeighbors

import coc
from coc.kernels import data
from coc.kernels import neighbors as N
from coc.kernels import tsne as T
from coc.testing import count_syncs, strict_namespace
from coc.utils.validation import CocError
from tests.conftest import to_host as host

K = 90  # 3 * perplexity 30, what t-SNE asks for

needs_hnswlib = pytest.mark.skipif(N.engine_status("hnswlib") is not None,
                                   reason="hnswlib is not installed: pip install 'coc[knn]'")


def exact_neighbors(X, k):
    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X).kneighbors()


def recall(found, truth):
    k = truth.shape[1]
    return float(np.mean([np.intersect1d(a, b).size / k for a, b in zip(found, truth)]))


def blobs(n, dim=32, seed=0):
    return data.blobs(10, -(-n // 10), dim, 0.3, xp=np, seed=seed, dtype="float32")[0][:n]


@pytest.fixture
def no_hnswlib(monkeypatch):
    """hnswlib's import fails, as where the extra is not installed; auto's warning is fresh."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "hnswlib":
            raise ModuleNotFoundError("No module named 'hnswlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(N, "_fallback_warned", [])


def test_exact_matches_sklearn(xp):
    X = data.uniform(700, 6, xp=np, seed=5)
    dist, idx, engine = N.knn(xp.asarray(X), 20, xp=xp, method="exact")
    ref_dist, ref_idx = exact_neighbors(X, 20)
    assert engine == "exact"
    np.testing.assert_array_equal(np.sort(host(idx), axis=1), np.sort(ref_idx, axis=1))
    np.testing.assert_allclose(np.sort(host(dist), axis=1), ref_dist**2, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n, k", [(50, 1), (97, 9), (300, 90), (1000, 7), (1001, 90)])
def test_select_k_is_exact_top_k(n, k):
    """The two-stage selection against a full sort, at sizes with and without a short last
    group, k = 1 and k close to n; every value distinct, so the set is unique."""
    g = np.random.default_rng(n + k)
    D = g.permutation(n * 3 * 5).reshape(5, n * 3)[:, :n].astype(np.float64)
    got = N._select_k(D, k, xp=np)
    np.testing.assert_array_equal(np.sort(got, axis=1), np.sort(np.argsort(D, axis=1)[:, :k], axis=1))


def test_select_k_keeps_ties_at_the_kth_value():
    D = np.array([[3.0, 1.0, 2.0, 2.0, 2.0, 5.0, 0.5, 9.0, 2.0]])
    got = N._select_k(D, 4, xp=np)
    np.testing.assert_array_equal(np.sort(D[0, got[0]]), [0.5, 1.0, 2.0, 2.0])


def test_strict_exact_knn_is_right_and_never_syncs():
    """The CuPy path (the two-stage selection, not argpartition) on the strict namespace: the
    same neighbors as scikit-learn, and not one host synchronization."""
    xp = strict_namespace()
    X = blobs(900, 16, seed=2).astype(np.float64)
    Xd = xp.asarray(X)
    with count_syncs(xp) as c:
        dist, idx, _ = N.knn(Xd, 30, xp=xp, method="auto")
    assert c.count == 0, c.calls
    ref_dist, ref_idx = exact_neighbors(X, 30)
    np.testing.assert_array_equal(np.sort(host(idx), axis=1), np.sort(ref_idx, axis=1))
    np.testing.assert_allclose(np.sort(host(dist), axis=1), ref_dist**2, rtol=1e-7, atol=1e-9)


def test_strict_tsne_sync_budget_is_unchanged_by_neighbors():
    xp = strict_namespace()
    X = xp.asarray(data.blobs(4, 50, 8, 0.3, xp=np, seed=3)[0])
    with count_syncs(xp) as c:
        T.tsne(X, xp=xp, perplexity=10.0, max_iter=1, method="exact", neighbors="exact")
    assert c.count <= 2 + T._BINARY_SEARCH_STEPS // T._BINARY_SEARCH_CHECK


@needs_hnswlib
def test_hnswlib_recall_on_digits():
    X = load_digits().data.astype(np.float32)
    _, idx, engine = N.knn(X, K, xp=np, method="hnswlib")
    assert engine == "hnswlib"
    assert recall(idx, exact_neighbors(X, K)[1]) >= 0.95


@needs_hnswlib
def test_hnswlib_recall_and_distances_on_blobs():
    X = blobs(4000)
    dist, idx, _ = N.knn(X, K, xp=np, method="hnswlib")
    assert recall(idx, exact_neighbors(X, K)[1]) >= 0.95
    assert not np.any(idx == np.arange(len(X))[:, None])  # never a point itself
    np.testing.assert_allclose(dist, ((X[idx] - X[:, None, :]) ** 2).sum(axis=2), rtol=1e-5)


@needs_hnswlib
def test_hnswlib_is_reproducible_with_a_seed():
    X = blobs(3000)
    a = N.knn(X, K, xp=np, method="hnswlib", seed=4)[1]
    b = N.knn(X, K, xp=np, method="hnswlib", seed=4)[1]
    np.testing.assert_array_equal(a, b)


@needs_hnswlib
def test_tsne_with_hnswlib_is_reproducible():
    X = blobs(1200, 16)
    a = T.tsne(X, xp=np, seed=1, max_iter=60, neighbors="hnswlib")
    b = T.tsne(X, xp=np, seed=1, max_iter=60, neighbors="hnswlib")
    np.testing.assert_array_equal(a, b)


@needs_hnswlib
def test_auto_is_exact_up_to_the_crossover_and_hnswlib_above(monkeypatch):
    monkeypatch.setattr(N, "AUTO_EXACT_MAX_SAMPLES", 500)
    assert N.knn(blobs(500), 10, xp=np)[2] == "exact"
    assert N.knn(blobs(501), 10, xp=np)[2] == "hnswlib"
    assert N.knn(strict_namespace().asarray(blobs(501)), 10, xp=strict_namespace())[2] == "exact"
    info = {}
    T.tsne(blobs(600, 8), xp=np, max_iter=1, info=info)
    assert info["neighbors"] == "hnswlib"


def test_auto_falls_back_to_exact_with_one_warning(monkeypatch, no_hnswlib):
    monkeypatch.setattr(N, "AUTO_EXACT_MAX_SAMPLES", 100)
    X = blobs(300, 8)
    with pytest.warns(RuntimeWarning, match=r"hnswlib is not installed.*coc\[knn\]") as record:
        first = N.knn(X, 10, xp=np)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call says nothing
        second = N.knn(X, 10, xp=np)
    assert len(record) == 1
    assert first[2] == second[2] == "exact"
    np.testing.assert_array_equal(np.sort(first[1], axis=1), np.sort(exact_neighbors(X, 10)[1], axis=1))


def test_explicit_missing_engine_is_an_error_naming_the_extra(no_hnswlib):
    X = blobs(300, 8)
    with pytest.raises(ImportError, match=r"coc\[knn\]"):
        N.knn(X, 10, xp=np, method="hnswlib")
    be = coc.get_backend("numpy")
    with pytest.raises(CocError, match=r"pip install 'coc\[knn\]'"):
        be.tsne(X, perplexity=5.0, neighbors="hnswlib")


def test_backend_rejects_unknown_and_gpu_host_engines():
    from coc.testing import StrictBackend

    be = coc.get_backend("numpy")
    X = blobs(100, 4)
    with pytest.raises(CocError, match="no t-SNE neighbors 'annoy'"):
        be.tsne(X, perplexity=5.0, neighbors="annoy")
    with pytest.raises(CocError, match="has no t-SNE neighbors"):
        coc.get_backend("sklearn").tsne(X, perplexity=5.0, neighbors="exact")
    if N.engine_status("hnswlib") is None:
        with pytest.raises(CocError, match="runs on the host"):
            StrictBackend().tsne(StrictBackend().asarray(X), perplexity=5.0, neighbors="hnswlib")


def test_backend_passes_neighbors_through_and_records_them():
    be = coc.get_backend("numpy")
    X = blobs(400, 8)
    Y = be.tsne(X, perplexity=10.0, seed=0, max_iter=20, neighbors="exact")
    assert Y.shape == (400, 2)
    assert be.tsne_info["neighbors"] == "exact"
    assert be.tsne_info["knn_seconds"] >= 0
    assert "kNN exact" in be.algorithm("tsne")
    rows = np.asarray(be.tsne_info["knn_sample_rows"])
    assert 0 < rows.size <= T.INFO_SAMPLE and rows[-1] > 300  # spread over the data
    found = be.tsne_info["knn_sample"]
    np.testing.assert_array_equal(np.sort(found, axis=1), np.sort(exact_neighbors(X, 30)[1][rows], axis=1))


def test_cell_quality_records_recall_and_knn_time():
    from coc.suite.cells import Cell, make_data
    from coc.suite.quality import cell_quality

    be = coc.get_backend("numpy")
    cell = Cell("numpy", "tsne", 600, 8, max_iter=30)
    d = make_data(cell, be)
    Y = be.tsne(d["X"], perplexity=30.0, seed=0, max_iter=30, check_input=False)
    q = cell_quality(cell, be, d, Y)
    assert q["knn_recall"] == 1.0  # exact below the crossover
    assert q["knn_recall_sample"] == len(be.tsne_info["knn_sample_rows"])
    assert q["knn_seconds"] >= 0
    assert all(isinstance(v, (int, float)) for v in q.values())


def test_knn_recall_sees_wrong_neighbors():
    from coc.suite.quality import knn_recall

    X = blobs(500, 4)
    rows = np.arange(0, 500, 5)
    truth = exact_neighbors(X, 10)[1][rows]
    assert knn_recall(X, rows, truth) == 1.0
    wrong = truth.copy()
    wrong[:, :5] = (rows[:, None] + 250) % 500  # half of each row replaced by far points
    assert knn_recall(X, rows, wrong) == pytest.approx(0.5, abs=0.02)
