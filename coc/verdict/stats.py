"""The statistics behind the verdict: subsample, null references, KMeans scan, gap statistic,
density gap and the kNN-graph Laplacian. Each is a plain function of NumPy arrays (the scan
runs on a backend); the decision that combines them lives in :mod:`coc.verdict.decision`.
"""
from __future__ import annotations

import numpy as np

from coc.kernels.distances import sq_distances

#: The null references drawn to match the data (see :func:`null_references`).
NULL_KINDS = ("gaussian", "box")


def subsample(n_samples: int, max_samples: int, seed) -> np.ndarray | None:
    """Seeded random indices of at most ``max_samples`` rows, sorted; None when all fit."""
    if n_samples <= max_samples:
        return None
    rng = np.random.default_rng([seed, 1])
    return np.sort(rng.choice(n_samples, size=max_samples, replace=False))


def null_references(X: np.ndarray, n_null: int, seed) -> dict:
    """Draw reference data without clusters, matched to ``X``.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    n_null : int
        Draws of each reference.
    seed : int

    Returns
    -------
    dict
        ``{"gaussian": [...], "box": [...]}``, each a list of ``n_null`` float64 arrays shaped
        like ``X``: a Gaussian with the data's mean and covariance, and points uniform in the
        bounding box of the data's principal-component scores, rotated back.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    mean = X.mean(axis=0)
    Xc = X - mean
    # The SVD gives the principal axes and the scale of each at once (n >= d or not).
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    scale = s / np.sqrt(max(n - 1, 1))
    scores = Xc @ Vt.T
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    out = {kind: [] for kind in NULL_KINDS}
    for i in range(n_null):
        rng = np.random.default_rng([seed, 2, i])
        out["gaussian"].append(mean + (rng.standard_normal((n, len(s))) * scale) @ Vt)
        out["box"].append(mean + rng.uniform(lo, hi, size=(n, len(s))) @ Vt)
    return out


def cluster_scan(backend, X, ks, *, seed=0, n_init=1, metric="euclidean") -> dict:
    """KMeans at each k, its silhouette and log inertia.

    ``X`` must already be checked (finite, 2-D) and, for ``metric="cosine"``, hold unit
    rows: the calls here skip the backend's input check.

    Parameters
    ----------
    backend : coc.Backend
    X : backend array of shape (n_samples, dim)
    ks : sequence of int
        Each below the number of distinct rows of ``X``.
    seed, n_init : int
        The KMeans seed and restarts; the same for the data and every null draw.
    metric : {"euclidean", "cosine"}

    Returns
    -------
    dict
        ``silhouette`` and ``log_inertia`` (lists aligned with ``ks``), ``log_inertia_1`` (the
        total sum of squares, k = 1), ``labels`` (host int arrays, one per k).
    """
    xp = backend.xp
    centered = X - xp.mean(X, axis=0)
    total = float(backend.to_numpy(xp.sum(centered * centered)))
    sil, logw, labels = [], [], []
    for k in ks:
        km = backend.kmeans_result(X, k, seed=seed, n_init=n_init, metric=metric, check_input=False)
        lab = backend.to_numpy(km.labels).astype(np.int64)
        # The labels come to the host anyway; counting them there costs no device read.
        sil.append(backend.silhouette(X, km.labels, metric=metric, check_input=False)
                   if n_distinct_labels(lab, k) >= 2 else 0.0)
        logw.append(float(np.log(max(km.inertia, 1e-300))))
        labels.append(lab)
    return {"silhouette": sil, "log_inertia": logw, "log_inertia_1": float(np.log(max(total, 1e-300))),
            "labels": labels}


def n_distinct_labels(labels: np.ndarray, k: int) -> int:
    """How many of the labels 0..k-1 occur in the host array ``labels``."""
    return int(np.count_nonzero(np.bincount(labels, minlength=k)))


def gap_statistic(log_w_data, log_w_null) -> dict:
    """Tibshirani, Walther and Hastie's gap statistic with the 1-SE rule.

    Parameters
    ----------
    log_w_data : sequence of float, length m
        log within-cluster sum of squares of the data at k = ks[0] .. ks[m-1], ks[0] == 1.
    log_w_null : array of shape (n_null, m)
        The same for each reference draw.

    Returns
    -------
    dict
        ``gap``, ``s`` (the standard error with the simulation term, s_k), and ``index``: the
        smallest index i with gap[i] >= gap[i+1] - s[i+1] (the last index if none).
    """
    log_w_null = np.asarray(log_w_null, dtype=float)
    B = log_w_null.shape[0]
    gap = log_w_null.mean(axis=0) - np.asarray(log_w_data, dtype=float)
    s = log_w_null.std(axis=0) * np.sqrt(1 + 1 / B)
    index = len(gap) - 1
    for i in range(len(gap) - 1):
        if gap[i] >= gap[i + 1] - s[i + 1]:
            index = i
            break
    return {"gap": gap.tolist(), "s": s.tolist(), "index": int(index)}


def density_gap_ratio(X: np.ndarray, labels: np.ndarray, *, n_neighbors: int = 10) -> tuple[float, int]:
    """How empty the space between neighboring clusters is, pooled over neighboring pairs.

    Each cluster is paired with the cluster it touches most (:func:`_neighbor_pairs`), each
    pair's ratio is :func:`pair_ratio`, and the ratios are pooled by the pairs' points.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
    n_neighbors : int

    Returns
    -------
    ratio : float
        Near 1 (or more) for adjacent pieces of a continuum, near 0 for separated clusters.
    n_pairs : int
    """
    ids, labels = np.unique(labels, return_inverse=True)
    k = len(ids)
    if k < 2:
        return float("nan"), 0
    centers = _centers(X, labels, k)
    pairs = _neighbor_pairs(X, labels, centers, n_neighbors=n_neighbors)
    total = weight = 0.0
    for i, j in sorted(pairs):
        ratio, size = pair_ratio(X, labels, centers, i, j, n_neighbors=n_neighbors)
        if ratio is None:
            continue
        total += ratio * size
        weight += size
    return (float(total / weight) if weight else float("nan")), len(pairs)


def pair_ratio(X, labels, centers, i, j, *, n_neighbors: int = 10) -> tuple[float | None, int]:
    """The boundary/centroid density ratio of clusters ``i`` and ``j``, and their points.

    The points of the pair are projected on a plane: the line through the two centroids
    (scaled so that one is at t = 0 and the other at t = 1) and the main direction of the
    points off that line. Each point's density in that plane is estimated from the distance
    to its ``n_neighbors``-th neighbor; the ratio compares the mean density of the points near
    the boundary (``|t - 0.5| < 0.1``) with the geometric mean of those near the two centroids
    (:func:`slab_ratio`). The second axis is there for curved shapes: a curve crosses the
    boundary slab obliquely, so counting points along the line alone would show a dip that is
    not there, while its density along the curve is unchanged. None when the pair has too few
    points or no points near either centroid.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
        Integer labels 0..k-1.
    centers : np.ndarray of shape (k, dim)
        Each cluster's centroid.
    i, j : int
        The two clusters.
    n_neighbors : int

    Returns
    -------
    ratio : float or None
    n_points : int
        The points of the pair (the weight of its ratio when ratios are pooled).
    """
    from scipy.spatial import cKDTree

    v = centers[j] - centers[i]
    length = float(np.sqrt(v @ v))
    P = X[(labels == i) | (labels == j)] - centers[i]
    if length <= 0 or len(P) <= n_neighbors + 1:
        return None, len(P)
    u = v / length
    t = P @ u / length
    R = P - np.outer(P @ u, u)
    R -= R.mean(axis=0)
    w = _top_direction(R)
    Y = np.column_stack([t, R @ w / length])
    r = cKDTree(Y).query(Y, k=n_neighbors + 1)[0][:, -1]
    return slab_ratio(1.0 / np.maximum(r, 1e-12) ** 2, t), len(P)


def touching_ratios(X: np.ndarray, labels: np.ndarray, *, n_neighbors: int = 10) -> dict:
    """The density ratio (:func:`pair_ratio`) of every pair of clusters that touch.

    Two clusters touch when an edge of the ``n_neighbors``-nearest-neighbor graph joins
    them; clusters that share no edge are apart, and their pair is not measured.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
        Integer labels 0..k-1.
    n_neighbors : int

    Returns
    -------
    dict
        ``(i, j) -> ratio`` for each touching pair, ``i < j`` (pairs whose ratio cannot be
        measured, too few points, are left out).
    """
    labels = np.asarray(labels)
    k = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=k)
    centers = _centers(X, labels, k)
    edges = _edges(X, labels, k, n_neighbors=n_neighbors) * _facing(centers)
    out = {}
    for i, j in zip(*np.nonzero(np.triu(edges, 1))):
        if counts[i] and counts[j]:
            ratio = pair_ratio(X, labels, centers, int(i), int(j), n_neighbors=n_neighbors)[0]
            if ratio is not None:
                out[int(i), int(j)] = ratio
    return out


def _facing(centers):
    """Cluster x cluster: whether the midpoint of two centroids is nearer to them than to any
    other centroid (the Gabriel graph of the centroids). Only then does the slab between them
    lie on their common boundary; otherwise a third cluster holds it and the pair's slab
    is empty whatever the density there."""
    C = np.asarray(centers, dtype=float)
    half = sq_distances(C, C, xp=np) / 4
    k = len(C)
    out = np.zeros((k, k), dtype=np.int64)
    # One row at a time: the midpoints of i with every j against every centroid, (k, k, dim)
    # at most, where all pairs at once would hold k^3 x dim numbers.
    for i in range(k):
        to_mid = (((C[i] + C)[:, None, :] / 2 - C[None, :, :]) ** 2).sum(-1)  # (j, l)
        to_mid[:, i] = np.inf
        to_mid[np.arange(k), np.arange(k)] = np.inf
        out[i] = to_mid.min(axis=1) >= half[i] * (1 - 1e-9)
    return out


def _centers(X, labels, k):
    counts = np.bincount(labels, minlength=k)
    centers = np.zeros((k, X.shape[1]))
    np.add.at(centers, labels, X)
    return centers / np.maximum(counts, 1)[:, None]


def _edges(X, labels, k, *, n_neighbors):
    """Cluster x cluster: how many kNN-graph edges join them (symmetric, zero diagonal)."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(n_neighbors, len(X) - 1)).fit(X)
    neighbors = nn.kneighbors(return_distance=False)
    edges = np.zeros((k, k), dtype=np.int64)
    np.add.at(edges, (np.repeat(labels, neighbors.shape[1]), labels[neighbors].ravel()), 1)
    edges = edges + edges.T
    np.fill_diagonal(edges, 0)
    return edges


