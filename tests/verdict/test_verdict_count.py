"""How many clusters ``coc analyze`` names, and thin continua in high dimension (issue 13).

A few draws of each of Tibshirani, Walther and Hastie's five simulations (the first draws of
``bench/count_scenarios.py``, whose 50-draw table is the committed benchmark), the unequal
anisotropic clusters, and curves and a sheet embedded in many dimensions.
"""
from __future__ import annotations

import numpy as np
import pytest

from coc.verdict import scenarios
from coc.verdict import analyze
from coc.verdict.count import bottleneck, choose_k, merge_pieces
from coc.verdict.decision import GAP_AGREEMENT
from coc.verdict.manifold import (
    local_dimension,
    manifold_gap_ratio,
    pc_scores,
    signal_dimension,
)
from coc.verdict.result import KRow
from coc.verdict.stats import slab_ratio

N_NULL = 3
ORDER = list(scenarios.TIBSHIRANI) + list(scenarios.EXTRA)


def _draw(key, i):
    make = {**scenarios.TIBSHIRANI, **scenarios.EXTRA}[key][1]
    return make(np.random.default_rng([2001, ORDER.index(key), i]))


def _count(X, seed=0):
    a = analyze(X, k_max=10, n_null=N_NULL, seed=seed)
    return (1 if a.verdict == "continuum" else a.n_clusters), a


@pytest.mark.parametrize("key", list(scenarios.TIBSHIRANI))
def test_tibshirani_scenarios(key):
    for i in range(2):
        X, truth = _draw(key, i)
        k, a = _count(X, seed=i)
        assert k == truth, (key, i, a.report())


def test_unequal_anisotropic_clusters_are_three():
    X, truth = _draw("unequal", 0)
    k, a = _count(X)
    assert k == truth == 3, a.report()
    # The sizes are 20, 80 and 300: the labels find them.
    assert sorted(np.bincount(a.labels)) == [20, 80, 300]


@pytest.mark.parametrize("key", ["curve32", "curve256", "sheet64"])
def test_thin_continua_in_high_dimension(key):
    X, truth = _draw(key, 0)
    k, a = _count(X)
    assert (a.verdict, k) == ("continuum", truth), a.report()


def test_scenario_shapes_follow_the_paper():
    rng = np.random.default_rng(0)
    X, t = scenarios.three_clusters_2d(rng)
    assert X.shape == (100, 2) and t == 3
    np.testing.assert_allclose(X[50:].mean(0), [5, -3], atol=0.5)
    X, t = scenarios.four_clusters_10d(rng)
    assert X.shape[1] == 10 and X.shape[0] in range(100, 201, 25) and t == 4
    X, t = scenarios.two_elongated_3d(rng)
    assert X.shape == (200, 3) and t == 2
    # Each feature is the same t in [-0.5, 0.5] plus small noise; the second copy is shifted by 10.
    assert np.abs(X[:100, 0] - X[:100, 1]).max() < 1.0
    np.testing.assert_allclose(X[100:].mean(0) - X[:100].mean(0), 10, atol=0.1)


def _row(k, excess):
    return KRow(k, 0.5, {}, {}, 10.0, excess, True)


def test_choose_k_takes_the_gap_unless_the_silhouette_objects():
    gap = {"ks": [1, 2, 3, 4], "gap": [0.0, 0.5, 0.9, 1.0]}
    rows = [_row(2, 0.20), _row(3, 0.30), _row(4, 0.28)]
    # The gap is largest at 4 and its excess is within GAP_AGREEMENT of the best (3).
    assert 0.28 >= GAP_AGREEMENT * 0.30
    assert choose_k(rows, gap, agreement=GAP_AGREEMENT) == (rows[2], "gap")
    rows[2] = _row(4, 0.10)
    assert choose_k(rows, gap, agreement=GAP_AGREEMENT) == (rows[1], "excess")


def test_signal_and_local_dimension():
    rng = np.random.default_rng(0)
    # Three strong directions in 40-d noise.
    X = rng.standard_normal((600, 40)) * 0.1
    X[:, :3] += rng.standard_normal((600, 3)) * [3.0, 2.0, 1.5]
    assert signal_dimension(X) == 3
    blob = pc_scores(X, 3)
    assert local_dimension(blob) > 2.5
    # A helix: three signal directions, one locally.
    t = rng.random(600) * 4 * np.pi
    helix = np.c_[np.cos(t), np.sin(t), 0.3 * t] + rng.normal(0, 0.01, (600, 3))
    assert local_dimension(helix) < 1.5


def test_manifold_gap_ratio_separated_vs_continuous():
    rng = np.random.default_rng(0)
    t = np.sort(rng.random(400))
    curve = np.c_[np.cos(3 * t), np.sin(3 * t), t] + rng.normal(0, 0.01, (400, 3))
    halves = np.repeat([0, 1], 200)  # t is sorted: the first and second half of the curve
    assert manifold_gap_ratio(curve, halves, exponent=1.0) > 0.7
    two = np.vstack([curve[:200], curve[200:] + 5.0])
    assert manifold_gap_ratio(two, halves, exponent=1.0) < 0.05


