"""k-means (k-means++ seeding, Lloyd iterations) on NumPy or CuPy.

It follows scikit-learn's ``KMeans(algorithm="lloyd")``: greedy k-means++ with
``2 + int(log(k))`` local trials, tolerance relative to the mean per-feature variance,
strict convergence when the labels stop changing, empty clusters moved to the points
farthest from their centers, and a last assignment step so that labels and inertia match
the final centers. Assignments are matrix products over row tiles, so no (n, k) array
larger than the tile budget is ever needed.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np

from coc.utils.xp import is_numpy, rng
from coc.kernels.distances import row_norms_sq, sq_distances, tile_rows
from coc.kernels._kmeans_host import assign_host, host_threads, tile_rows_host


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes
    ----------
    labels : xp.ndarray of shape (n_samples,)
        Index of the nearest final center of each point (int64).
    inertia : float
        Sum of squared distances of the points to their nearest final center.
    n_iter : int
        Lloyd iterations run by the kept initialisation.
    centers : xp.ndarray of shape (n_clusters, dim)
        Final centers, in X's dtype.
    """

    labels: object
    inertia: float
    n_iter: int
    centers: object


def kmeans(X, n_clusters, *, xp, seed=0, n_init=1, max_iter=300, tol=1e-4) -> KMeansResult:
    """Cluster the rows of X into ``n_clusters`` groups.

    Parameters
    ----------
    X : xp.ndarray of shape (n_samples, dim)
        Finite float32 or float64 points (checked by the caller).
    n_clusters : int
        Number of clusters, ``2 <= n_clusters < n_samples``.
    xp : module
        Array namespace (``numpy`` or ``cupy``).
    seed : int or None
        Seed of the k-means++ draws; the same seed gives the same result.
    n_init : int
        Number of seedings; the run with the lowest inertia is kept.
    max_iter : int
        Most Lloyd iterations per run.
    tol : float or None
        Stop when the total squared center shift is at most ``tol`` times the mean
        per-feature variance of X (or when the labels stop changing). ``None`` runs exactly
        ``max_iter`` iterations without reading anything back to the host in between.

    Returns
    -------
    KMeansResult
    """
    # Centering (as scikit-learn does) keeps |x|^2 small, so the distance expansion loses less.
    mean = X.mean(axis=0)
    X = X - mean
    x_sq = row_norms_sq(X, xp=xp)
    abs_tol = None if tol is None else float(xp.mean(xp.var(X, axis=0))) * tol
    # Planned once: asking for free memory every iteration would cost a device query each time.
    tile = tile_rows(n_clusters, X.dtype.itemsize, xp=xp)
    g = rng(xp, seed)
    best = None
    # On NumPy the assignment has its own path (coc.kernels._kmeans_host): tiles, threads.
    host_rows = None
    if is_numpy(xp):
        host_rows = tile_rows_host(X.shape[1], n_clusters, X.dtype.itemsize, budget_rows=tile)
    for _ in range(n_init):
        centers = _kmeans_plusplus(X, x_sq, n_clusters, g, xp=xp)
        with host_threads(X) if host_rows else contextlib.nullcontext(1) as threads:
            labels, inertia, n_iter, centers = _lloyd(
                X, x_sq, centers, xp=xp, max_iter=max_iter, tol=abs_tol, tile=tile,
                host_rows=host_rows, threads=threads,
            )
        if best is None or inertia < best.inertia:
            best = KMeansResult(labels, inertia, n_iter, centers + mean)
    return best


def _kmeans_plusplus(X, x_sq, n_clusters, g, *, xp):
    """Greedy k-means++ seeding (scikit-learn's ``_kmeans_plusplus``), all on the device."""
    n = X.shape[0]
    n_trials = 2 + int(math.log(n_clusters))
    ids = xp.empty(n_clusters, dtype=xp.int64)
    ids[0:1] = g.integers(0, n, size=1)
    closest = sq_distances(X[ids[0:1]], X, xp=xp, A_sq=x_sq[ids[0:1]], B_sq=x_sq)[0]
    potential = closest.sum(dtype=xp.float64)
    for c in range(1, n_clusters):
        # Sample candidates proportional to the squared distance to the nearest chosen center.
        draws = g.random(n_trials) * potential
        cand = xp.searchsorted(xp.cumsum(closest, dtype=xp.float64), draws)
        cand = xp.minimum(cand, n - 1)
        D = sq_distances(X[cand], X, xp=xp, A_sq=x_sq[cand], B_sq=x_sq)
        xp.minimum(D, closest[None, :], out=D)
        pots = D.sum(axis=1, dtype=xp.float64)
        pick = xp.argmin(pots).reshape(1)
        potential = pots[pick][0]
        closest = D[pick][0]
        ids[c : c + 1] = cand[pick]
    return X[ids]


