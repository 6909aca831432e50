"""Every backend's operations against the scikit-learn reference, through the public API.

The kernel tests check coc's kernels in depth; these check that each backend (including the
cuML adapter, where cuML imports) wires them up: same data on the device, results that leave
through ``to_numpy`` and agree with scikit-learn on the host.
"""
import numpy as np
import pytest
from sklearn.manifold import TSNE, trustworthiness
from sklearn.metrics import adjusted_rand_score, silhouette_score

from tests.conftest import backend_or_skip

BACKENDS = ["sklearn", "numpy", "cupy", "cuml"]
TOL = {"float64": 1e-6, "float32": 1e-4}


@pytest.fixture(params=BACKENDS)
def be(request):
    return backend_or_skip(request.param)


@pytest.fixture(scope="module")
def blobs():
    g = np.random.default_rng(7)
    centers = g.random((4, 8))
    X = np.repeat(centers, 60, axis=0) + 0.05 * g.standard_normal((240, 8))
    return X, np.repeat(np.arange(4), 60)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_silhouette_matches_sklearn(be, blobs, dtype):
    X, y = blobs
    labels = (y + np.arange(240) % 3) % 5  # a deliberately poor, uneven labelling
    ref = silhouette_score(X.astype(dtype), labels)
    got = be.silhouette(be.asarray(X, dtype=dtype), be.asarray(labels))
    assert isinstance(got, float)
    assert got == pytest.approx(ref, abs=TOL[dtype])


def test_kmeans_recovers_well_separated_blobs(be, blobs):
    X, y = blobs
    labels, inertia = be.kmeans(be.asarray(X), 4, seed=0)
    labels = be.to_numpy(labels)
    assert adjusted_rand_score(y, labels) == 1.0
    centers = np.stack([X[labels == j].mean(0) for j in range(4)])
    assert inertia == pytest.approx(((X - centers[labels]) ** 2).sum(), rel=1e-4)


def test_tsne_keeps_neighbourhoods_like_sklearn(be, blobs):
    X, _ = blobs
    Y = be.to_numpy(be.tsne(be.asarray(X), perplexity=20, seed=0))
    assert Y.shape == (240, 2) and np.isfinite(Y).all()
    ref = TSNE(perplexity=20, init="pca", random_state=0).fit_transform(X)
    assert trustworthiness(X, Y, n_neighbors=10) >= trustworthiness(X, ref, n_neighbors=10) - 0.02


def test_generation_on_device_is_seeded(be):
    a = be.to_numpy(be.uniform(100, 3, seed=5))
    b = be.to_numpy(be.uniform(100, 3, seed=5))
    np.testing.assert_array_equal(a, b)
    X, y = be.blobs(3, 10, 2, 0.0, seed=5)
    X, y = be.to_numpy(X), be.to_numpy(y)
    assert len(np.unique(X, axis=0)) == 3 and list(np.bincount(y)) == [10, 10, 10]


def test_tsne_of_one_column_starts_at_random(be):
    # PCA of one column has one component: every backend starts such data at random, where
    # scikit-learn's own PCA start raised (`coc experiment --dim 1` ended in a traceback)
    g = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 30)
    X = (10.0 * y + g.standard_normal(90))[:, None]
    Y = be.to_numpy(be.tsne(be.asarray(X), perplexity=10, seed=0, max_iter=500))
    assert Y.shape == (90, 2) and np.isfinite(Y).all()
    d = ((Y[:, None] - Y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (y[d.argmin(1)] == y).mean() >= 0.95  # nearest neighbours stay in their group
