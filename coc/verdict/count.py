"""How many clusters, the density gap, the merging of pieces no gap separates and the
thin-manifold check: the pieces of the rule of :mod:`coc.verdict.decision` that are told there
(steps 2, 3 and 4); its constants live there too, the derivation in docs/verdict.md.
"""
from __future__ import annotations

import numpy as np

from coc.verdict.manifold import (
    LOW_DIMENSION,
    local_dimension,
    manifold_gap_ratio,
    pc_scores,
    signal_dimension,
)
from coc.verdict.stats import density_gap_ratio, touching_ratios

#: How each count was reached, for the report.
COUNT_REASONS = {
    "gap": "has the largest gap statistic of the ks whose silhouette beats data without clusters, "
           "and a silhouette excess close to the best",
    "excess": "has the largest silhouette excess over data without clusters",
}


def choose_k(candidates, gap, *, agreement: float) -> tuple:
    """The number of clusters among the candidate ks.

    Parameters
    ----------
    candidates : list of KRow
        The ks whose silhouette is clearly above the nulls' (at least one).
    gap : dict
        The gap statistic: ``gap``, aligned with ``ks`` (k = 1 first).
    agreement : float
        The gap's k is taken when its silhouette excess is at least this fraction of the
        largest excess; otherwise the k of the largest excess.

    Returns
    -------
    chosen : KRow
    how : str
        ``"gap"`` or ``"excess"``: which statistic named k (a key of :data:`COUNT_REASONS`).
    """
    by_excess = max(candidates, key=lambda r: r.excess)
    gap_at = dict(zip(gap["ks"], gap["gap"]))
    by_gap = max(candidates, key=lambda r: gap_at[r.k])
    if by_gap.excess >= agreement * by_excess.excess:
        return by_gap, "gap"
    return by_excess, "excess"


def merge_pieces(X, labels, nulls: dict, *, min_size: int) -> dict:
    """Merge the pieces of an over-clustering that no low-density gap separates.

    Every pair of pieces that touch (:func:`coc.verdict.stats.touching_ratios`: a kNN-graph
    edge joins them and the midpoint of their centroids lies on their common boundary) has a
    boundary/centroid density ratio. Splitting structureless data gives pieces whose ratios
    are all positive; the pieces of one null draw stay joined by the links of ratio at least
    its *bottleneck* (the weakest link of the maximum spanning tree: the largest threshold at
    which the draw is still one group). The threshold is the smallest bottleneck over every
    null draw: a link weaker than any structureless split needs is a gap. Pieces joined by
    links at or above it are one group (connected components); a group under ``min_size``
    points is outliers and joins the group nearest its centroid.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
        The over-clustering (integer labels).
    nulls : dict
        Null kind -> list of ``(Y, labels)``, each draw and its KMeans labels at the same k.
    min_size : int

    Returns
    -------
    dict
        ``labels`` (groups 0..n-1, numbered by first appearance), ``n_groups``, ``n_pieces``,
        ``threshold``, ``null`` (kind -> each draw's bottleneck), ``links`` (the pairs of
        pieces measured and their ratio), ``n_gaps`` (links below the threshold).
    """
    _, pieces = np.unique(labels, return_inverse=True)
    k = int(pieces.max()) + 1
    links = touching_ratios(X, pieces)
    null = {kind: [bottleneck(touching_ratios(Y, np.unique(lab, return_inverse=True)[1]), len(np.unique(lab)))
                   for Y, lab in draws] for kind, draws in nulls.items()}
    threshold = min(min(v) for v in null.values())
    root = _components(k, [pair for pair, r in links.items() if r >= threshold])
    groups = np.unique(root, return_inverse=True)[1][pieces]
    groups = _absorb_small(X, groups, min_size)
    return {"labels": groups, "n_groups": int(groups.max()) + 1, "n_pieces": k, "threshold": threshold,
            "null": null, "links": [[int(i), int(j), round(float(r), 4)] for (i, j), r in sorted(links.items())],
            "n_gaps": int(sum(r < threshold for r in links.values()))}


def bottleneck(links: dict, k: int) -> float:
    """The largest threshold at which the links at or above it still join all ``k`` pieces.

    Parameters
    ----------
    links : dict
        ``(i, j) -> ratio`` between pieces that touch.
    k : int
        The number of pieces.

    Returns
    -------
    float
        The weakest link of the maximum spanning tree; 0 when the links never join all the
        pieces (infinite for a single piece).
    """
    parent = list(range(k))
    left = k
    for (i, j), r in sorted(links.items(), key=lambda item: -item[1]):
        a, b = _find(parent, i), _find(parent, j)
        if a != b:
            parent[a] = b
            left -= 1
            if left == 1:
                return float(r)
    return 0.0 if k > 1 else float("inf")


