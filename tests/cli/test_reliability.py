"""Issue 14's classes of failure at the API: seeds, parameters, extreme magnitudes.

Each case is a user mistake that must end in one CocError (one ``coc: error:`` line at the
command line), never a NumPy or scikit-learn traceback or a quiet wrong value.
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest

import coc
from coc.cli import _args
from coc.kernels import data
from coc.utils.validation import MAX_SEED, CocError, check_seed

BAD_SEEDS = [-1, MAX_SEED + 1, 2**64, 1.5, "3", True]


# -- seeds -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_check_seed_refuses(seed):
    with pytest.raises(CocError, match="seed must be an integer from 0 to 4294967295"):
        check_seed(seed)


@pytest.mark.parametrize("seed", [None, 0, 7, MAX_SEED, np.int64(5), np.uint32(MAX_SEED)])
def test_check_seed_accepts(seed):
    assert check_seed(seed) == (None if seed is None else int(seed))


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_data_generators_check_the_seed(seed):
    with pytest.raises(CocError, match="seed"):
        data.uniform(10, 2, xp=np, seed=seed)
    with pytest.raises(CocError, match="seed"):
        data.blobs(2, 5, 2, 0.1, xp=np, seed=seed)
    # the largest seed is valid, and fixes the data
    np.testing.assert_array_equal(data.uniform(10, 2, xp=np, seed=MAX_SEED),
                                  data.uniform(10, 2, xp=np, seed=MAX_SEED))


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_backend_ops_check_the_seed(sklearn_backend, seed):
    X = np.random.default_rng(0).random((20, 3))
    for call in (lambda: sklearn_backend.kmeans(X, 2, seed=seed),
                 lambda: sklearn_backend.uniform(10, 2, seed=seed),
                 lambda: sklearn_backend.blobs(2, 5, 2, 0.1, seed=seed)):
        with pytest.raises(CocError, match="seed"):
            call()


@pytest.mark.parametrize("text", ["-1", "4294967296", "1e3", "x", ""])
def test_seed_option_type_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        _args.seed(text)


@pytest.mark.parametrize("text,value", [("0", 0), ("4294967295", MAX_SEED), ("1_000", 1000), (" 7 ", 7)])
def test_seed_option_type_accepts(text, value):
    assert _args.seed(text) == value


def test_seed_error_is_one_line_through_argparse(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=_args.seed)
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed", "-5"])
    assert "a seed is an integer from 0 to 4294967295, got -5" in capsys.readouterr().err
    assert coc.CocError is CocError


# -- API parameters (issue 14.6) ---------------------------------------------------------------
BACKENDS = ["sklearn", "numpy"]
Xs = np.random.default_rng(0).random((40, 3))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs,match", [
    ({"n_init": 0}, "n_init must be an integer >= 1"),
    ({"n_init": 1.5}, "n_init must be an integer >= 1"),
    ({"max_iter": 0}, "max_iter must be an integer >= 1"),
    ({"max_iter": -3}, "max_iter must be an integer >= 1"),
    ({"tol": -1}, "tol must be a finite number >= 0"),
    ({"tol": float("nan")}, "tol must be a finite number >= 0"),
    ({"tol": float("inf")}, "tol must be a finite number >= 0"),
    ({"tol": True}, "tol must be a finite number >= 0"),
])
def test_kmeans_parameters_are_checked(backend, kwargs, match):
    be = coc.get_backend(backend)
    with pytest.raises(CocError, match=match):
        be.kmeans(Xs, 3, seed=0, **kwargs)
    with pytest.raises(CocError, match=match):
        be.kmeans_result(Xs, 3, seed=0, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tsne_max_iter_is_checked(backend):
    with pytest.raises(CocError, match="max_iter must be an integer >= 1"):
        coc.get_backend(backend).tsne(Xs, perplexity=5, seed=0, max_iter=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tsne_returns_the_dtype_of_X(backend, dtype):
    from threadpoolctl import threadpool_limits

    # One OpenMP thread: on a busy shared CPU scikit-learn's spinning threads take 100x longer.
    with threadpool_limits(limits=1):
        Y = coc.get_backend(backend).tsne(Xs.astype(dtype), perplexity=5, seed=0, max_iter=250)
    assert Y.dtype == dtype
    assert Y.shape == (40, 2)
    assert np.isfinite(Y).all()


# -- extreme magnitudes (issue 14.5) -----------------------------------------------------------
def _ops(be, X):
    labels = np.arange(X.shape[0]) % 3
    return {"silhouette": lambda: be.silhouette(X, labels),
            "silhouette-cosine": lambda: be.silhouette(X, labels, metric="cosine"),
            "kmeans": lambda: be.kmeans(X, 3, seed=0),
            "kmeans_result": lambda: be.kmeans_result(X, 3, seed=0),
            "tsne": lambda: be.tsne(X, perplexity=5, seed=0, max_iter=250)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", ["silhouette", "silhouette-cosine", "kmeans", "kmeans_result", "tsne"])
@pytest.mark.parametrize("dtype,scale", [(np.float64, 1e200), (np.float64, 1e160), (np.float32, 1e19)])
def test_overflowing_magnitudes_are_refused(backend, op, dtype, scale):
    X = (Xs * scale).astype(dtype)
    with pytest.raises(CocError, match="squared distances .* would overflow"):
        _ops(coc.get_backend(backend), X)[op]()


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_but_safe_magnitudes_match_the_scaled_result(backend):
    """Just below the limit the answer is the one of the rescaled data (silhouette is scale-free)."""
    from sklearn.metrics import silhouette_score

    labels = np.arange(40) % 3
    X = Xs * 1e150
    expected = silhouette_score(Xs, labels)
    assert coc.get_backend(backend).silhouette(X, labels) == pytest.approx(expected, rel=1e-9)
