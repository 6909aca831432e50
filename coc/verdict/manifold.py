"""Thin continua: data that vary along a few directions of a curved, low-dimensional manifold.

A curve or a sheet embedded in many dimensions is a continuum, but the density-gap test of
:func:`coc.verdict.stats.density_gap_ratio` can be fooled by it: that test measures density in
a plane (the line between two centroids and the main direction off it), and a curve that
leaves the plane crosses it fast in some places and slowly in others, which looks like a
dip. This module measures density *along* the manifold instead:

* :func:`signal_dimension`: how many principal components stand above the noise (the
  Marchenko-Pastur edge of a noise level estimated by the median eigenvalue);
* :func:`local_dimension`: how many directions the data fill locally, as the median
  participation ratio of local PCA over seeded neighbourhoods (about 1 on a curve, 2 on a
  sheet, the full signal dimension inside a Gaussian blob);
* :func:`manifold_gap_ratio`: the boundary/centroid density ratio of neighbouring clusters,
  with each point's density from its k-th neighbour in the signal subspace and the
  exponent of the local dimension (density on a d-dimensional manifold falls as r^-d).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from coc.verdict.stats import _neighbor_pairs as neighbor_pairs
from coc.verdict.stats import slab_ratio

#: Local PCA runs around at most this many seeded points.
N_LOCAL_CENTERS = 100
#: A neighbourhood holds this fraction of the points (and at least ``MIN_LOCAL``).
LOCAL_FRACTION = 0.2
MIN_LOCAL = 20
#: Data in this many dimensions or fewer are all signal.
LOW_DIMENSION = 3


def signal_dimension(X: np.ndarray) -> int:
    """The number of principal components above the noise.

    The noise level is the median eigenvalue of the covariance (most directions of an
    embedding carry noise); a component counts as signal when its eigenvalue exceeds the
    upper edge of the Marchenko-Pastur law for that level, ``median * (1 + sqrt(dim / n))^2``.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)

    Returns
    -------
    int
        0 for white noise. In at most ``LOW_DIMENSION`` dimensions there is no noise floor to
        estimate and every direction counts as signal.
    """
    n, d = X.shape
    if d <= LOW_DIMENSION:
        return d
    lam = _eigenvalues(X)[: max(min(n - 1, d), 1)]
    noise = float(np.median(lam))
    return int((lam > noise * (1 + np.sqrt(d / n)) ** 2).sum())


def pc_scores(X: np.ndarray, n_components: int) -> np.ndarray:
    """The first ``n_components`` principal-component scores of ``X``."""
    Xc = X - X.mean(axis=0)
    _, V = np.linalg.eigh(Xc.T @ Xc)
    return Xc @ V[:, ::-1][:, :n_components]


def local_dimension(Y: np.ndarray, *, seed: int = 0) -> float:
    """Median participation ratio ``(sum l)^2 / sum l^2`` of local PCA.

    Parameters
    ----------
    Y : np.ndarray of shape (n_samples, q)
        Usually the signal principal-component scores.
    seed : int
        Picks the neighbourhood centres.

    Returns
    -------
    float
        About 1 on a curve, 2 on a sheet, ``q`` in an isotropic blob.
    """
    from sklearn.neighbors import NearestNeighbors

    m = len(Y)
    n_local = min(m, max(MIN_LOCAL, int(LOCAL_FRACTION * m)))
    rng = np.random.default_rng([seed, 5])
    centers = rng.choice(m, size=min(N_LOCAL_CENTERS, m), replace=False)
    hoods = NearestNeighbors(n_neighbors=n_local).fit(Y).kneighbors(Y[centers], return_distance=False)
    ratios = []
    for idx in hoods:
        lam = _eigenvalues(Y[idx])
        total = lam.sum()
        if total > 0:
            ratios.append(total ** 2 / (lam ** 2).sum())
    return float(np.median(ratios)) if ratios else float("nan")


def manifold_gap_ratio(Y: np.ndarray, labels: np.ndarray, *, exponent: float,
                       n_neighbors: int = 10) -> float:
    """Density at the boundary between neighbouring clusters over that near their centroids.

    As :func:`coc.verdict.stats.density_gap_ratio` (the same pairs, the same slabs along the
    line between centroids), but each point's density is ``r^-exponent`` with ``r`` its
    distance to its ``n_neighbors``-th neighbour among the pair's points in all of ``Y``'s
    coordinates, so that density is measured along a curved manifold, not across a plane.

    Parameters
    ----------
    Y : np.ndarray of shape (n_samples, q)
    labels : np.ndarray of shape (n_samples,)
    exponent : float
        The manifold's dimension.
    n_neighbors : int

    Returns
    -------
    float
        Near 1 for adjacent pieces of a continuum, near 0 for separated clusters; NaN with
        fewer than two clusters.
    """
    ids, labels = np.unique(labels, return_inverse=True)
    k = len(ids)
    if k < 2:
        return float("nan")
    counts = np.bincount(labels, minlength=k)
    centers = np.zeros((k, Y.shape[1]))
    np.add.at(centers, labels, Y)
    centers /= counts[:, None]
    total = weight = 0.0
    for i, j in sorted(neighbor_pairs(Y, labels, centers, n_neighbors=n_neighbors)):
        v = centers[j] - centers[i]
        length2 = float(v @ v)
        P = Y[(labels == i) | (labels == j)] - centers[i]
        if length2 <= 0 or len(P) <= n_neighbors + 1:
            continue
        t = P @ v / length2
        r = cKDTree(P).query(P, k=n_neighbors + 1)[0][:, -1]
        ratio = slab_ratio(np.maximum(r, 1e-12) ** -exponent, t)
        if ratio is None:
            continue
        total += ratio * len(P)
        weight += len(P)
    return float(total / weight) if weight else float("nan")


def _eigenvalues(X: np.ndarray) -> np.ndarray:
    """Covariance eigenvalues of the rows of ``X``, descending."""
    Xc = X - X.mean(axis=0)
    if Xc.shape[0] < Xc.shape[1]:
        lam = np.linalg.eigvalsh(Xc @ Xc.T)
    else:
        lam = np.linalg.eigvalsh(Xc.T @ Xc)
    return np.maximum(lam[::-1], 0.0) / max(len(X) - 1, 1)
