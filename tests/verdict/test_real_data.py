"""coc analyze on real data that ships with scikit-learn, against each data set's accepted answer.

Each test runs the command's defaults (``coc.analyze(X)``), as a user would. The accepted
answer and its source are in each test's comment; where it is ambiguous (breast cancer), only
that the verdict does not depend on the seed.
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import datasets
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from coc.verdict import analyze


def _standardized(load):
    return StandardScaler().fit_transform(load().data.astype(np.float64))


def test_digits_are_about_ten_clusters():
    # 1797 8x8 images of the digits 0-9 (UCI "Optical Recognition of Handwritten Digits",
    # Alpaydin and Kaynak 1998): 10 classes, about 180 images each, which separate well in 64-d.
    # Accepted: 8 to 14 groups. The labels say 10, but a density-based count need not follow
    # them: the 1 is written in distinct styles (with and without the base stroke) that lie
    # apart in pixel space, the 5 splits in two likewise, and 3, 8 and 9 touch (a count that
    # merges two of them gives 8 or 9). More than 14 would be pieces of digits, fewer than 8
    # digits merged; the groups must also follow the digits (adjusted Rand index against the
    # labels).
    digits = datasets.load_digits()
    a = analyze(digits.data.astype(np.float64))
    assert a.verdict == "clustered" and 8 <= a.n_clusters <= 14, a.report()
    assert not a.n_clusters_is_lower_bound
    assert adjusted_rand_score(digits.target, a.labels_) > 0.5


def test_wine_standardized_is_three_clusters():
    # 178 wines from three cultivars of one Italian region, 13 chemical measurements (UCI
    # "Wine", Forina et al.): standardized, the three cultivars are classes that nearly every
    # classifier separates without error (scikit-learn's load_wine description). Accepted: 3.
    a = analyze(_standardized(datasets.load_wine))
    assert (a.verdict, a.n_clusters) == ("clustered", 3), a.report()
    assert adjusted_rand_score(datasets.load_wine().target, a.labels_) > 0.7


def test_iris_standardized_is_two_clusters():
    # Fisher's (1936) 150 irises, 4 measurements, 3 species. scikit-learn's load_iris
    # description: "One class is linearly separable from the other 2; the latter are NOT
    # linearly separable from each other." Versicolor and virginica overlap, so the groups
    # separated by low density are two: setosa and the rest. Accepted: 2, setosa alone.
    iris = datasets.load_iris()
    a = analyze(_standardized(datasets.load_iris))
    assert (a.verdict, a.n_clusters) == ("clustered", 2), a.report()
    setosa = a.labels_[iris.target == 0]
    assert len(np.unique(setosa)) == 1 and not np.isin(setosa[0], a.labels_[iris.target != 0])


@pytest.mark.xfail(strict=True, reason="known: the pooled density ratio at k = 3 is 0.574 at every seed, "
                   "but the stricter null's mean from five draws moves from 0.75 to 0.98 with the seed, "
                   "so ratio / mean (0.59-0.77) crosses GAP_FRACTION (0.65) and the verdict flips "
                   "(results/count/seeds.md, docs/verdict.md)")
def test_breast_cancer_verdict_is_stable_across_seeds():
    # 569 tumours, 30 features of cell nuclei (Wisconsin Diagnostic Breast Cancer, Street,
    # Wolberg and Mangasarian 1993), malignant or benign: two classes that overlap in feature
    # space, so clustered-into-2 and continuum are both defensible. Accepted: whatever the
    # verdict, the same for seeds 0 to 3. Today seeds 0 and 2 give a continuum, 1 and 3 three
    # clusters (results/count/seeds.md; strict: the day it passes, the mark must go).
    X = _standardized(datasets.load_breast_cancer)
    verdicts = {(a.verdict, a.n_clusters) for a in (analyze(X, seed=seed) for seed in range(4))}
    assert len(verdicts) == 1, verdicts