def test_overlapping_clusters_in_ten_dimensions():
    # Draws of (d) whose dip between clusters is shallow (two below one null draw each): the
    # gap statistic finds structure, so a dip below all nulls but one counts; and one whose
    # fourth cluster stands 3.9 null sds out (counted: the data are already shown clustered).
    for i in (42, 47, 48):
        X, truth = _draw("d", i)
        a = analyze(X, k_max=10, n_null=5, seed=i)
        assert (a.verdict, a.n_clusters) == ("clustered", truth), (i, a.report())


def test_a_skewed_blob_is_a_continuum():
    # KMeans cuts a log-normal blob along its tail; the density falls from piece to piece
    # but never dips, which only the geometric mean of the two sides reads right.
    X = np.exp(np.random.default_rng(0).normal(0, 0.7, (1500, 8)))
    a = analyze(X, n_null=N_NULL, seed=0)
    assert a.verdict == "continuum", a.report()


def test_far_outliers_are_not_clusters():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.standard_normal((1000, 16)), 60 + rng.standard_normal((3, 16))])
    a = analyze(X, n_null=N_NULL, seed=0)
    assert a.verdict == "continuum", a.report()
    assert a.rows[0].smallest == 3 and not a.rows[0].significant  # k=2 splits off the outliers
    assert "smallest cluster has 3 points" in a.reason and "(a cluster of 3)" in a.report()
    # A real cluster of a few dozen points still counts.
    Y = np.vstack([rng.standard_normal((1000, 16)), 60 + rng.standard_normal((40, 16))])
    b = analyze(Y, n_null=N_NULL, seed=0)
    assert (b.verdict, b.n_clusters) == ("clustered", 2), b.report()


def test_slab_ratio_reads_a_fall_as_no_gap():
    t = np.linspace(-0.2, 1.2, 1401)
    falling = np.exp(-4 * t)  # a density that falls from one centroid to the other
    assert slab_ratio(falling, t) == pytest.approx(1.0, rel=0.05)
    gap = np.where(np.abs(t - 0.5) < 0.15, 0.02, 1.0)  # the same level on both sides, empty between
    assert slab_ratio(gap, t) == pytest.approx(0.02)
    # against the arithmetic mean of the sides, the fall would have read as a deep dip
    boundary = falling[np.abs(t - 0.5) < 0.1].mean()
    assert boundary / ((falling[np.abs(t) < 0.1].mean() + falling[np.abs(t - 1) < 0.1].mean()) / 2) < 0.3
    assert slab_ratio(falling, t[t > 2]) is None


def test_a_noisy_arc_in_many_dimensions_is_a_continuum():
    # A quarter circle in 384-d, too noisy across for the thin-manifold step: its density dip
    # is shallow, as between overlapping clusters, but the gap statistic keeps rising (its
    # 1-SE k runs far from the count), so the second dip test must not apply.
    Z = scenarios.noisy_arc()
    a = analyze(Z, metric="cosine", seed=0)
    assert a.verdict == "continuum", a.report()
    assert a.density_gap is not None and a.gap_statistic["k"] > 5


def test_bottleneck_is_the_weakest_link_of_the_maximum_spanning_tree():
    links = {(0, 1): 0.9, (1, 2): 0.2, (0, 2): 0.5}
    assert bottleneck(links, 3) == 0.5  # 0-1 and 0-2 hold all three; 1-2 is not needed
    assert bottleneck({(0, 1): 0.9}, 3) == 0.0  # piece 2 is never joined


def test_merge_pieces_joins_the_pieces_of_each_cluster():
    # Two far blobs, each cut in two: the halves of a blob touch with no gap, the blobs do not
    # touch. Nulls: Gaussians matched to the data, cut by KMeans the same way.
    from sklearn.cluster import KMeans

    from coc.verdict.stats import null_references

    rng = np.random.default_rng(0)
    X = np.vstack([rng.standard_normal((300, 4)), 12 + rng.standard_normal((300, 4))])
    cut = lambda Y: KMeans(4, n_init=3, random_state=0).fit_predict(Y)  # noqa: E731
    nulls = {kind: [(Y, cut(Y)) for Y in draws] for kind, draws in null_references(X, 3, 0).items()}
    merged = merge_pieces(X, cut(X), nulls, min_size=5)
    assert (merged["n_pieces"], merged["n_groups"]) == (4, 2)
    assert sorted(np.bincount(merged["labels"])) == [300, 300]
    assert merged["labels"][0] != merged["labels"][-1] and len(set(merged["labels"][:300])) == 1
    # One blob cut in four stays one group.
    Y = rng.standard_normal((600, 4))
    one = {kind: [(Z, cut(Z)) for Z in draws] for kind, draws in null_references(Y, 3, 0).items()}
    assert merge_pieces(Y, cut(Y), one, min_size=5)["n_groups"] == 1