def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def _components(k, pairs):
    """The root piece of each of ``k`` pieces once ``pairs`` are joined."""
    parent = list(range(k))
    for i, j in pairs:
        a, b = _find(parent, i), _find(parent, j)
        if a != b:
            parent[a] = b
    return np.array([_find(parent, a) for a in range(k)])


def _absorb_small(X, groups, min_size):
    """Groups under ``min_size`` points join the group whose centroid is nearest theirs (a few
    outliers are no cluster); then numbered 0..n-1 by first appearance."""
    while True:
        counts = np.bincount(groups)
        present = np.flatnonzero(counts)
        small = [g for g in present if counts[g] < min_size]
        if not small or len(present) == 1:
            break
        g = min(small, key=lambda g: counts[g])
        centers = {h: X[groups == h].mean(axis=0) for h in present}
        others = [h for h in present if h != g]
        target = min(others, key=lambda h: float(((centers[h] - centers[g]) ** 2).sum()))
        groups = np.where(groups == g, target, groups)
    _, first = np.unique(groups, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[np.unique(groups, return_inverse=True)[1]]


def beats_nulls(ratio: float, null_ratio: dict, *, fraction: float, rank: int = 0) -> tuple:
    """Whether a density ratio shows a gap the nulls do not.

    Parameters
    ----------
    ratio : float
        The data's boundary/centroid density ratio.
    null_ratio : dict
        Null kind -> the same ratio on each draw.
    fraction : float
    rank : int
        How many null draws may lie below the ratio (0: it must be below every one).

    Returns
    -------
    separated : bool
        The ratio lies below all null ratios but ``rank`` and below ``fraction`` times the
        stricter null's mean (the lower one).
    null_mean, null_min : float
    """
    all_null = np.sort(np.concatenate([np.asarray(v, dtype=float) for v in null_ratio.values()]))
    null_mean = min(float(np.nanmean(v)) for v in null_ratio.values())
    null_min = float(np.nanmin(all_null))
    bound = all_null[min(rank, len(all_null) - 1)]
    return bool(ratio < bound and ratio < fraction * null_mean), null_mean, null_min


def density_gap_test(X, labels, nulls: dict, *, gap_agrees: bool, fraction: float,
                     fraction_with_gap: float) -> dict:
    """Step 3: is there more empty space between neighbouring clusters than splitting gives?

    The boundary/centroid density ratio (:func:`coc.verdict.stats.density_gap_ratio`) of the
    data at the chosen k, against the same ratio on every null draw split by KMeans at that k
    (:func:`beats_nulls`): below every null and ``fraction`` of the stricter null's mean; or,
    when the gap statistic's 1-SE rule names the same k (``gap_agrees``), below all nulls but
    one and ``fraction_with_gap`` of that mean. Two estimators that agree on k are evidence of
    discrete clusters; on a continuum (a curve, a swiss roll) the gap keeps rising and its
    1-SE k runs away from the count.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
    nulls : dict
        Null kind -> list of ``(Y, labels)``, each draw and its KMeans labels at that k.
    gap_agrees : bool
        The gap statistic's 1-SE rule names the chosen k.
    fraction, fraction_with_gap : float

    Returns
    -------
    dict
        ``ratio``, ``n_pairs``, ``null`` (kind -> ratios), ``null_mean``, ``null_min``,
        ``separated`` and ``test`` (which of the two tests was passed or last tried).
    """
    ratio, n_pairs = density_gap_ratio(X, labels)
    null_ratio = {kind: [density_gap_ratio(Y, lab)[0] for Y, lab in draws] for kind, draws in nulls.items()}
    separated, null_mean, null_min = beats_nulls(ratio, null_ratio, fraction=fraction)
    test = "every null"
    if not separated and gap_agrees:
        separated = beats_nulls(ratio, null_ratio, fraction=fraction_with_gap, rank=1)[0]
        test = "all nulls but one, the gap statistic naming the same k"
    return {"ratio": ratio, "n_pairs": n_pairs, "null": null_ratio, "null_mean": null_mean,
            "null_min": null_min, "separated": separated, "test": test}


def separation(Xs, labels, k, scans, nulls, gap, *, min_size, fraction, fraction_with_gap):
    """Step 3: the density gap at the chosen k; when it fails, the pieces no gap separates are
    merged (:func:`merge_pieces`) and the groups take the same test (:func:`density_gap_test`).

    Parameters
    ----------
    Xs : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
        The clusters at the chosen k.
    k : int
    scans : dict
        ``(name, i) -> cluster_scan`` of the data (``("data", 0)``) and of every null draw.
    nulls : dict
        Null kind -> the draws.
    gap : dict
        The gap statistic (``ks`` from 1, ``k`` its 1-SE choice).
    min_size : int
    fraction, fraction_with_gap : float

    Returns
    -------
    count : int or None
        None: no gap, neither between the clusters nor between merged groups.
    evidence : dict
        The test that decided (with ``merge`` when the pieces were merged).
    merged : np.ndarray or None
        The merged groups' labels; None when the chosen clustering itself passed.
    """
    ks = gap["ks"][1:]

    def at(n):
        j = ks.index(n)
        return {kind: [(Y, scans[kind, i]["labels"][j]) for i, Y in enumerate(nulls[kind])] for kind in nulls}

    def test(lab, n):
        info = density_gap_test(Xs, lab, at(n), gap_agrees=gap["k"] == n, fraction=fraction,
                                fraction_with_gap=fraction_with_gap)
        info.update(k=n)
        return info

    info = test(labels, k)
    if info["separated"]:
        return k, info, None
    # The data are cut as every null draw is (the scan's KMeans), so that their links compare.
    merge = merge_pieces(Xs, scans["data", 0]["labels"][ks.index(k)], at(k), min_size=min_size)
    n, groups = merge.pop("n_groups"), merge.pop("labels")
    info["merge"] = dict(merge, n_groups=n)
    if not 2 <= n < k:
        return None, info, None
    merged = test(groups, n)
    merged["merge"], merged["chosen"] = info["merge"], {key: info[key] for key in ("k", "ratio", "null_mean")}
    return (n, merged, groups) if merged["separated"] else (None, merged, None)


def thin_manifold_test(X, labels, nulls: dict, *, seed: int, min_signal: int, max_local: float,
                       fraction: float) -> dict | None:
    """The density gap measured along a thin manifold, or None when the data are not thin.

    The data are thin when at least ``min_signal`` principal components stand above the noise
    (:func:`coc.verdict.manifold.signal_dimension`) and, locally, the points fill at most
    ``max_local`` of them and at least one fewer than there are
    (:func:`coc.verdict.manifold.local_dimension`); data in at most
    :data:`coc.verdict.manifold.LOW_DIMENSION` dimensions are always tested. Then the
    boundary/centroid density ratio is measured in the signal subspace, each point's density
    from its 10th neighbor with the local dimension as exponent
    (:func:`coc.verdict.manifold.manifold_gap_ratio`), on the data and on every null draw
    (each in as many of its own first principal components), and the clusters must beat the
    nulls there as well (:func:`beats_nulls`).

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
        The clusters at the chosen k.
    nulls : dict
        Null kind -> list of ``(Y, labels)``, each draw and its KMeans labels at that k.
    seed : int
    min_signal : int
    max_local, fraction : float

    Returns
    -------
    dict or None
        ``signal_dimension``, ``local_dimension``, ``ratio``, ``null`` (kind -> ratios),
        ``null_mean`` and ``separated``.
    """
    q = signal_dimension(X)
    if q < min_signal:
        return None
    dim = local_dimension(pc_scores(X, q), seed=seed)
    # In a few dimensions the kNN density is reliable, so every shape is measured along
    # itself; in more, only data filling locally at least one direction fewer than their
    # signal (Gaussian clusters fill all of theirs).
    if not (dim <= max_local and (X.shape[1] <= LOW_DIMENSION or dim <= q - 1)):
        return None
    ratio = manifold_gap_ratio(pc_scores(X, q), labels, exponent=dim)
    null_ratio = {kind: [manifold_gap_ratio(pc_scores(Y, q), lab, exponent=dim) for Y, lab in draws]
                  for kind, draws in nulls.items()}
    separated, null_mean, _ = beats_nulls(ratio, null_ratio, fraction=fraction)
    return {"signal_dimension": q, "local_dimension": dim, "ratio": ratio, "null": null_ratio,
            "null_mean": null_mean, "separated": separated}
