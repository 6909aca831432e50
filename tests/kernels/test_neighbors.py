"""t-SNE's neighbor stage: exact against scikit-learn, faiss's and hnswlib's recall, the
``auto`` rule, the missing extra, seeds, and CuPy's top-k selection under the strict
namespace's sync rules."""
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
needs_faiss = pytest.mark.skipif(N.engine_status("faiss") is not None,
                                 reason="faiss is not installed: pip install 'coc[knn]'")
approximate = pytest.mark.parametrize("engine", [pytest.param("faiss", marks=needs_faiss),
                                                 pytest.param("hnswlib", marks=needs_hnswlib)])


def exact_neighbors(X, k):
    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X).kneighbors()


def recall(found, truth):
    k = truth.shape[1]
    return float(np.mean([np.intersect1d(a, b).size / k for a, b in zip(found, truth)]))


def blobs(n, dim=32, seed=0):
    return data.blobs(10, -(-n // 10), dim, 0.3, xp=np, seed=seed, dtype="float32")[0][:n]


def _block(monkeypatch, blocked):
    """The imports of ``blocked`` fail, as where the extra is not installed; auto's warning is fresh."""
    real_import = builtins.__import__
    real_module = N.importlib.import_module

    def fake_import(name, *args, **kwargs):
        if name in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    def fake_module(name, *args):
        return fake_import(name) if name in blocked else real_module(name, *args)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(N.importlib, "import_module", fake_module)
    monkeypatch.setattr(N, "_fallback_warned", [])


@pytest.fixture
def no_knn_extra(monkeypatch):
    _block(monkeypatch, ("faiss", "hnswlib"))


@pytest.fixture
def no_faiss(monkeypatch):
    _block(monkeypatch, ("faiss",))


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


@approximate
def test_recall_on_digits(engine):
    X = load_digits().data.astype(np.float32)
    _, idx, ran = N.knn(X, K, xp=np, method=engine)
    assert ran == engine
    assert recall(idx, exact_neighbors(X, K)[1]) >= 0.95


@approximate
def test_recall_and_distances_on_blobs(engine):
    X = blobs(4000)
    dist, idx, _ = N.knn(X, K, xp=np, method=engine)
    assert recall(idx, exact_neighbors(X, K)[1]) >= 0.95
    assert not np.any(idx == np.arange(len(X))[:, None])  # never a point itself
    np.testing.assert_allclose(dist, ((X[idx] - X[:, None, :]) ** 2).sum(axis=2), rtol=1e-5)


@approximate
def test_is_reproducible_with_a_seed(engine):
    X = blobs(3000)
    a = N.knn(X, K, xp=np, method=engine, seed=4)[1]
    b = N.knn(X, K, xp=np, method=engine, seed=4)[1]
    np.testing.assert_array_equal(a, b)


@needs_faiss
def test_faiss_is_the_same_on_any_thread_count():
    """The lists (KMeans) and the search do not depend on the threads: 1 and 2 agree."""
    X = blobs(3000)
    one = N.knn(X, K, xp=np, method="faiss", seed=2, n_threads=1)
    two = N.knn(X, K, xp=np, method="faiss", seed=2, n_threads=2)
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[0], two[0])


@needs_faiss
def test_faiss_probes_until_the_sample_recall_is_reached(monkeypatch):
    """nprobe is raised on its own: a recall target of 1 makes the search exact, and a row
    whose probed lists are short of k + 1 points is searched exactly too."""
    X = blobs(2000, 16)
    monkeypatch.setattr(N, "IVF_RECALL", 1.0)
    monkeypatch.setattr(N, "IVF_SAMPLE", len(X))
    _, idx, _ = N.knn(X, K, xp=np, method="faiss")
    assert recall(idx, exact_neighbors(X, K)[1]) >= 0.999
    assert N._probes(5) == [1, 2, 3, 4, 5] and N._probes(1) == [1]
    assert N._probes(316)[-3:] == [192, 256, 316]


@needs_faiss
def test_faiss_rows_short_of_neighbors_are_searched_exactly(monkeypatch):
    """A sample of one row lets nprobe stop where many lists (about 45 points each here) are
    short of k + 1 = 91 points: those rows fall back to every list, so none is left with -1."""
    X = blobs(2000, 16)
    monkeypatch.setattr(N, "IVF_SAMPLE", 1)
    monkeypatch.setattr(N, "IVF_RECALL", 0.0)
    _, idx, _ = N.knn(X, K, xp=np, method="faiss")
    assert idx.min() >= 0 and not np.any(idx == np.arange(len(X))[:, None])
    exact = exact_neighbors(X, K)[1]
    assert recall(idx, exact) > 0.3  # the probed lists' nearest, not noise


@needs_faiss
def test_faiss_with_duplicates_never_lists_a_point_itself():
    X = np.repeat(blobs(400, 8), 5, axis=0)  # every point five times
    _, idx, _ = N.knn(X, 20, xp=np, method="faiss")
    assert not np.any(idx == np.arange(len(X))[:, None])
    assert idx.min() >= 0 and np.all(np.sort(idx, axis=1)[:, 1:] != np.sort(idx, axis=1)[:, :-1])


@approximate
def test_tsne_with_an_approximate_engine_is_reproducible(engine):
    X = blobs(1200, 16)
    a = T.tsne(X, xp=np, seed=1, max_iter=60, neighbors=engine)
    b = T.tsne(X, xp=np, seed=1, max_iter=60, neighbors=engine)
    np.testing.assert_array_equal(a, b)


@needs_faiss
def test_auto_is_exact_up_to_the_crossover_and_faiss_above(monkeypatch):
    monkeypatch.setattr(N, "AUTO_EXACT_MAX_SAMPLES", 500)
    assert N.knn(blobs(500), 10, xp=np)[2] == "exact"
    assert N.knn(blobs(501), 10, xp=np)[2] == "faiss"
    assert N.knn(strict_namespace().asarray(blobs(501)), 10, xp=strict_namespace())[2] == "exact"
    info = {}
    T.tsne(blobs(600, 8), xp=np, max_iter=1, info=info)
    assert info["neighbors"] == "faiss"


@needs_hnswlib
def test_auto_takes_hnswlib_without_faiss(monkeypatch, no_faiss):
    monkeypatch.setattr(N, "AUTO_EXACT_MAX_SAMPLES", 500)
    assert N.knn(blobs(501), 10, xp=np)[2] == "hnswlib"


def test_auto_falls_back_to_exact_with_one_warning(monkeypatch, no_knn_extra):
    monkeypatch.setattr(N, "AUTO_EXACT_MAX_SAMPLES", 100)
    X = blobs(300, 8)
    with pytest.warns(RuntimeWarning, match=r"neither faiss nor hnswlib is installed.*coc\[knn\]") as record:
        first = N.knn(X, 10, xp=np)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call says nothing
        second = N.knn(X, 10, xp=np)
    assert len(record) == 1
    assert first[2] == second[2] == "exact"
    np.testing.assert_array_equal(np.sort(first[1], axis=1), np.sort(exact_neighbors(X, 10)[1], axis=1))


@pytest.mark.parametrize("engine", ["faiss", "hnswlib"])
def test_explicit_missing_engine_is_an_error_naming_the_extra(engine, no_knn_extra):
    X = blobs(300, 8)
    with pytest.raises(ImportError, match=r"coc\[knn\]"):
        N.knn(X, 10, xp=np, method=engine)
    be = coc.get_backend("numpy")
    with pytest.raises(CocError, match=r"pip install 'coc\[knn\]'"):
        be.tsne(X, perplexity=5.0, neighbors=engine)


def test_backend_rejects_unknown_and_gpu_host_engines():
    from coc.testing import StrictBackend

    be = coc.get_backend("numpy")
    X = blobs(100, 4)
    with pytest.raises(CocError, match="no t-SNE neighbors 'annoy'"):
        be.tsne(X, perplexity=5.0, neighbors="annoy")
    with pytest.raises(CocError, match="has no t-SNE neighbors"):
        coc.get_backend("sklearn").tsne(X, perplexity=5.0, neighbors="exact")
    for engine in ("faiss", "hnswlib"):
        if N.engine_status(engine) is None:
            with pytest.raises(CocError, match="runs on the host"):
                StrictBackend().tsne(StrictBackend().asarray(X), perplexity=5.0, neighbors=engine)


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
