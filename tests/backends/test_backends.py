"""The registry, and the `sklearn` reference backend against the notebook's findings."""
import numpy as np
import pytest

from sklearn.metrics import adjusted_rand_score, silhouette_score

import coc
from coc.verdict.experiment import run_experiment
from tests.conftest import backend_or_skip


@pytest.fixture(scope="module")
def notebook_result():
    # The notebook's experiment at its own size, without the t-SNE picture.
    return run_experiment(coc.get_backend("sklearn"), seed=0, tsne=False)


def _score(result, scenario, k):
    (row,) = [r for r in result.rows if r.scenario == scenario and r.k == k]
    return row.silhouette


def test_tight_blobs_score_high_at_true_k(notebook_result):
    assert _score(notebook_result, "blobs-0.01", 10) > 0.9


@pytest.mark.parametrize("k", [2, 10, 20])
def test_uniform_scores_low_at_every_k(notebook_result, k):
    assert _score(notebook_result, "uniform", k) < 0.08


@pytest.mark.parametrize("std", ["0.3", "0.4", "0.5"])
def test_true_k_scores_highest_even_when_scores_are_low(notebook_result, std):
    s = {k: _score(notebook_result, f"blobs-{std}", k) for k in (2, 10, 20)}
    assert s[10] > s[2] and s[10] > s[20], s
    assert notebook_result.best_k()[f"blobs-{std}"] == 10


def test_same_seed_same_numbers_other_seed_other_numbers():
    be = coc.get_backend("sklearn")
    a = run_experiment(be, n_samples=200, dim=8, ks=[2, 5], stds=[0.3], seed=3, tsne=False)
    b = run_experiment(be, n_samples=200, dim=8, ks=[2, 5], stds=[0.3], seed=3, tsne=False)
    c = run_experiment(be, n_samples=200, dim=8, ks=[2, 5], stds=[0.3], seed=4, tsne=False)
    assert a.rows == b.rows
    assert [r.silhouette for r in a.rows] != [r.silhouette for r in c.rows]


def test_blobs_draw_as_the_notebook_draws():
    # Centers uniform in [0,1]^dim, then N(center, std) for each center, from one generator.
    X, y = coc.get_backend("sklearn").blobs(4, 25, 6, 0.2, seed=11)
    g = np.random.default_rng(11)
    centers = g.uniform(0, 1, (4, 6))
    expected = np.concatenate([g.normal(c, 0.2, (25, 6)) for c in centers])
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(y, np.repeat(np.arange(4), 25))


def test_uniform_in_unit_cube_and_seeded():
    be = coc.get_backend("sklearn")
    X = be.uniform(500, 4, seed=1)
    assert X.shape == (500, 4) and X.min() >= 0 and X.max() < 1
    np.testing.assert_array_equal(X, be.uniform(500, 4, seed=1))
    assert be.uniform(10, 4, seed=1, dtype="float32").dtype == np.float32


def test_sklearn_tsne_is_seeded_2d():
    be = coc.get_backend("cpu")
    X, _ = be.blobs(3, 30, 5, 0.1, seed=0)
    Y1 = be.tsne(X, perplexity=10, seed=0, max_iter=250)
    Y2 = be.tsne(X, perplexity=10, seed=0, max_iter=250)
    assert Y1.shape == (90, 2)
    np.testing.assert_array_equal(Y1, Y2)


def test_kmeans_returns_labels_and_inertia():
    be = coc.get_backend("sklearn")
    X, y = be.blobs(3, 50, 4, 0.01, seed=0)
    labels, inertia = be.kmeans(X, 3, seed=0)
    assert labels.shape == (150,) and len(set(labels.tolist())) == 3
    centers = np.stack([X[labels == j].mean(0) for j in range(3)])
    assert inertia == pytest.approx(((X - centers[labels]) ** 2).sum(), rel=1e-6)
    assert isinstance(be.silhouette(X, labels), float)


def test_registry_names_aliases_and_reasons():
    status = coc.available_backends()
    assert list(status) == ["sklearn", "numpy", "cupy", "cuml", "opentsne", "faiss"]  # peers last
    assert status["sklearn"] is None and status["numpy"] is None
    assert coc.get_backend("cpu").name == "sklearn"
    for name, reason in status.items():
        assert reason is None or isinstance(reason, str) and reason


def test_unknown_backend_lists_valid_names():
    with pytest.raises(ValueError, match="unknown backend 'cupi'; choose one of: sklearn, numpy, cupy, cuml"):
        coc.get_backend("cupi")


def test_gpu_backend_without_gpu_says_why():
    reason = coc.available_backends()["cupy"]
    if reason is None:
        pytest.skip("this machine has a working CuPy and CUDA device")
    with pytest.raises(coc.CocError, match="not available here: .*(CuPy|CUDA)"):
        coc.get_backend("gpu")


def test_gpu_alias_resolves_to_a_gpu_backend():
    be = backend_or_skip("cupy")
    assert coc.get_backend("gpu").name in ("cupy", "cuml")
    assert be.is_gpu


