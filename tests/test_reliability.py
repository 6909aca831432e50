"""Issue 14's classes of failure at the API: seeds, parameters, extreme magnitudes.

Each case is a user mistake that must end in one CocError (one ``coc: error:`` line at the
command line), never a NumPy or scikit-learn traceback or a quiet wrong value.
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest

import coc
from coc import _args, data
from coc.validation import MAX_SEED, CocError, check_seed

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
    assert "seed must be an integer from 0 to" in capsys.readouterr().err
    assert coc.CocError is CocError
