"""Exact silhouette of a Dask array, for data too big for one device.

The same definition and arithmetic as :mod:`coc.kernels.silhouette`, with the rows in the
blocks of a Dask array: each row block meets every block, one pair per task, and keeps only
the per-cluster sums of its distances (block rows x k). A task holds two blocks and their
distance matrix, never all of X; the labels and the n x k sums live on the host or device
that runs the tasks. The scores come from those sums by
:func:`coc.kernels.silhouette.scores_from_sums`, the in-memory kernel's own final step.
"""
from __future__ import annotations

from coc.kernels.distances import row_norms_sq, sq_distances
from coc.kernels.silhouette import scores_from_sums


def silhouette_samples_dask(X, labels, *, xp, scheduler=None):
    """Silhouette coefficient of each point of a row-chunked Dask array.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, dim)
        Finite float32 or float64 points, blocks of ``xp`` arrays chunked along rows (column
        chunks are merged).
    labels : array or dask.array.Array of shape (n_samples,)
        Cluster label of each point; at least two distinct values.
    xp : module
        Array namespace of X's blocks (``numpy`` or ``cupy``).
    scheduler : str, optional
        Dask scheduler for the block tasks (``"sync"``, ``"threads"``, a distributed
        ``Client``...); Dask's default when None.

    Returns
    -------
    s : xp.ndarray of shape (n_samples,)
        In X's dtype; equals ``sklearn.metrics.silhouette_samples(X, labels)``.
    """
    import dask
    import dask.array as da

    X = X.rechunk({1: -1})
    X = X - X.mean(axis=0)  # as the in-memory kernel: shrinks |x|^2, limits cancellation
    if isinstance(labels, da.Array):
        labels = labels.compute(scheduler=scheduler)
    _, codes = xp.unique(xp.asarray(labels), return_inverse=True)
    codes = codes.reshape(-1)
    sizes = xp.bincount(codes).astype(xp.float64)
    k = sizes.shape[0]

    blocks = list(X.to_delayed().ravel())
    norms = [dask.delayed(row_norms_sq)(b, xp=xp) for b in blocks]
    bounds, start = [], 0
    for rows in X.chunks[0]:
        bounds.append((start, start + rows))
        start += rows
    onehots = [dask.delayed(_onehot)(codes[lo:hi], k, X.dtype, xp=xp) for lo, hi in bounds]
    scores = []
    for i, (lo, hi) in enumerate(bounds):
        parts = [
            dask.delayed(_pair_sums)(blocks[i], blocks[j], norms[i], norms[j], onehots[j],
                                     same=i == j, xp=xp)
            for j in range(len(blocks))
        ]
        sums = dask.delayed(_total)(parts, xp=xp)
        scores.append(dask.delayed(scores_from_sums)(sums, codes[lo:hi], sizes, xp=xp))
    s = dask.compute(*scores, scheduler=scheduler)
    return xp.concatenate(s).astype(X.dtype, copy=False)


def silhouette_score_dask(X, labels, *, xp, scheduler=None):
    """Mean silhouette coefficient of a Dask array (see :func:`silhouette_samples_dask`).

    Returns
    -------
    score : 0-d xp.ndarray
        Equals ``sklearn.metrics.silhouette_score(X, labels)``.
    """
    return xp.mean(silhouette_samples_dask(X, labels, xp=xp, scheduler=scheduler))


def _onehot(codes, k, dtype, *, xp):
    return (codes[:, None] == xp.arange(k)[None, :]).astype(dtype)


def _pair_sums(A, B, A_sq, B_sq, onehot_B, *, same, xp):
    """Per-cluster sums of the distances from the rows of A to the rows of B."""
    D = sq_distances(A, B, xp=xp, A_sq=A_sq, B_sq=B_sq)
    if same:
        # The self-distance is 0 exactly; the expansion leaves residue whose sqrt is large.
        r = xp.arange(D.shape[0])
        D[r, r] = 0
    xp.sqrt(D, out=D)
    return D @ onehot_B


def _total(parts, *, xp):
    # Summed in float64, so float32 input loses nothing here (as in the in-memory kernel).
    out = xp.zeros(parts[0].shape, dtype=xp.float64)
    for p in parts:
        out += p
    return out
