"""Issue 26's classes of failure: a size that cannot fit, a list with an empty item, NaN
labels, and a threshold the library takes unchecked where the command line checks it.

Each is a user mistake that must end in one CocError (one ``coc: error:`` line, exit 2, nothing
written), never a traceback or a quiet wrong value.
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest

import coc
from coc.cli import _args
from coc.suite.gate import gate
from coc.suite.sweep import run_sweep
from coc.utils.validation import CocError, check_fits, check_ratio

BACKENDS = ["sklearn", "numpy"]


def _one_error_line(done):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coc: error: "), done.stderr
    return lines[0]


# -- a size that cannot fit ----------------------------------------------------------------------
def test_check_fits_names_the_job_and_both_sizes():
    check_fits(10, 11, what="a job")
    with pytest.raises(CocError, match=r"a job needs about 2\.0 GiB of memory; 1\.0 GiB are available"):
        check_fits(2 * 2**30, 2**30, what="a job")


@pytest.mark.parametrize("backend", BACKENDS)
def test_generation_refuses_what_cannot_fit(backend):
    be = coc.get_backend(backend)
    with pytest.raises(CocError, match="uniform points needs about .* of memory"):
        be.uniform(10**9, 32, seed=0)
    with pytest.raises(CocError, match="blob points in 32 dimensions needs about"):
        be.blobs(10, 10**8, 32, 0.3, seed=0)
    # the same check passes what fits
    assert be.to_numpy(be.uniform(100, 4, seed=0)).shape == (100, 4)


def test_generation_check_uses_the_backends_free_memory(monkeypatch):
    be = coc.get_backend("numpy")
    monkeypatch.setattr(type(be), "free_memory", lambda self: 1000 * 4 * 16 - 1)
    with pytest.raises(CocError, match="memory"):
        be.uniform(1000, 4, seed=0, dtype="float64")  # 1000 x 4 x (8 + 8) bytes
    monkeypatch.setattr(type(be), "free_memory", lambda self: 1000 * 4 * 16)
    be.uniform(1000, 4, seed=0, dtype="float64")


def test_experiment_too_big_is_one_line_and_writes_nothing(coc_cmd, tmp_path):
    out = tmp_path / "exp"
    line = _one_error_line(coc_cmd(["experiment", "--n-samples", "1000000000", "--out", out, "--no-progress"]))
    assert "coc experiment at 1000000000 x 32 needs about" in line and "GiB" in line
    assert not out.exists() or not any(out.iterdir())


def test_a_memory_error_anywhere_is_one_line(monkeypatch, capsys):
    import coc.cli
    import coc.cli.experiment as command

    def boom(*args, **kwargs):
        np.empty((2**62,), dtype=np.uint8)  # NumPy's own MemoryError, with its message

    monkeypatch.setattr(command, "run_experiment", boom)
    assert coc.cli.main(["experiment", "--out", "unused-folder", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coc: error: not enough memory"), err


# -- comma lists ---------------------------------------------------------------------------------
@pytest.mark.parametrize("parse", [_args.str_list, _args.int_list, _args.float_list])
@pytest.mark.parametrize("text", ["2,,3", "2,3,", ",2", ",", "", " , 2"])
def test_an_empty_list_item_is_refused(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match="no empty item"):
        parse(text)


@pytest.mark.parametrize("parse,text,value", [
    (_args.int_list, " 2, 10_000 ", [2, 10000]),
    (_args.float_list, "0.01,0.3", [0.01, 0.3]),
    (_args.str_list, "sklearn, numpy", ["sklearn", "numpy"]),
])
def test_lists_still_parse(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("args", [
    ["experiment", "--ks", "2,,3"],
    ["experiment", "--stds", "0.1,"],
    ["phase", "--stds", ",0.3"],
    ["sweep", "--n-samples", "100,,200"],
    ["sweep", "--backends", "numpy,,sklearn"],
    ["sweep", "--max-iter", "kmeans=5,,tsne=5"],
])
def test_commands_refuse_an_empty_item(coc_cmd, tmp_path, args):
    line = _one_error_line(coc_cmd([*args, "--out", tmp_path / "out"]))
    assert "no empty item" in line
    assert not (tmp_path / "out").exists()


# -- labels --------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", [*BACKENDS, "strict"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_silhouette_refuses_nan_or_inf_labels(backend, bad):
    if backend == "strict":
        from coc.testing import StrictBackend
        be = StrictBackend()
    else:
        be = coc.get_backend(backend)
    X = be.asarray(np.random.default_rng(0).random((30, 3)))
    labels = np.r_[np.zeros(15), np.ones(14), bad]
    with pytest.raises(CocError, match="labels hold NaN or inf for 1 of the 30 points"):
        be.silhouette(X, be.asarray(labels))


def test_float_labels_that_are_finite_still_score_as_scikit_learn():
    from sklearn.metrics import silhouette_score

    X = np.random.default_rng(1).random((40, 3))
    labels = np.r_[np.zeros(20), np.full(20, 2.5)]
    assert coc.get_backend("numpy").silhouette(X, labels) == pytest.approx(silhouette_score(X, labels), abs=1e-9)


# -- thresholds the library takes ----------------------------------------------------------------
@pytest.mark.parametrize("ratio", [float("nan"), -1, 0, float("inf"), True, "1.2", None])
def test_gate_refuses_a_ratio_that_is_not_one(ratio):
    with pytest.raises(CocError, match="fail_above must be a finite ratio > 0"):
        gate([], [], fail_above=ratio)


def test_check_ratio_accepts_ratios():
    assert check_ratio(1.2, name="x") == 1.2 and check_ratio(np.float32(2), name="x") == 2.0


@pytest.mark.parametrize("ratio", ["nan", "-1", "0", "inf"])
def test_compare_fail_above_is_the_same_rule(coc_cmd, tmp_path, ratio):
    (tmp_path / "a.jsonl").write_text("")
    line = _one_error_line(coc_cmd(["compare", tmp_path / "a.jsonl", tmp_path / "a.jsonl", "--fail-above", ratio]))
    assert "--fail-above must be a finite ratio > 0" in line


@pytest.mark.parametrize("repeats", [0, -2, 1.5])
def test_run_sweep_refuses_a_bad_repeat_count(tmp_path, repeats):
    with pytest.raises(CocError, match="repeats must be an integer >= 1"):
        run_sweep([], tmp_path / "sweep", profile=None, repeats=repeats, progress=False)
    assert not (tmp_path / "sweep").exists()
