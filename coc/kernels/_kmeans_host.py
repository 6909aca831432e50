"""The KMeans assignment step on NumPy, in cache-sized row tiles.

:func:`coc.kernels.kmeans._assign` is the one code path of NumPy and CuPy; this is NumPy's
faster twin of it, used by :mod:`coc.kernels.kmeans` when ``xp`` is NumPy. Per tile of rows:

1. one BLAS product of the tile with ``-2 C^T`` (the fast orientation for few centers),
   written (k, rows) while ``|c|^2`` is added, in a single pass;
2. the nearest center: the minimum over the k contiguous rows, the one-hot where a row
   equals it, and the label as the one-hot's product with 0..k-1 (NumPy's ``argmin`` along a
   short axis costs tens of nanoseconds a row; a running minimum with masked copies costs
   more); a row with a tie, rare, takes ``argmin``'s lowest index.

The cluster sums (float64): on the first call the one-hot's product with each tile;
afterwards an update by the points that changed cluster alone, gathered in one product per
chunk of a few tiles still in the last-level cache (after the first iterations few points
move, so that costs far less than summing every point again, and float64 keeps the updates
free of drift). Each NumPy call has a fixed cost of microseconds, so the work per tile is
kept to a few calls.

One thread: a pool of threads over the tiles was measured slower on 2 cores (the calls'
Python overhead holds the GIL, and the product is bound by memory bandwidth, which the cores
share).
"""
from __future__ import annotations

import numpy as np

#: Bytes per row tile of X: the tile, its (k, rows) distances and one-hot stay in a core's L2
#: cache (512 KiB on the machine measured: 4096 rows of 32 float32 were the fastest tile,
#: against 2048 and 8192) for k up to a few dozen.
HOST_TILE_BYTES = 2**19
#: Bytes of X whose moved points are gathered at once for the sums: a few tiles, still in the
#: last-level cache, so the gather does not go to memory and the calls stay few.
CHUNK_BYTES = 2**22


def tile_rows_host(dim: int, k: int, itemsize: int, *, budget_rows: int) -> int:
    """Rows per tile so that the tile and its distances fit :data:`HOST_TILE_BYTES`."""
    return int(max(256, min(budget_rows, HOST_TILE_BYTES // (max(dim, k) * itemsize))))


def assign_host(X, x_sq, centers, *, rows, sums=False, previous=None):
    """Nearest center of each point, its squared distance and (optionally) the cluster sums.

    Parameters
    ----------
    X : np.ndarray of shape (n, dim)
        Float32 or float64 points; float32 stays float32 throughout.
    x_sq : np.ndarray of shape (n,)
        Squared norms of the rows of ``X``.
    centers : np.ndarray of shape (k, dim)
    rows : int
        Rows per tile (:func:`tile_rows_host`).
    sums : bool
        Also return the cluster sums (float64) and counts (int64).
    previous : tuple or None
        The labels, sums and counts of the last call: the sums are then updated by the
        points that changed cluster.

    Returns
    -------
    labels : np.ndarray of int64
    min_sq : np.ndarray of X's dtype
    totals : np.ndarray of shape (k, dim), float64, or None
    counts : np.ndarray of shape (k,), int64, or None
    """
    n = X.shape[0]
    k = centers.shape[0]
    dt = X.dtype
    minus_2ct = np.ascontiguousarray(-2 * centers.T)
    c_sq = np.einsum("ij,ij->i", centers, centers)[:, None]
    labels = np.empty(n, dtype=np.int64)
    min_sq = np.empty(n, dtype=dt)
    fresh_sums = sums and previous is None
    totals = counts = None
    if fresh_sums:
        totals = np.zeros(centers.shape)
    elif sums:
        old_labels, totals, counts = previous[0], previous[1].copy(), previous[2].copy()
    products = np.empty((rows, k), dtype=dt)
    G_buf = np.empty((k, rows), dtype=dt)
    equal_buf = np.empty((k, rows), dtype=bool)
    onehot_buf = np.empty((k, rows), dtype=dt)
    index_and_ones = np.stack([np.arange(k, dtype=dt), np.ones(k, dtype=dt)])
    chunk = rows * max(1, CHUNK_BYTES // (rows * X.shape[1] * dt.itemsize))
    for chunk_start in range(0, n, chunk):
        chunk_stop = min(chunk_start + chunk, n)
        for start in range(chunk_start, chunk_stop, rows):
            stop = min(start + rows, n)
            m = stop - start
            Xt = X[start:stop]
            G = G_buf[:, :m]
            np.add(np.matmul(Xt, minus_2ct, out=products[:m]).T, c_sq, out=G)
            best, lab = min_sq[start:stop], labels[start:stop]
            np.min(G, axis=0, out=best)
            # compare into booleans, then cast: a ufunc writing another dtype goes through buffers
            onehot = onehot_buf[:, :m]
            np.copyto(onehot, np.equal(G, best, out=equal_buf[:, :m]))
            lab_and_hits = index_and_ones @ onehot  # each row's label, and how many centers tie
            lab[...] = lab_and_hits[0]
            if lab_and_hits[1].sum() > m:  # every row hits its minimum once, but for ties
                lab[...] = np.argmin(G, axis=0)  # argmin's choice, and its one-hot
                np.copyto(onehot, index_and_ones[0][:, None] == lab)
            if fresh_sums:
                totals += onehot @ Xt
        if sums and not fresh_sums:
            _update_sums(X, labels, old_labels, totals, counts, chunk_start, chunk_stop)
    min_sq += x_sq  # |x|^2 is the same for every center of a row: added to the minimum only
    np.maximum(min_sq, 0, out=min_sq)
    if fresh_sums:
        counts = np.bincount(labels, minlength=k)
    return labels, min_sq, totals, counts


def _update_sums(X, labels, old_labels, totals, counts, start, stop):
    """Update ``totals`` and ``counts`` in place by the points of rows start..stop that moved."""
    moved = start + np.flatnonzero(labels[start:stop] != old_labels[start:stop])
    if not moved.size:
        return
    k = totals.shape[0]
    to, came = labels[moved], old_labels[moved]
    delta = np.zeros((k, moved.size), dtype=X.dtype)  # +1 where a point came, -1 where it left
    cols = np.arange(moved.size)
    delta[to, cols] = 1
    delta[came, cols] -= 1
    totals += delta @ X[moved]
    counts += np.bincount(to, minlength=k)
    counts -= np.bincount(came, minlength=k)
