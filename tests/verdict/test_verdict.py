"""coc analyze at the edges: degenerate data, the cosine metric, the labels out, wide data.

Small sizes and few null draws keep this file to seconds; every expectation is a known
geometry (identical points, point masses, rays) or a reference (scikit-learn's silhouette).
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

import coc
from coc.cli import main
from coc.verdict.plot import plot_analysis, plot_silhouette
from coc.verdict.space import project

FAST = dict(n_null=2, k_max=6)


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def _blobs(n_per, centers, std, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.asarray(centers, dtype=float)
    X = np.vstack([rng.normal(c, std, (n_per, centers.shape[1])) for c in centers])
    return X, np.repeat(np.arange(len(centers)), n_per)


def _rays(n_per=120, n_dir=4, dim=16, seed=0):
    """Points on rays: the direction is the cluster, the norm (0.2 to 5) is noise."""
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(n_dir, dim))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_dir), n_per)
    X = (D[y] + rng.normal(0, 0.08, (len(y), dim))) * rng.uniform(0.2, 5, (len(y), 1))
    return X, y


# -- degenerate data ------------------------------------------------------------------------
def test_identical_points_are_a_stated_continuum(tmp_path, capsys):
    X = np.full((200, 5), 3.0)
    a = _no_warnings(coc.analyze, X, **FAST)
    assert (a.verdict, a.n_clusters) == ("continuum", None)
    assert "identical" in a.reason and a.rows == []
    assert np.array_equal(a.labels_, np.full(200, -1))
    np.save(tmp_path / "x.npy", X)
    plot = tmp_path / "x.png"
    assert main(["analyze", str(tmp_path / "x.npy"), "--plot", str(plot), "--n-null", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("verdict: continuum") and "identical" in out
    assert "Warning" not in err and plot.stat().st_size > 5_000


def test_identical_directions_are_a_stated_continuum_for_cosine():
    X = np.outer(np.linspace(1, 5, 50), np.ones(4))
    a = coc.analyze(X, metric="cosine", **FAST)
    assert a.verdict == "continuum" and "same direction" in a.reason
    fig = plot_analysis(a, X, backend=coc.get_backend("sklearn"))
    assert "no t-SNE: 1 distinct" in fig.axes[1].texts[0].get_text()


def test_point_masses_cap_k_and_warn_nothing(capsys):
    X = np.repeat(np.eye(5)[:3] * 5, 40, axis=0)
    a = _no_warnings(coc.analyze, X, n_null=2, k_max=50)
    assert (a.verdict, a.n_clusters) == ("clustered", 3)
    assert a.config["ks"] == [2, 3]
    assert any("--k-max 50" in note and "3 distinct points" in note for note in a.notes)
    assert "note: --k-max 50" in a.report()


def test_k_max_above_the_points_is_said(tmp_path, capsys):
    X = np.random.default_rng(0).random((40, 3))
    np.save(tmp_path / "x.npy", X)
    assert main(["analyze", str(tmp_path / "x.npy"), "--k-max", "500", "--n-null", "2", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["config"]["ks"][-1] == 39
    assert err.count("coc: note:") == 1 and "--k-max 500" in err


def test_zero_variance_columns_change_nothing():
    X, y = _blobs(80, [[0, 0, 0], [4, 0, 0], [0, 4, 0]], 0.3)
    padded = np.hstack([X, np.full((len(X), 2), 7.0)])
    a = _no_warnings(coc.analyze, padded, **FAST)
    b = coc.analyze(X, **FAST)
    assert (a.verdict, a.n_clusters) == (b.verdict, b.n_clusters) == ("clustered", 3)
    assert adjusted_rand_score(y, a.labels_) == 1.0


def test_one_column_with_plot(tmp_path, capsys):
    X, _ = _blobs(100, [[0.0], [5.0]], 0.1)
    np.save(tmp_path / "one.npy", X)
    plot = tmp_path / "one.png"
    assert main(["analyze", str(tmp_path / "one.npy"), "--plot", str(plot), "--n-null", "2", "--k-max", "5"]) == 0
    assert capsys.readouterr().out.startswith("verdict: clustered, 2 clusters")
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize("name", ["sklearn", "numpy"])
def test_degenerate_data_on_each_cpu_backend(name):
    be = coc.get_backend(name)
    a = _no_warnings(coc.analyze, np.zeros((30, 4)), backend=be, **FAST)
    assert a.verdict == "continuum"
    b = _no_warnings(coc.analyze, np.repeat(np.eye(3) * 4, 20, axis=0), backend=be, **FAST)
    assert b.n_clusters == 3


# -- the cosine metric --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sklearn", "numpy"])
@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-6), ("float32", 1e-4)])
def test_cosine_silhouette_parity(name, dtype, rtol):
    X, y = _rays(n_per=60, n_dir=3, dim=8)
    be = coc.get_backend(name)
    Xb = be.asarray(X, dtype=dtype)
    got = be.silhouette(Xb, be.asarray(y), metric="cosine")
    want = silhouette_score(X, y, metric="cosine")
    assert got == pytest.approx(want, rel=rtol, abs=rtol)
    # Not the Euclidean silhouette under another name: the rays' norms make them differ.
    assert abs(want - silhouette_score(X, y)) > 0.1


def test_cosine_finds_clusters_of_directions():
    X, y = _rays()
    a = coc.analyze(X, metric="cosine", n_null=3, k_max=8)
    assert (a.verdict, a.n_clusters) == ("clustered", 4), a.report()
    assert adjusted_rand_score(y, a.labels_) == 1.0
    assert a.config["metric"] == "cosine"


def test_cosine_refuses_zero_rows():
    X, _ = _rays(n_per=10)
    X[3] = 0
    with pytest.raises(coc.CocError, match="1 of 40 rows are all zero"):
        coc.analyze(X, metric="cosine")


# -- labels out -----------------------------------------------------------------------------
def test_labels_for_every_row_beyond_the_subsample():
    X, y = _blobs(200, [[0, 0], [6, 0], [0, 6]], 0.5, seed=1)
    a = coc.analyze(X, max_samples=150, **FAST)
    assert a.n_clusters == 3 and a.config["subsampled"]
    assert a.labels_.shape == (600,) and adjusted_rand_score(y, a.labels_) == 1.0
    np.testing.assert_array_equal(a.labels_[a.sample_index], a.labels)


def test_cli_labels_out_npy_csv_and_json(tmp_path, capsys):
    X, y = _rays(n_per=50, n_dir=3)
    np.save(tmp_path / "x.npy", X)
    argv = ["analyze", str(tmp_path / "x.npy"), "--metric", "cosine", "--n-null", "2", "--k-max", "5"]
    assert main(argv + ["--labels-out", str(tmp_path / "l.npy"), "--json"]) == 0
    from_json = json.loads(capsys.readouterr().out)["labels"]
    assert main(argv + ["--labels-out", str(tmp_path / "l.csv")]) == 0
    from_npy = np.load(tmp_path / "l.npy")
    from_csv = np.loadtxt(tmp_path / "l.csv", skiprows=1, dtype=np.int64)
    assert (tmp_path / "l.csv").read_text().startswith("label\n")
    assert from_npy.dtype == np.int64 and len(from_npy) == len(X)
    np.testing.assert_array_equal(from_npy, from_csv)
    assert from_json == from_npy.tolist() and adjusted_rand_score(y, from_npy) == 1.0


def test_continuum_labels_are_minus_one():
    a = coc.analyze(np.random.default_rng(0).random((300, 4)), **FAST)
    assert a.verdict == "continuum" and set(a.labels_.tolist()) == {-1}
    assert a.to_dict()["labels"] == [-1] * 300


def test_outputs_are_checked_before_the_analysis(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 3)))
    (tmp_path / "file").write_text("")
    plot = tmp_path / "fig.png"
    cases = [
        (["--labels-out", str(tmp_path / "file" / "l.npy"), "--plot", str(plot)], "--labels-out"),
        (["--labels-out", str(tmp_path / "l.txt")], "--labels-out"),
        (["--plot", str(tmp_path / "file" / "f.png")], "--plot"),
        (["--labels-out", str(tmp_path / "x.npy")], "input file"),
    ]
    for extra, said in cases:
        assert main(["analyze", str(tmp_path / "x.npy"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("coc: error:") and said in err[0], err
        assert "--out" not in err[0]
    assert not plot.exists()


# -- records, figure, wide data -----------------------------------------------------------------
def test_result_record_and_figure():
    X, _ = _blobs(60, [[0, 0], [5, 5]], 0.3)
    a = coc.analyze(X, **FAST)
    assert isinstance(a.to_dict(), dict) and isinstance(a.to_json(), str)
    assert json.loads(a.to_json()) == json.loads(json.dumps(a.to_dict()))
    assert a.to_dict()["weak_evidence"] is a.weak_evidence is a.weak
    fig = plot_analysis(a, X, backend=coc.get_backend("sklearn"))
    assert len(fig.axes) == 2
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert plot_silhouette(a, ax=ax) is ax and len(ax.lines) >= 3


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_projection_keeps_distances_of_low_rank_data(metric):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 300)) + 3.0
    if metric == "cosine":
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y, kept = project(X, metric, 10)
    assert Y.shape == (200, 10) and kept == pytest.approx(1.0)
    if metric == "euclidean":
        d = lambda Z: ((Z[:, None] - Z[None]) ** 2).sum(-1)  # noqa: E731
        np.testing.assert_allclose(d(Y), d(X), atol=1e-8 * d(X).max())
    else:
        np.testing.assert_allclose(Y @ Y.T, X @ X.T, atol=1e-10)


def test_wide_data_run_on_principal_components():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1, (3, 300))
    X, y = _blobs(60, centers, 0.3, seed=2)
    a = coc.analyze(X, **FAST)
    assert a.config["n_components"] == 128 and 0 < a.config["variance_kept"] <= 1
    assert a.n_clusters == 3 and adjusted_rand_score(y, a.labels_) == 1.0
    assert "principal components" in a.report()


def test_input_checked_once_at_the_boundary(monkeypatch):
    """Every backend call inside the analysis skips its input check (issue 12): the one check
    of X is coc.analyze's own."""
    import coc.backends.base as base

    def refuse(*args, **kwargs):
        raise AssertionError("a backend op re-checked its input")

    monkeypatch.setattr(base, "check_X", refuse)
    monkeypatch.setattr(base, "check_X_and_labels", refuse)  # the silhouette's check of both
    X, _ = _blobs(60, [[0, 0], [5, 5], [0, 5]], 0.3)
    for name in ("sklearn", "numpy"):
        a = coc.analyze(X, backend=name, **FAST)
        assert a.n_clusters == 3
    X[5, 1] = np.nan
    with pytest.raises(coc.CocError, match="NaN"):
        coc.analyze(X)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_assign_all_takes_the_nearest_present_centre(metric):
    from coc.verdict.space import assign_all, metric_space

    X, y = _rays(n_per=30, n_dir=3, dim=5) if metric == "cosine" else _blobs(30, [[0, 0], [9, 0], [0, 9]], 0.2)
    idx = np.arange(0, len(X), 3)
    Xs = metric_space(X[idx], metric)
    # Cluster 1 holds no analyzed point: it has no centre, and no row may take it.
    labels = np.where(y[idx] == 1, 0, y[idx])
    out = assign_all(X, Xs, labels, 3, metric=metric, sample_index=idx)
    np.testing.assert_array_equal(out[idx], labels)
    assert 1 not in out and np.array_equal(out[y == 2], np.full((y == 2).sum(), 2))


def test_wide_data_is_projected_without_a_dim_cubed_step(monkeypatch):
    # an eigh of the (dim x dim) Gram matrix took minutes at 8,000 columns, even for 12 rows
    import coc.verdict.space as space

    real = np.linalg.eigh

    def small_only(a, *args, **kwargs):
        assert a.shape[0] <= space.EXACT_AXES_MAX_DIM, f"an eigh of {a.shape}"
        return real(a, *args, **kwargs)

    monkeypatch.setattr(space.np.linalg, "eigh", small_only)
    g = np.random.default_rng(0)
    # rank 10 in 4,000 columns: the projection keeps every distance
    Z = g.standard_normal((200, 10)) @ g.standard_normal((10, 4000)) + 1e-3 * g.standard_normal((200, 4000))
    Y, kept = space.project(Z, "euclidean", 128)
    ref = np.sqrt(((Z[:, None] - Z[None]) ** 2).sum(-1))
    got = np.sqrt(((Y[:, None] - Y[None]) ** 2).sum(-1))
    assert kept > 0.9999 and np.abs(got - ref).max() < 1e-4 * ref.max()
    a = coc.analyze(g.standard_normal((12, 8000)).astype(np.float32), n_null=2)
    assert a.verdict == "continuum"
