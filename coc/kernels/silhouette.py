"""Silhouette coefficient (Euclidean or cosine distance) in row tiles, on NumPy or CuPy.

scikit-learn's definition: for point i in cluster C, a(i) is the mean distance to the other
points of C, b(i) the smallest mean distance to the points of another cluster, and
s(i) = (b - a) / max(a, b); a point alone in its cluster scores 0. The distances of one tile
of rows to the points from that tile on (the matrix is symmetric, so that is half the work)
are summed per cluster by matrix products with a one-hot label matrix, so memory is
O(tile * n + n * k), never n * n. The cosine distance ``1 - cos(a, b)`` is one matrix product
of the L2-normalized rows, with no square root.
"""
from __future__ import annotations

from coc.utils.xp import free_pool, oom_errors
from coc.kernels.distances import row_norms_sq, tile_rows


METRICS = ("euclidean", "cosine")


def silhouette_samples(X, labels, *, xp, tile=None, metric="euclidean"):
    """Silhouette coefficient of each point.

    Parameters
    ----------
    X : xp.ndarray of shape (n_samples, dim)
        Finite float32 or float64 points (checked by the caller).
    labels : xp.ndarray of shape (n_samples,)
        Cluster label of each point; any values, at least two distinct ones.
    xp : module
        Array namespace (``numpy`` or ``cupy``).
    tile : int, optional
        Rows per tile. By default as many as fit the scratch budget of
        :func:`coc.kernels.distances.tile_rows`; halved on out-of-memory errors.
    metric : {"euclidean", "cosine"}
        The distance between points; ``"cosine"`` is ``1 - cos(a, b)`` (a zero row is at
        distance 1 from every point), as scikit-learn's ``cosine_distances``.

    Returns
    -------
    s : xp.ndarray of shape (n_samples,)
        In X's dtype; equals ``sklearn.metrics.silhouette_samples(X, labels, metric=metric)``.

    Notes
    -----
    One host synchronization (``unique``: the number of clusters), whatever n and the
    number of tiles.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    n = X.shape[0]
    if metric == "cosine":
        # 1 - a.b of unit rows, as one product of augmented matrices [-a, 1] [b, 1]^T.
        norms = xp.sqrt(row_norms_sq(X, xp=xp))[:, None]
        X = X / xp.where(norms > 0, norms, 1)
        ones = xp.ones((n, 1), dtype=X.dtype)
        left = xp.concatenate([-X, ones], axis=1)
        right = xp.concatenate([X, ones], axis=1)
        del X, norms, ones
    else:
        # Centering leaves distances unchanged but shrinks |x|^2, which limits the
        # cancellation in |a|^2 - 2 a.b + |b|^2 (it matters in float32 for close points).
        X = X - X.mean(axis=0)
        sq = row_norms_sq(X, xp=xp)[:, None]
        ones = xp.ones_like(sq)
        # The whole expansion |a|^2 - 2 a.b + |b|^2 as one product of augmented matrices,
        # which saves three elementwise passes over every tile compared with sq_distances.
        left = xp.concatenate([-2 * X, sq, ones], axis=1)
        right = xp.concatenate([X, ones, sq], axis=1)
        del X, sq, ones
    root = metric == "euclidean"
    # The kernel's one host read: unique's size, the number of clusters, sets the shapes below.
    # The sizes come from the one-hot (cupy.bincount would read the labels' max back again).
    values, codes = xp.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)  # NumPy 2 shapes the inverse like the input; keep it 1-D anyway
    k = values.shape[0]
    onehot = (codes[:, None] == xp.arange(k)[None, :]).astype(left.dtype)
    sizes = onehot.sum(axis=0, dtype=xp.float64)
    # Per-cluster distance sums of every point, in float64 so float32 input loses nothing here.
    sums = xp.zeros((n, k), dtype=xp.float64)

    if tile is None:
        tile = tile_rows(n, left.dtype.itemsize, xp=xp)
    tile = max(1, min(int(tile), n))
    out_of_memory = oom_errors(xp)
    start = 0
    while start < n:
        stop = min(start + tile, n)
        try:
            rows_part, cols_part = _tile_sums(left, right, onehot, start, stop, xp=xp, root=root)
        except out_of_memory:
            if tile == 1:
                raise
            free_pool(xp)
            tile = max(1, tile // 2)
            continue
        sums[start:stop] += rows_part
        sums[stop:] += cols_part
        start = stop

    return scores_from_sums(sums, codes, sizes, xp=xp).astype(left.dtype, copy=False)


def scores_from_sums(sums, codes, sizes, *, xp):
    """Silhouette of each point from its per-cluster distance sums.

    Parameters
    ----------
    sums : xp.ndarray of shape (n_points, k), float64
        Sum of the distances of each point to the points of each cluster (overwritten).
    codes : xp.ndarray of shape (n_points,)
        Each point's cluster, as an index in 0..k-1.
    sizes : xp.ndarray of shape (k,), float64
        Points per cluster, over the whole data.

    Returns
    -------
    s : xp.ndarray of shape (n_points,), float64
    """
    r = xp.arange(sums.shape[0])
    own_size = sizes[codes]
    a = sums[r, codes] / xp.maximum(own_size - 1, 1)
    sums /= sizes[None, :]
    sums[r, codes] = xp.inf
    b = sums.min(axis=1)
    denom = xp.maximum(a, b)
    # Singletons (a = 0 by convention) and all-duplicate clusters (a = b = 0) score 0.
    ok = (own_size > 1) & (denom > 0)
    return xp.where(ok, (b - a) / xp.where(ok, denom, 1), 0)


def silhouette_score(X, labels, *, xp, tile=None, metric="euclidean"):
    """Mean silhouette coefficient over all points.

    Parameters are those of :func:`silhouette_samples`.

    Returns
    -------
    score : 0-d xp.ndarray
        In X's dtype; equals ``sklearn.metrics.silhouette_score(X, labels)``.
    """
    return xp.mean(silhouette_samples(X, labels, xp=xp, tile=tile, metric=metric))


def _tile_sums(left, right, onehot, start, stop, *, xp, root=True):
    """Cluster sums of the distances between rows start:stop and rows start:n.

    Distances are symmetric, so a tile only meets the points from its first row on: the
    block to the right of the diagonal gives the sums of the tile's rows (``rows_part``) and,
    transposed, those of the later rows against the tile (``cols_part``). Half the work of
    meeting all n points. ``root``: the product gives squared distances (Euclidean), so take
    their square root; otherwise it gives the distances themselves (cosine).
    """
    rows = stop - start
    D = left[start:stop] @ right[start:].T
    # The self-distance is 0 exactly; the expansion leaves rounding residue whose sqrt is large.
    r = xp.arange(rows)
    D[r, r] = 0
    xp.maximum(D, 0, out=D)
    if root:
        xp.sqrt(D, out=D)
    rows_part = D @ onehot[start:]
    cols_part = D[:, rows:].T @ onehot[start:stop]
    return rows_part, cols_part
