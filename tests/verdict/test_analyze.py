"""coc analyze: the verdict on the issue's cases, the report, the JSON, the figure, determinism.

The nulls are drawn a little fewer times than by default (``N_NULL``) and the candidate ks
stop at 12 to keep the suite short; the verdicts are the same as with the defaults.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import coc
from coc.verdict import analyze
from coc.verdict.stats import density_gap_ratio, gap_statistic, null_references
from coc.cli import main

N_NULL = 3
K_MAX = 12


@pytest.fixture(scope="module")
def backend():
    return coc.get_backend("cpu")


def _blobs(backend, std, seed=0):
    X, _ = backend.blobs(10, 100, 32, std, seed=seed)
    return backend.to_numpy(X)


def test_uniform_is_continuum(backend):
    X = np.random.default_rng(0).random((2000, 32))
    a = analyze(X, backend=backend, n_null=N_NULL, k_max=K_MAX)
    assert (a.verdict, a.n_clusters) == ("continuum", None)


def test_one_gaussian_is_continuum(backend):
    X = np.random.default_rng(1).standard_normal((2000, 32))
    a = analyze(X, backend=backend, n_null=N_NULL, k_max=K_MAX)
    assert (a.verdict, a.n_clusters) == ("continuum", None)


@pytest.mark.parametrize("std", [0.01, 0.3, 0.4, 0.5])
def test_notebook_blobs_are_ten_clusters(backend, std):
    a = analyze(_blobs(backend, std), backend=backend, n_null=N_NULL, k_max=K_MAX)
    assert (a.verdict, a.n_clusters) == ("clustered", 10), a.report()
    if std == 0.01:
        assert not a.weak_evidence
    assert a.labels is not None and len(np.unique(a.labels)) == 10


def test_swiss_roll_is_continuum(backend):
    from sklearn.datasets import make_swiss_roll

    X = make_swiss_roll(1500, noise=0.5, random_state=0)[0]
    a = analyze(X, backend=backend, n_null=N_NULL, k_max=K_MAX)
    assert (a.verdict, a.n_clusters) == ("continuum", None), a.report()
    # It is a density-gap step, not the silhouette, that recognizes the manifold: in the
    # plane between centroids, or along the sheet (a 2-d sheet in 3-d is thin).
    g = a.density_gap
    assert g is not None and (not g["separated"] or not g["manifold"]["separated"])


def test_cli_json_report_and_plot(tmp_path, capsys):
    X = _blobs(coc.get_backend("cpu"), 0.3, seed=2)[::2]  # 500 points: 10 blobs of about 50
    np.save(tmp_path / "b.npy", X)
    argv = ["analyze", str(tmp_path / "b.npy"), "--n-null", str(N_NULL), "--k-max", str(K_MAX)]
    assert main(argv + ["--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["verdict"] == "clustered" and first["n_clusters"] == 10
    for key in ("silhouette", "density_gap", "gap_statistic", "laplacian", "reason"):
        assert key in first
    row = first["silhouette"][0]
    assert {"k", "silhouette", "null_mean", "null_sd", "z"} <= set(row)
    # Same input and seed: same verdict and numbers.
    assert main(argv + ["--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    first.pop("elapsed_s"), second.pop("elapsed_s")
    assert first == second

    plot = tmp_path / "fig.png"
    assert main(argv + ["--plot", str(plot), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("verdict: clustered, 10 clusters")
    assert "silhouette by k" in out and "density gap" in out
    assert plot.stat().st_size > 10_000


def test_subsampling_is_reported(backend):
    X = np.random.default_rng(0).random((1200, 8))
    a = analyze(X, backend=backend, n_null=2, k_max=4, max_samples=300)
    assert a.config["n_used"] == 300 and a.config["subsampled"]
    assert "300 of 1200 points, subsampled" in a.report()


def test_bad_options_are_user_errors(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 3)))
    for extra in (["--k-max", "1"], ["--n-null", "1"], ["--backend", "nope"], ["--plot", str(tmp_path / "f.txt")]):
        assert main(["analyze", str(tmp_path / "x.npy"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("coc: error:"), err


def test_null_references_match_mean_and_covariance():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4)) @ rng.standard_normal((4, 4)) + 5
    nulls = null_references(X, 2, seed=0)
    assert nulls["gaussian"][0].shape == nulls["box"][0].shape == X.shape
    np.testing.assert_allclose(nulls["gaussian"][0].mean(0), X.mean(0), atol=0.3)
    # The box is the bounding box of the principal-component scores (Tibshirani et al.).
    _, _, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    scores, box = (X - X.mean(0)) @ Vt.T, (nulls["box"][0] - X.mean(0)) @ Vt.T
    assert np.all(box.min(0) >= scores.min(0) - 1e-9) and np.all(box.max(0) <= scores.max(0) + 1e-9)
    np.testing.assert_allclose(np.cov(nulls["gaussian"][0].T), np.cov(X.T), rtol=0.15, atol=0.15)


def test_density_gap_ratio_separated_vs_continuous():
    rng = np.random.default_rng(0)
    two = np.vstack([rng.normal(0, 0.1, (200, 2)), rng.normal(3, 0.1, (200, 2))])
    labels = np.repeat([0, 1], 200)
    assert density_gap_ratio(two, labels)[0] < 0.05
    line = np.c_[np.linspace(0, 1, 400), rng.normal(0, 0.01, 400)]
    assert density_gap_ratio(line, (line[:, 0] > 0.5).astype(int))[0] > 0.7


def test_gap_statistic_one_se_rule():
    # The gap rises to k index 2 then falls: the 1-SE rule picks index 2.
    log_w = [5.0, 4.0, 2.0, 1.9]
    log_w_null = [[5.0, 4.5, 4.2, 4.0], [5.1, 4.6, 4.3, 4.1]]
    assert gap_statistic(log_w, log_w_null)["index"] == 2


def test_phase_writes_figure_and_data(tmp_path, capsys):
    out = tmp_path / "phase"
    assert main(["phase", "--stds", "0.01,1.5", "--n-null", "2", "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "phase.json").read_text())
    assert [r["std"] for r in data["rows"]] == [0.01, 1.5]
    assert data["rows"][0]["verdict"] == "clustered" and data["rows"][0]["n_clusters"] == 10
    assert data["rows"][1]["verdict"] == "continuum"
    assert (out / "phase.png").stat().st_size > 10_000


def test_phase_resumes_an_interrupted_run(tmp_path, capsys, monkeypatch):
    import coc.verdict.phase

    real, calls = coc.verdict.phase.analyze, []

    def counting(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 2 and interrupt:
            raise KeyboardInterrupt  # Ctrl-C in the second spread
        return real(*args, **kwargs)

    monkeypatch.setattr(coc.verdict.phase, "analyze", counting)
    argv = ["phase", "--stds", "0.01,1.5", "--n-null", "2", "--no-progress"]
    out = tmp_path / "phase"
    interrupt = True
    assert main([*argv, "--out", str(out)]) == 130
    assert [p.name for p in out.iterdir()] == [".phase.partial.jsonl"]  # no outputs, one spread kept
    interrupt, calls[:] = False, []
    assert main([*argv, "--out", str(out)]) == 0
    assert len(calls) == 1 and "resuming: 1 of 2 spreads" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["phase.json", "phase.png"]
    calls[:] = []
    assert main([*argv, "--out", str(tmp_path / "fresh")]) == 0 and len(calls) == 2
    resumed, fresh = (json.loads((d / "phase.json").read_text()) for d in (out, tmp_path / "fresh"))
    assert resumed["rows"] == fresh["rows"]
    # another configuration does not take the kept spreads
    interrupt, calls[:] = True, []
    assert main([*argv, "--out", str(out)]) == 130
    interrupt, calls[:] = False, []
    assert main([*argv, "--seed", "1", "--out", str(out)]) == 0 and len(calls) == 2
