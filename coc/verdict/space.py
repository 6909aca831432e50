"""The space the statistics see: the metric's view of the points, and the way back to every row.

* ``euclidean``: the points as given.
* ``cosine``: the rows scaled to unit length. On unit rows the squared Euclidean distance is
  ``2 (1 - cos)``, so KMeans, the kNN graph and the density gap see the cosine distance's
  order, and the null references are drawn in this space (matched to the unit rows, then
  put back on the sphere): structureless data *as the metric sees it*.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.extmath import randomized_svd

from coc.kernels.distances import row_norms_sq, sq_distances
from coc.utils.validation import CocError

#: Rows assigned to their nearest centre per block (bounds the scratch memory).
ASSIGN_BLOCK = 8192


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows of ``X`` scaled to unit length (the caller has refused zero rows)."""
    return X / np.sqrt(row_norms_sq(X, xp=np))[:, None]


def check_metric_input(X: np.ndarray, metric: str) -> None:
    """Refuse what the metric cannot measure: cosine has no direction for an all-zero row."""
    if metric == "cosine":
        n_zero = int(np.count_nonzero(~np.any(X != 0, axis=1)))
        if n_zero:
            raise CocError(f"{n_zero} of {len(X)} rows are all zero: cosine distance is undefined for "
                           f"them (drop them, or use --metric euclidean)")


def metric_space(X: np.ndarray, metric: str) -> np.ndarray:
    """``X`` as the metric sees it, float64: unit rows for cosine, else unchanged."""
    X = np.asarray(X, dtype=np.float64)
    return unit_rows(X) if metric == "cosine" else X


def n_distinct_rows(X: np.ndarray) -> int:
    """How many distinct rows ``X`` holds (exact comparison, as KMeans sees them)."""
    X = np.ascontiguousarray(X)
    return int(np.unique(X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()).shape[0])


def assign_all(X: np.ndarray, Xs: np.ndarray, labels: np.ndarray, n_clusters: int, *, metric: str,
               sample_index: np.ndarray | None) -> np.ndarray:
    """One label per row of ``X``: the analyzed rows keep theirs, the others take the nearest centre.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
        Every input row.
    Xs : np.ndarray of shape (n_used, dim)
        The analyzed rows, in the metric's space (unit rows for cosine).
    labels : np.ndarray of shape (n_used,)
        Their clusters, 0 .. n_clusters - 1.
    n_clusters : int
    metric : {"euclidean", "cosine"}
        ``euclidean``: the nearest centroid; ``cosine``: the centroid of the unit rows with the
        highest cosine similarity.
    sample_index : np.ndarray or None
        The rows ``Xs`` came from; None when they are all of ``X``.

    Returns
    -------
    np.ndarray of shape (n_samples,), int64
    """
    if sample_index is None:
        return labels.astype(np.int64)
    counts = np.bincount(labels, minlength=n_clusters)
    centers = np.zeros((n_clusters, Xs.shape[1]))
    np.add.at(centers, labels, Xs)
    # Only clusters that hold points have a centre.
    present = np.flatnonzero(counts)
    centers = centers[present] / counts[present][:, None]
    if metric == "cosine":
        norms = np.sqrt(row_norms_sq(centers, xp=np))[:, None]
        centers = centers / np.where(norms > 0, norms, 1.0)
    centers = centers.astype(X.dtype if X.dtype == np.float32 else np.float64)
    out = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), ASSIGN_BLOCK):
        block = X[start:start + ASSIGN_BLOCK]
        if metric == "cosine":
            # Unit centres: the largest dot product is the largest cosine, whatever |row|.
            nearest = np.argmax(block @ centers.T, axis=1)
        else:
            nearest = np.argmin(sq_distances(block, centers, xp=np), axis=1)
        out[start:start + len(block)] = present[nearest]
    out[sample_index] = labels
    return out


#: Widest input whose principal axes come from an exact eigendecomposition (:func:`project`).
EXACT_AXES_MAX_DIM = 2048


def project(X: np.ndarray, metric: str, n_components: int) -> tuple[np.ndarray, float]:
    """``X`` (already in the metric's space) on its top ``n_components`` principal axes.

    Euclidean: the centered principal components, so every distance shrinks only by the
    discarded variance. Cosine: the leading right singular vectors of the unit rows, not
    centered (an angle depends on where the origin is), the projected rows put back on the
    unit sphere, so that every cosine changes only by the discarded energy.

    Up to :data:`EXACT_AXES_MAX_DIM` columns the axes are exact (an eigendecomposition of the
    dim x dim Gram matrix); wider, a randomized SVD finds them (scikit-learn's, seeded), at a
    cost linear in dim, and at most ``n_samples`` of them.

    Returns
    -------
    Y : np.ndarray of shape (n_samples, q)
        ``q = n_components``; wider than :data:`EXACT_AXES_MAX_DIM`, at most ``n_samples``.
    kept : float
        The share of the variance (cosine: of the energy) the components keep (randomized:
        of the axes found, which may keep a little less than the exact ones).
    """
    Z = X - X.mean(axis=0) if metric == "euclidean" else X
    if Z.shape[1] <= EXACT_AXES_MAX_DIM:
        # The axes from the (dim x dim) Gram matrix: cheaper than an SVD of Z when n > dim.
        energy, V = np.linalg.eigh(Z.T @ Z)
        energy, V = energy[::-1].clip(min=0), V[:, ::-1][:, :n_components]
        total, energy = energy.sum(), energy[:n_components]
    else:
        # Wider, the Gram matrix's eigh costs dim^3 (minutes at 10,000 columns, whatever n):
        # the leading axes by a randomized SVD instead, n * dim * n_components.
        _, s, Vt = randomized_svd(Z, min(n_components, *Z.shape), n_iter=7, random_state=0)
        energy, V = s**2, Vt.T
        total = float(np.einsum("ij,ij->", Z, Z, dtype=np.float64))
    kept = float(min(energy.sum() / total, 1.0)) if total > 0 else 1.0
    Y = Z @ V
    if metric == "cosine":
        norms = np.sqrt(row_norms_sq(Y, xp=np))[:, None]
        Y = Y / np.where(norms > 0, norms, 1.0)
    return Y, kept
