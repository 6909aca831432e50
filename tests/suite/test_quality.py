"""coc.suite.quality: each score against scikit-learn or known geometry, and in a sweep's records."""
import json

import numpy as np
import pytest
from scipy.spatial.distance import squareform
from sklearn.cluster import KMeans
from sklearn.manifold._t_sne import _joint_probabilities, _kl_divergence
from sklearn.metrics import pairwise_distances

from coc.suite import quality
from coc.cli import main


def test_inertia_matches_sklearns_own():
    X = np.random.default_rng(0).random((300, 5))
    km = KMeans(4, n_init=1, random_state=0).fit(X)
    assert quality.inertia(X, km.labels_) == pytest.approx(km.inertia_, rel=1e-6)


def test_kmeans_quality_ratio_and_ari():
    g = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 50)
    X = g.random((3, 4))[y] * 10 + 0.1 * g.standard_normal((150, 4))
    ref = quality.sklearn_kmeans_labels(X, 3, seed=0, n_init=1, max_iter=30, tol=None)
    q = quality.kmeans_quality(X, ref, k=3, seed=0, max_iter=30, y=y)
    assert q["inertia_ratio"] == pytest.approx(1.0) and q["ari"] == pytest.approx(1.0)
    bad = np.roll(y, 7)  # a worse labelling: more inertia, lower ARI
    q = quality.kmeans_quality(X, bad, k=3, seed=0, max_iter=30, y=y)
    assert q["inertia_ratio"] > 2 and q["ari"] < 0.9
    assert quality.kmeans_quality(X, bad, k=3, seed=0, is_reference=True)["inertia_ratio"] == 1.0


def test_silhouette_quality_diff_and_its_size_limit(monkeypatch):
    X = np.random.default_rng(2).random((100, 3))
    labels = np.arange(100) % 3
    from sklearn.metrics import silhouette_score

    s = silhouette_score(X, labels)
    assert quality.silhouette_quality(X, labels, s + 0.01)["silhouette_diff"] == pytest.approx(0.01)
    monkeypatch.setattr(quality, "SILHOUETTE_REFERENCE_MAX_N", 50)
    q = quality.silhouette_quality(X, labels, s)
    assert q["silhouette_diff"] is None and "no scikit-learn reference" in q["note"]


def test_exact_affinities_and_kl_match_sklearns_exact_tsne_objective():
    g = np.random.default_rng(3)
    X, Y = g.standard_normal((300, 6)), g.standard_normal((300, 2))
    P = quality.exact_affinities(X, 20.0)
    ref = _joint_probabilities(pairwise_distances(X, squared=True).astype(np.float32), 20.0, 0)
    assert P == pytest.approx(squareform(ref), abs=1e-7)
    kl_ref, _ = _kl_divergence(Y.ravel(), ref, 1, 300, 2, compute_error=True)
    assert quality.kl_divergence(P, Y) == pytest.approx(kl_ref, rel=1e-5)


def test_knn_preservation_of_known_embeddings():
    X = np.random.default_rng(4).random((200, 2))
    assert quality.knn_preservation(X, X * 3 + 1) == 1.0  # a similarity keeps every neighbour
    shuffled = np.random.default_rng(5).permutation(X)
    assert quality.knn_preservation(X, shuffled) < 0.2


def test_subsample_is_fixed_and_bounded():
    a, b = quality.subsample(20_000), quality.subsample(20_000)
    assert np.array_equal(a, b) and a.size == quality.SUBSAMPLE and np.all(np.diff(a) > 0)
    assert np.array_equal(quality.subsample(100), np.arange(100))


def test_sweep_records_quality_and_algorithm(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["sweep", "--backends", "sklearn,numpy", "--ops", "generate,kmeans,silhouette,tsne",
                 "--n-samples", "300", "--dims", "4", "--max-iter", "kmeans=20,tsne=500",
                 "--repeats", "1", "--no-progress", "--out", str(out)]) == 0
    recs = {(r["backend"], r["op"]): r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert recs["sklearn", "generate"]["quality"] is None
    assert recs["sklearn", "kmeans"]["quality"]["inertia_ratio"] == 1.0
    assert recs["sklearn", "kmeans"]["algorithm"].startswith("k-means++")
    assert recs["numpy", "kmeans"]["quality"]["inertia_ratio"] == pytest.approx(1.0, abs=0.05)
    assert abs(recs["numpy", "silhouette"]["quality"]["silhouette_diff"]) < 1e-4
    for b in ("sklearn", "numpy"):
        q = recs[b, "tsne"]["quality"]
        assert 0.2 < q["knn_preservation"] <= 1 and 0 < q["kl"] < 2, q  # random: ~0.03, ~2.2
        assert recs[b, "tsne"]["max_iter"] == 500
    assert "Barnes-Hut" in recs["sklearn", "tsne"]["algorithm"]
    table = (out / "table.md").read_text()
    assert "· I×1.000" in table and "· Δs 0" in table and "· nn " in table and "Δs = silhouette" in table