def _lloyd(X, x_sq, centers, *, xp, max_iter, tol, tile, host_rows=None, threads=1):
    """Lloyd iterations from ``centers``; ``tol`` is absolute (None: exactly max_iter steps).

    With ``host_rows`` (NumPy), the assignment is :func:`coc.kernels._kmeans_host.assign_host`
    with tiles of that many rows, on ``threads`` threads.

    Returns labels, inertia (float), the number of iterations and the final centers.
    Host reads: none per iteration with ``tol=None``, one per iteration otherwise (both
    stopping rules together), and one at the end (the inertia).
    """
    check = tol is not None
    # On NumPy reading a flag costs nothing, so empty clusters are handled only when present,
    # and the cluster sums follow the points that changed cluster; on a device the relocation
    # always runs (a no-op without empties) to avoid a sync, and the sums are one product.
    host = host_rows is not None
    labels_old = None if host else xp.full(X.shape[0], -1, dtype=xp.int64)  # differs from all
    previous = None  # host: the last Assignment (labels, float64 sums), updated by moves
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if host:
            step = assign_host(X, x_sq, centers, rows=host_rows, sums=True, previous=previous,
                               squared=False, threads=threads)
            previous = step  # its labels and codes are updated in place next time
            sums, counts, n_moved = step.sums, step.counts, step.n_moved
            if not counts.all():
                min_sq = np.maximum(step.min_sq + x_sq, 0)  # |x|^2 left out by the assignment
                sums, counts = _relocate_empty(X, step.labels, min_sq, sums, counts, xp=xp)
                previous = None  # the moved points' labels are stale: sum afresh next time
        else:
            labels, min_sq, sums, counts = _assign(X, x_sq, centers, xp=xp, tile=tile, sums=True)
            sums, counts = _relocate_empty(X, labels, min_sq, sums, counts, xp=xp)
        new = xp.where(counts[:, None] > 0, sums / xp.maximum(counts, 1)[:, None], centers)
        new = new.astype(X.dtype, copy=False)
        shift = ((new - centers) ** 2).sum(dtype=xp.float64)
        centers = new
        if check:
            if host:  # after a relocation the next call starts afresh: all n count as moved
                changed, shift = n_moved, float(shift)
            else:
                changed = xp.count_nonzero(labels != labels_old).astype(xp.float64)
                # One read-back per iteration for both stopping rules.
                changed, shift = xp.stack([changed, shift]).tolist()
                labels_old = labels
            if changed == 0 or shift <= tol:
                break
    if host:
        final = assign_host(X, x_sq, centers, rows=host_rows, previous=previous, threads=threads)
        labels, min_sq = final.labels.astype(np.int64), final.min_sq
    else:
        labels, min_sq, _, _ = _assign(X, x_sq, centers, xp=xp, tile=tile)
    return labels, float(min_sq.sum(dtype=xp.float64)), n_iter, centers


def _assign(X, x_sq, centers, *, xp, tile, sums=False):
    """Nearest center of each point, its squared distance and (optionally) per-cluster sums
    and counts, from one one-hot matrix product per tile (no ``bincount``: it syncs in CuPy)."""
    n = X.shape[0]
    k = centers.shape[0]
    c_sq = row_norms_sq(centers, xp=xp)
    labels = xp.empty(n, dtype=xp.int64)
    min_sq = xp.empty(n, dtype=X.dtype)
    totals = xp.zeros(centers.shape, dtype=X.dtype) if sums else None
    counts = xp.zeros(k, dtype=X.dtype) if sums else None
    arange_k = xp.arange(k)
    for start in range(0, n, tile):
        stop = min(start + tile, n)
        # |x|^2 is the same for every center of a row, so it is added only to the minimum.
        G = X[start:stop] @ centers.T
        G *= -2
        G += c_sq[None, :]
        lab = xp.argmin(G, axis=1)
        labels[start:stop] = lab
        d = xp.take_along_axis(G, lab[:, None], axis=1)[:, 0] + x_sq[start:stop]
        min_sq[start:stop] = xp.maximum(d, 0)
        if sums:
            onehot = (lab[:, None] == arange_k[None, :]).astype(X.dtype)
            totals += onehot.T @ X[start:stop]
            counts += onehot.sum(axis=0)
    return labels, min_sq, totals, counts


def _farthest(min_sq, k, *, xp):
    """Indices of the k points with the largest ``min_sq``, largest first.

    On a device, k passes of ``argmax``, each point masked once taken: fixed cost, no host
    read, where a partition over all n points would be a full sort (CuPy's argpartition).
    On NumPy, where this runs only when a cluster is empty, ``argpartition``.
    """
    n = min_sq.shape[0]
    if is_numpy(xp):
        far = np.argpartition(min_sq, n - k)[n - k:]
        return far[np.argsort(-min_sq[far], kind="stable")]
    d = min_sq.astype(xp.float64)  # a copy, masked as points are taken
    far = xp.empty(k, dtype=xp.int64)
    for j in range(k):
        i = xp.argmax(d).reshape(1)
        far[j:j + 1] = i
        d[i] = -xp.inf
    return far


def _relocate_empty(X, labels, min_sq, sums, counts, *, xp):
    """Give each empty cluster one of the points farthest from their centers.

    As scikit-learn does: the j-th empty cluster takes the j-th farthest point, which leaves
    its old cluster. Fixed shapes throughout, so it needs no read-back on a device.
    """
    k = counts.shape[0]
    empty = counts == 0
    far = _farthest(min_sq, k, xp=xp)
    pick = far[xp.clip(xp.cumsum(empty) - 1, 0, k - 1)]
    points = X[pick]
    # Row j marks the old cluster of the point that empty cluster j takes (zero if j is not empty).
    leaves = (labels[pick][:, None] == xp.arange(k)[None, :]) & empty[:, None]
    leaves = leaves.astype(X.dtype)
    sums = sums - leaves.T @ points
    counts = counts - leaves.sum(axis=0)
    sums = xp.where(empty[:, None], points, sums)
    counts = xp.where(empty, 1, counts)
    return sums, counts