def slab_ratio(density: np.ndarray, t: np.ndarray) -> float | None:
    """The mean density of the points near the boundary (``|t - 0.5| < 0.1``) over the
    geometric mean of the densities near the two centroids (``|t| < 0.1``, ``|t - 1| < 0.1``).

    A gap is a density lower than on both sides of it. A density that merely falls from one
    centroid to the other, as along the tail of a skewed blob that KMeans cut in pieces, falls
    about exponentially, so halfway it is about the geometric mean of its ends: a ratio near 1.
    Against the arithmetic mean the dense side would dominate and the fall would read as a
    gap. One side alone when the other has no points near its centroid; None when neither has.
    """
    sides = [density[near].mean() for near in (np.abs(t) < 0.1, np.abs(t - 1) < 0.1) if near.any()]
    if not sides:
        return None
    boundary = np.abs(t - 0.5) < 0.1
    return float(density[boundary].sum() / max(boundary.sum(), 1) / np.exp(np.mean(np.log(sides))))


def _neighbor_pairs(X, labels, centers, *, n_neighbors):
    """Each cluster paired with the cluster it touches most in the data.

    Touching is counted by the edges of the kNN graph between the two clusters, so that on a
    folded manifold (a swiss roll) a piece is paired with the next piece along the sheet, not
    with the piece across the fold that happens to have a nearer centroid. A cluster with no
    edge to any other (well separated) is paired with the cluster second-nearest to most of
    its points.
    """
    k = len(centers)
    edges = _edges(X, labels, k, n_neighbors=n_neighbors)
    D = sq_distances(X, centers, xp=np)
    D[np.arange(len(X)), labels] = np.inf
    second = np.zeros((k, k), dtype=np.int64)
    np.add.at(second, (labels, D.argmin(axis=1)), 1)
    second = second + second.T
    np.fill_diagonal(second, -1)
    pairs = set()
    for i in range(k):
        j = int(edges[i].argmax()) if edges[i].max() > 0 else int(second[i].argmax())
        pairs.add((min(i, j), max(i, j)))
    return pairs


