"""Every bad input of the API raises CocError (a ValueError) with a message that says what is wrong."""
import numpy as np
import pytest

import coc
from coc.verdict.experiment import run_experiment


@pytest.fixture(params=["sklearn", "numpy"])
def be(request):
    return coc.get_backend(request.param)


@pytest.fixture
def X():
    return np.random.default_rng(0).random((50, 3))


@pytest.mark.parametrize("k, match", [(1, ">= 2"), (0, ">= 2"), (50, "< n_samples"), (60, "< n_samples"), (2.5, "integer")])
def test_bad_k(be, X, k, match):
    with pytest.raises(coc.CocError, match=match):
        be.kmeans(X, k)


@pytest.mark.parametrize("call, match", [
    (lambda be: be.uniform(1, 3), "n_samples must be an integer >= 2"),
    (lambda be: be.uniform(10, 0), "dim must be an integer >= 1"),
    (lambda be: be.blobs(3, 10, 0, 0.1), "dim must be"),
    (lambda be: be.blobs(3, 10, 4, -0.1), "std must be a finite number >= 0"),
    (lambda be: be.blobs(3, 10, 4, float("nan")), "std must be"),
    (lambda be: be.uniform(10, 3, dtype="int32"), "float32 or float64"),
])
def test_bad_generation(be, call, match):
    with pytest.raises(coc.CocError, match=match):
        call(be)


def test_perplexity_too_large(be, X):
    with pytest.raises(coc.CocError, match="perplexity must be < n_samples"):
        be.tsne(X, perplexity=50)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("op", ["kmeans", "silhouette", "tsne"])
def test_nan_or_inf_in_X(be, X, value, op):
    X[[3, 7], 1] = value
    call = {
        "kmeans": lambda: be.kmeans(X, 2),
        "silhouette": lambda: be.silhouette(X, np.arange(50) % 2),
        "tsne": lambda: be.tsne(X, perplexity=5),
    }[op]
    with pytest.raises(coc.CocError, match="NaN or inf in 2 of its 50 rows"):
        call()


def test_X_shape_checks(be):
    with pytest.raises(coc.CocError, match="2-D"):
        be.kmeans(np.zeros(10), 2)
    with pytest.raises(coc.CocError, match="at least 2"):
        be.silhouette(np.zeros((1, 3)), np.zeros(1))


@pytest.mark.parametrize("labels, match", [
    (np.arange(49) % 2, "one label per point"),
    (np.zeros(50, dtype=int), "distinct labels"),
    (np.arange(50), "distinct labels"),
])
def test_bad_labels(be, X, labels, match):
    with pytest.raises(coc.CocError, match=match):
        be.silhouette(X, labels)


def test_experiment_checks_everything_before_work():
    be = coc.get_backend("sklearn")
    with pytest.raises(coc.CocError, match="< n_samples"):
        run_experiment(be, n_samples=30, dim=4, ks=[2, 40])
    with pytest.raises(coc.CocError, match="perplexity"):
        run_experiment(be, n_samples=20, dim=4, ks=[2])
    with pytest.raises(coc.CocError, match="at least the number of centers"):
        run_experiment(be, n_samples=5, dim=4, ks=[2], tsne=False)
