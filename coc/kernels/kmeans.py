"""k-means (k-means++ seeding, Lloyd iterations) on NumPy or CuPy.

It follows scikit-learn's ``KMeans(algorithm="lloyd")``: greedy k-means++ with
``2 + int(log(k))`` local trials, tolerance relative to the mean per-feature variance,
strict convergence when the labels stop changing, empty clusters moved to the points
farthest from their centers, and a last assignment step so that labels and inertia match
the final centers. Assignments are matrix products over row tiles, so no (n, k) array
larger than the tile budget is ever needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coc._xp import is_numpy, rng
from coc.kernels._common import row_norms_sq, sq_distances, tile_rows


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
    for _ in range(n_init):
        centers = _kmeans_plusplus(X, x_sq, n_clusters, g, xp=xp)
        labels, inertia, n_iter, centers = _lloyd(
            X, x_sq, centers, xp=xp, max_iter=max_iter, tol=abs_tol, tile=tile
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


def _lloyd(X, x_sq, centers, *, xp, max_iter, tol, tile):
    """Lloyd iterations from ``centers``; ``tol`` is absolute (None: exactly max_iter steps).

    Returns labels, inertia (float), the number of iterations and the final centers.
    Host reads: none per iteration with ``tol=None``, one per iteration otherwise (both
    stopping rules together), and one at the end (the inertia).
    """
    check = tol is not None
    # On NumPy reading a flag costs nothing, so empty clusters are handled only when present,
    # and the cluster sums follow the points that changed cluster; on a device the relocation
    # always runs (a no-op without empties) to avoid a sync, and the sums are one product.
    host = is_numpy(xp)
    labels_old = xp.full(X.shape[0], -1, dtype=xp.int64)  # differs from every labeling
    previous = None  # host: the last labels and their float64 cluster sums, updated by moves
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        if host:
            labels, min_sq, sums, counts = _assign_host(X, x_sq, centers, tile=tile, sums=True,
                                                        previous=previous)
            previous = (labels, sums, counts)
            if not counts.all():
                sums, counts = _relocate_empty(X, labels, min_sq, sums, counts, xp=xp)
                previous = None  # the moved points' labels are stale: sum afresh next time
        else:
            labels, min_sq, sums, counts = _assign(X, x_sq, centers, xp=xp, tile=tile, sums=True)
            sums, counts = _relocate_empty(X, labels, min_sq, sums, counts, xp=xp)
        new = xp.where(counts[:, None] > 0, sums / xp.maximum(counts, 1)[:, None], centers)
        new = new.astype(X.dtype, copy=False)
        shift = ((new - centers) ** 2).sum(dtype=xp.float64)
        centers = new
        if check:
            changed = xp.count_nonzero(labels != labels_old).astype(xp.float64)
            # One read-back per iteration for both stopping rules.
            changed, shift = xp.stack([changed, shift]).tolist()
            if changed == 0 or shift <= tol:
                break
            labels_old = labels
    if host:
        labels, min_sq, _, _ = _assign_host(X, x_sq, centers, tile=tile)
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


#: Rows per tile of the NumPy path: the tile of X, its (k, rows) distances and the one-hot
#: stay in a core's L2 cache (1 MiB on the machines measured) for k up to a few dozen.
HOST_TILE_BYTES = 2**20


def _assign_host(X, x_sq, centers, *, tile, sums=False, previous=None):
    """:func:`_assign` on NumPy, in cache-sized row tiles of a (k, rows) distance layout.

    NumPy's ``argmin`` along a short axis costs tens of nanoseconds a row, so each tile's
    minimum is a reduction over the k rows of the tile, the one-hot is where a row equals it,
    and the label is the one-hot's product with 0..k-1 (rows with a tie, rare, take the lowest
    index as ``argmin`` would). Float32 stays float32 throughout.

    With ``sums``, the cluster sums (float64) and counts (int64) come back too. Given the
    ``previous`` labels, sums and counts, they are updated by the points that changed
    cluster alone, while their tile is in cache: after the first iterations few points move,
    so that costs far less than summing every point again, and float64 keeps the updates
    free of drift.
    """
    n, dim = X.shape
    k = centers.shape[0]
    dt = X.dtype
    rows = int(max(256, min(tile, HOST_TILE_BYTES // (max(dim, k) * dt.itemsize))))
    minus_2ct = np.ascontiguousarray(-2 * centers.T)
    c_sq = row_norms_sq(centers, xp=np)[:, None]
    labels = np.empty(n, dtype=np.int64)
    min_sq = np.empty(n, dtype=dt)
    old_labels = totals = counts = None
    if sums and previous is not None:
        old_labels, totals, counts = previous[0], previous[1].copy(), previous[2].copy()
    elif sums:
        totals = np.zeros(centers.shape)
    G_rows = np.empty((rows, k), dtype=dt)
    G_buf = np.empty((k, rows), dtype=dt)
    equal_buf = np.empty((k, rows), dtype=bool)
    onehot_buf = np.empty((k, rows), dtype=dt)
    index_and_ones = np.stack([np.arange(k, dtype=dt), np.ones(k, dtype=dt)])
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        m = stop - start
        Xt = X[start:stop]
        # X-tile times centers (the fast orientation of a BLAS product with few columns), then
        # laid out (k, rows) so that the reductions below run along contiguous rows.
        G = G_buf[:, :m]
        np.copyto(G, np.matmul(Xt, minus_2ct, out=G_rows[:m]).T)
        G += c_sq
        best = min_sq[start:stop]
        np.min(G, axis=0, out=best)
        # compare into booleans, then cast: a ufunc writing another dtype goes through buffers
        onehot = onehot_buf[:, :m]
        np.copyto(onehot, np.equal(G, best, out=equal_buf[:, :m]))
        lab = labels[start:stop]
        lab_and_hits = index_and_ones @ onehot  # each row's label, and how many centers tie
        lab[...] = lab_and_hits[0]
        if (lab_and_hits[1] != 1).any():
            lab[...] = np.argmin(G, axis=0)  # a tie: argmin's choice, and its one-hot
            np.copyto(onehot, index_and_ones[0][:, None] == lab)
        best += x_sq[start:stop]
        np.maximum(best, 0, out=best)
        if sums and old_labels is None:
            totals += onehot @ Xt
        elif sums:
            old = old_labels[start:stop]
            moved = np.flatnonzero(lab != old)
            if moved.size:
                to, came = lab[moved], old[moved]
                delta = np.zeros((k, moved.size))
                cols = np.arange(moved.size)
                delta[to, cols] = 1
                delta[came, cols] -= 1
                totals += delta @ Xt[moved]
                counts += np.bincount(to, minlength=k) - np.bincount(came, minlength=k)
    if sums and counts is None:
        counts = np.bincount(labels, minlength=k)
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