def _top_direction(R: np.ndarray) -> np.ndarray:
    """The unit direction of largest variance of the rows of ``R`` (a few power iterations)."""
    C = R.T @ R
    w = np.linalg.eigh(C)[1][:, -1] if C.shape[0] <= 256 else _power(C)
    return w


def _power(C, n_iter=50):
    w = np.random.default_rng(0).standard_normal(C.shape[0])
    for _ in range(n_iter):
        w = C @ w
        w /= np.linalg.norm(w) or 1.0
    return w


def laplacian_spectrum(X: np.ndarray, *, n_neighbors: int = 10, n_eigs: int = 21) -> dict:
    """Smallest eigenvalues of the symmetric normalized Laplacian of the kNN graph.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
        Already subsampled: the decomposition is dense.
    n_neighbors : int
    n_eigs : int

    Returns
    -------
    dict
        ``eigenvalues`` (ascending), ``k`` (the count before the largest eigengap among the
        first ``n_eigs``), ``eigengap`` and ``n_components`` of the graph.
    """
    from scipy.sparse.csgraph import connected_components, laplacian
    from sklearn.neighbors import kneighbors_graph

    n = X.shape[0]
    n_neighbors = min(n_neighbors, n - 1)
    A = kneighbors_graph(X, n_neighbors, mode="connectivity", include_self=False)
    A = A.maximum(A.T)
    n_components = int(connected_components(A, directed=False)[0])
    L = laplacian(A.astype(float), normed=True).toarray()
    eigs = np.linalg.eigvalsh(L)[: min(n_eigs, n)]
    gaps = np.diff(eigs)
    k = int(gaps.argmax()) + 1
    return {"eigenvalues": [round(float(e), 6) for e in eigs], "k": k, "eigengap": float(gaps.max()),
            "n_components": n_components, "n_points": n, "n_neighbors": n_neighbors}