# -- one contract: the same options on every backend, refused by name where not honoured -----
@pytest.mark.parametrize("name", ["sklearn", "numpy"])
def test_every_backend_takes_the_same_tsne_options(name):
    be = coc.get_backend(name)
    X, _ = be.blobs(3, 40, 5, 0.5, seed=0)
    Y = be.tsne(X, perplexity=10.0, seed=0, max_iter=250, init="random", method="exact", metric="cosine")
    assert Y.shape == (120, 2) and Y.dtype == X.dtype == np.float64  # float64 in, float64 out


@pytest.mark.parametrize("name, method", [("sklearn", "fft"), ("numpy", "barnes_hut")])
def test_a_method_the_backend_lacks_is_an_error_naming_it(name, method):
    be = coc.get_backend(name)
    X = be.uniform(50, 3, seed=0)
    with pytest.raises(coc.CocError, match=f"no t-SNE method '{method}'.*it has: auto"):
        be.tsne(X, perplexity=5.0, max_iter=250, method=method)


def test_progress_is_refused_where_the_engine_cannot_report_it():
    be = coc.get_backend("sklearn")
    with pytest.raises(coc.CocError, match="cannot report t-SNE progress"):
        be.tsne(be.uniform(50, 3, seed=0), perplexity=5.0, progress=lambda i, n: None)
    seen = []
    coc.get_backend("numpy").tsne(be.uniform(60, 3, seed=0), perplexity=5.0, max_iter=100,
                                  progress=lambda i, n: seen.append((i, n)))
    assert seen == [(50, 100), (100, 100)]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_init=0), "n_init must be an integer >= 1"),
    (dict(max_iter=0), "max_iter must be an integer >= 1"),
    (dict(tol=-1), "tol must be a finite number >= 0"),
    (dict(seed=-1), "seed must be an integer from 0"),
    (dict(seed=2**40), "seed must be an integer from 0"),
    (dict(metric="manhattan"), "metric must be one of euclidean, cosine"),
])
@pytest.mark.parametrize("name", ["sklearn", "numpy"])
def test_kmeans_options_are_checked_at_the_boundary(name, kwargs, match):
    be = coc.get_backend(name)
    with pytest.raises(coc.CocError, match=match):
        be.kmeans(be.uniform(30, 2, seed=0), 3, **kwargs)


@pytest.mark.parametrize("name", ["sklearn", "numpy"])
def test_cosine_silhouette_and_kmeans_agree_across_backends(name):
    be = coc.get_backend(name)
    rng = np.random.default_rng(0)
    # Three directions, each point at a random norm: clusters by angle, not by distance.
    dirs = rng.standard_normal((3, 8))
    X = np.repeat(dirs, 60, axis=0) + 0.05 * rng.standard_normal((180, 8))
    X *= rng.uniform(0.2, 5.0, size=(180, 1))
    y = np.repeat(np.arange(3), 60)
    labels, _ = be.kmeans(be.asarray(X), 3, seed=0, n_init=3, metric="cosine")
    assert adjusted_rand_score(y, be.to_numpy(labels)) == 1.0
    s = be.silhouette(be.asarray(X), be.asarray(y), metric="cosine")
    assert abs(s - silhouette_score(X, y, metric="cosine")) < 1e-10


def test_values_whose_squared_distances_overflow_are_refused():
    be = coc.get_backend("numpy")
    X = np.full((20, 4), 1e200)
    X[::2] *= -1
    with pytest.raises(coc.CocError, match="would overflow"):
        be.silhouette(X, np.arange(20) % 2)


@pytest.mark.parametrize("name,expected", [("sklearn", 1000), ("numpy", 750), ("opentsne", 750)])
def test_tsne_runs_the_engines_own_default_iterations(name, expected, monkeypatch):
    """Engines are compared as users run them: max_iter=None is each one's own default, and
    the benchmark's record of a t-SNE cell without a budget says how many ran."""
    from coc.suite.cells import Cell
    from coc.suite.runner import Setup

    be = backend_or_skip(name)
    seen = {}
    run = type(be)._tsne

    def spy(self, X, **options):
        seen.update(options)
        return run(self, X, **options)

    monkeypatch.setattr(type(be), "_tsne", spy)
    X = np.random.default_rng(0).random((60, 3))
    assert be.to_numpy(be.tsne(be.asarray(X), perplexity=5, seed=0)).shape == (60, 2)
    assert seen["max_iter"] == expected == be.tsne_max_iter
    be.tsne(be.asarray(X), perplexity=5, seed=0, max_iter=300)
    assert seen["max_iter"] == 300
    setup = Setup(skip=None, backend=be)
    assert setup.n_iter(Cell(name, "tsne", 60, 3, None, "float64", None), None) == expected
    assert setup.n_iter(Cell(name, "tsne", 60, 3, None, "float64", 400), None) == 400
