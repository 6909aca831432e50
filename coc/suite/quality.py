"""How good a benchmark cell's answer is, measured outside the clock, the same way for every engine.

A sweep cell is timed first; then the last timed call's result is moved to the host
(``backend.to_numpy``) and scored here, so a backend cannot be fast and wrong unseen.
Everything runs on the host with NumPy and scikit-learn, on the cell's own data.

What each op's ``quality`` dict holds
--------------------------------------
``kmeans`` (uniform points, no true labels)
    ``inertia_per_point``: the sum of squared distances of the points to the mean of their
    cluster, over n_samples, computed here from the labels (not the engine's own figure).
    ``inertia_ratio``: that over scikit-learn's on the same host copy of the data, with the
    same seed, ``n_init``, ``max_iter`` and tolerance (1.0 for the ``sklearn`` cell by
    definition); only where ``n_samples * dim <= REFERENCE_MAX_ELEMENTS``, else None and a
    ``note``. ``ari``: adjusted Rand index against the true labels, where the data are blobs.
``silhouette`` (blobs, true labels)
    ``silhouette``: the value. ``silhouette_diff``: it minus scikit-learn's
    ``silhouette_score`` on the host copy (0.0 for ``sklearn``), where
    ``n_samples <= SILHOUETTE_REFERENCE_MAX_N``, else None.
``tsne`` (blobs)
    On a fixed seeded subsample of at most ``SUBSAMPLE`` points (the same rows for every
    engine): ``knn_preservation``, the mean share of each point's 10 nearest neighbours in the
    input that are also among its 10 nearest in the embedding (1.0 best); and on a fixed
    subsample of at most ``KL_SUBSAMPLE`` points, ``kl``, the Kullback-Leibler divergence
    KL(P || Q) of t-SNE's own objective with *exact* affinities:
    P from the input's squared Euclidean distances, each row's Gaussian calibrated to the
    cell's perplexity by bisection and symmetrized, ``P = (P_cond + P_cond^T) / (2 m)``; Q the
    Student-t kernel of the embedding, ``q_ij ∝ 1 / (1 + |y_i - y_j|^2)``. Lower is better;
    it is comparable between engines on the same cell, not with the engines' own reported KL
    (which uses sparse, approximate P on all points). Where the backend says which neighbors
    its t-SNE found (coc's kernels: ``backend.tsne_info``): ``knn_recall``, the share of the
    exact ``3 * perplexity`` nearest neighbors found, over ``knn_recall_sample`` rows
    (:func:`knn_recall`), and ``knn_seconds``, the kNN stage's time inside the timed call (the
    engine is in the record's ``algorithm``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from coc.suite.cells import PERPLEXITY, SEED

#: KMeans cells at most this large (n_samples * dim) get scikit-learn's run as a reference.
REFERENCE_MAX_ELEMENTS = 4_000_000
#: Silhouette cells at most this large get scikit-learn's value on the host as a reference.
SILHOUETTE_REFERENCE_MAX_N = 20_000
#: Points of the t-SNE subsample of the 10-NN preservation.
SUBSAMPLE = 5_000
#: Points of the t-SNE subsample of the exact KL divergence (O(m^2) memory and time).
KL_SUBSAMPLE = 2_000
#: Neighbours of the preservation score.
N_NEIGHBOURS = 10
SUBSAMPLE_SEED = 0


# -- KMeans --------------------------------------------------------------------------------
def inertia(X, labels) -> float:
    """Sum of squared distances of the rows of ``X`` to the mean of their label's rows."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    _, inverse = np.unique(labels, return_inverse=True)
    k = int(inverse.max()) + 1
    counts = np.bincount(inverse, minlength=k).astype(np.float64)
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, inverse, X)
    means = sums / counts[:, None]
    return float(((X - means[inverse]) ** 2).sum())


def sklearn_kmeans_labels(X, k, *, seed, n_init, max_iter, tol):
    """scikit-learn's KMeans labels on ``X`` with the options of a cell (the reference)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, max_iter=max_iter,
                tol=0.0 if tol is None else tol, algorithm="lloyd", random_state=seed)
    return km.fit(X).labels_


def kmeans_quality(X, labels, *, k, seed, n_init=1, max_iter=300, tol=None, y=None,
                   is_reference=False) -> dict:
    """The ``quality`` dict of a KMeans result (see the module docstring).

    Parameters
    ----------
    X, labels : host arrays
        The data and the engine's labels.
    k, seed, n_init, max_iter, tol
        The options the engine ran with; scikit-learn's reference run uses the same.
    y : host array, optional
        True labels (blobs): adds ``ari``.
    is_reference : bool
        The result is scikit-learn's own: the ratio is 1.0 without a second run.
    """
    X = np.asarray(X)
    n = X.shape[0]
    out = {"inertia_per_point": inertia(X, labels) / n, "inertia_ratio": None}
    if is_reference:
        out["inertia_ratio"] = 1.0
    elif X.size <= REFERENCE_MAX_ELEMENTS:
        ref = sklearn_kmeans_labels(X, k, seed=seed, n_init=n_init, max_iter=max_iter, tol=tol)
        out["inertia_ratio"] = out["inertia_per_point"] * n / inertia(X, ref)
    else:
        out["note"] = (f"no scikit-learn reference above {REFERENCE_MAX_ELEMENTS:,} values "
                       "(n_samples * dim)")
    if y is not None:
        from sklearn.metrics import adjusted_rand_score

        out["ari"] = float(adjusted_rand_score(np.asarray(y), np.asarray(labels)))
    return out


# -- silhouette ----------------------------------------------------------------------------
def silhouette_quality(X, labels, value: float, *, is_reference=False) -> dict:
    """The ``quality`` dict of a silhouette value: it, and its difference from scikit-learn's."""
    out = {"silhouette": float(value), "silhouette_diff": None}
    if is_reference:
        out["silhouette_diff"] = 0.0
    elif np.asarray(X).shape[0] <= SILHOUETTE_REFERENCE_MAX_N:
        from sklearn.metrics import silhouette_score

        out["silhouette_diff"] = float(value) - float(silhouette_score(np.asarray(X), np.asarray(labels)))
    else:
        out["note"] = f"no scikit-learn reference above {SILHOUETTE_REFERENCE_MAX_N:,} points"
    return out


# -- t-SNE -----------------------------------------------------------------------------------
def subsample(n: int, size: int = SUBSAMPLE, seed: int = SUBSAMPLE_SEED) -> np.ndarray:
    """Sorted indices of a fixed seeded subsample of at most ``size`` of ``n`` rows."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def knn_preservation(X, Y, n_neighbors: int = N_NEIGHBOURS) -> float:
    """Mean share of each row's ``n_neighbors`` nearest neighbours in ``X`` that are also
    among its nearest in ``Y`` (1.0: every neighbourhood kept)."""
    from sklearn.neighbors import NearestNeighbors

    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    k = min(n_neighbors, X.shape[0] - 1)
    nx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)
    ny = NearestNeighbors(n_neighbors=k).fit(Y).kneighbors(return_distance=False)
    shared = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(nx, ny)]
    return float(np.mean(shared) / k)


def _sq_distances(A):
    """Squared Euclidean distances between the rows of ``A`` (an embedding: few columns)."""
    D = np.zeros((A.shape[0], A.shape[0]))
    for j in range(A.shape[1]):  # a thin matrix product is slow in BLAS; columns are few
        diff = A[:, None, j] - A[None, :, j]
        D += diff * diff
    return D


def exact_affinities(X, perplexity: float, *, tol: float = 1e-5, max_steps: int = 100,
                     block: int = 256) -> np.ndarray:
    """t-SNE's exact joint probabilities P of the rows of ``X`` (symmetric, sum 1).

    Each row's Gaussian precision is found so that its conditional distribution's
    perplexity (e to its entropy in nats) equals ``perplexity``: Newton steps on the
    precision, kept inside a bisection bracket, a block of rows at a time.
    """
    X = np.asarray(X, dtype=np.float64)
    m = X.shape[0]
    target = np.log(min(perplexity, m - 1))  # entropy in nats
    sq = (X * X).sum(axis=1)
    P = np.empty((m, m))
    for start in range(0, m, block):
        rows = slice(start, min(start + block, m))
        D = sq[rows, None] + sq[None, :] - 2.0 * (X[rows] @ X.T)
        np.maximum(D, 0.0, out=D)
        D[np.arange(D.shape[0]), np.arange(start, rows.stop)] = np.inf
        D -= D.min(axis=1, keepdims=True)  # nearest at 0: no underflow; H is unchanged
        P[rows] = _calibrate(D, target, tol=tol, max_steps=max_steps)
    P = (P + P.T) / (2.0 * m)
    return P


def _calibrate(D, target, *, tol, max_steps):
    """Rows ``exp(-beta_i D_ij)`` normalized, each ``beta_i`` solving entropy = ``target``."""
    b = D.shape[0]
    lo, hi = np.zeros(b), np.full(b, np.inf)
    finite = np.where(np.isfinite(D), D, np.nan)
    beta = 1.0 / np.maximum(np.nanmean(finite, axis=1), 1e-12)
    Dz = np.where(np.isfinite(D), D, 0.0)
    Dz2 = Dz * Dz
    for _ in range(max_steps):
        P = np.exp(-D * beta[:, None])  # the diagonal is exp(-inf) = 0
        s = P.sum(axis=1)
        P /= s[:, None]
        mean = np.einsum("ij,ij->i", Dz, P)
        H = np.log(s) + beta * mean
        err = H - target
        done = np.abs(err) < tol
        if done.all():
            break
        up = err > 0  # entropy too high: sharpen (raise beta)
        lo = np.where(up, beta, lo)
        hi = np.where(up, hi, beta)
        var = np.einsum("ij,ij->i", Dz2, P) - mean * mean
        # Newton on log(beta): dH/dlog(beta) = -beta^2 Var(D)
        newton = beta * np.exp(np.clip(err / np.maximum(beta * beta * var, 1e-300), -2.0, 2.0))
        bisect = np.where(np.isinf(hi), beta * 2, (lo + hi) / 2)
        beta = np.where(done, beta, np.where((newton > lo) & (newton < hi), newton, bisect))
    return P


def kl_divergence(P, Y) -> float:
    """KL(P || Q) with Q the Student-t (one degree of freedom) affinities of embedding ``Y``.

    With ``q_ij = w_ij / Z``, ``w_ij = 1 / (1 + |y_i - y_j|^2)`` and ``sum P = 1``:
    ``KL = sum P log P + sum P log(1 + |y_i - y_j|^2) + log Z``.
    """
    Y = np.asarray(Y, dtype=np.float64)
    D = _sq_distances(Y)
    log1p = np.log1p(D)
    Z = float(np.exp(-log1p).sum() - Y.shape[0])  # the diagonal's w_ii = 1 left out
    logP = np.log(P, where=P > 0, out=np.zeros_like(P))
    return float(np.vdot(P, logP) + np.vdot(P, log1p) + np.log(Z))


def tsne_quality(X, Y, *, perplexity: float) -> dict:
    """The ``quality`` dict of a t-SNE embedding ``Y`` of ``X``: 10-NN preservation and exact KL,
    each on its fixed subsample."""
    X, Y = np.asarray(X), np.asarray(Y)
    idx = subsample(X.shape[0])
    kl_idx = subsample(X.shape[0], KL_SUBSAMPLE)
    return {
        "knn_preservation": knn_preservation(X[idx], Y[idx]),
        "kl": kl_divergence(exact_affinities(X[kl_idx], perplexity), Y[kl_idx]),
        "subsample": int(idx.size),
        "kl_subsample": int(kl_idx.size),
    }


def knn_recall(X, rows, found) -> float:
    """Mean share of each row's exact ``k`` nearest other points that ``found`` (len(rows), k) holds."""
    from sklearn.neighbors import NearestNeighbors

    rows = np.asarray(rows)
    k = found.shape[1]
    _, exact = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(X).kneighbors(X[rows])
    own = exact == rows[:, None]
    own[~own.any(axis=1), -1] = True  # a run of duplicates hid the row itself: drop the last
    exact = exact[~own].reshape(len(rows), k)
    return float(np.mean([np.intersect1d(a, b).size / k for a, b in zip(exact, found)]))


# -- for a table ---------------------------------------------------------------------------
#: What :func:`brief` writes, for a table's legend.
LEGEND = ("quality: I×r = KMeans inertia / scikit-learn's on the same data and seed (1.00 = as good; "
          "I/n v where there is no reference); ARI = adjusted Rand index against the true labels; "
          "Δs = silhouette minus scikit-learn's (s v where there is no reference); "
          "nn = t-SNE 10-NN preservation (1 = all kept; higher is better), KL = exact KL(P||Q) on "
          "a fixed subsample (lower is better); see coc/suite/quality.py")


def brief(op: str, quality) -> str:
    """A record's quality in a few characters (see :data:`LEGEND`); empty where it has none."""
    q = quality or {}
    if q.get("error"):
        return "quality: error"
    parts = []
    if op == "kmeans":
        if q.get("inertia_ratio") is not None:
            parts.append(f"I×{q['inertia_ratio']:.3f}")
        elif q.get("inertia_per_point") is not None:
            parts.append(f"I/n {q['inertia_per_point']:.4g}")
        if q.get("ari") is not None:
            parts.append(f"ARI {q['ari']:.2f}")
    elif op.startswith("silhouette"):
        if q.get("silhouette_diff") is not None:
            parts.append(f"Δs {q['silhouette_diff']:.0e}" if q["silhouette_diff"] else "Δs 0")
        elif q.get("silhouette") is not None:
            parts.append(f"s {q['silhouette']:.4f}")
    elif op == "tsne":
        if q.get("knn_preservation") is not None:
            parts.append(f"nn {q['knn_preservation']:.2f}")
        if q.get("kl") is not None:
            parts.append(f"KL {q['kl']:.2f}")
    return " ".join(parts)


# -- one cell ------------------------------------------------------------------------------
def cell_quality(cell, backend, data: dict, result) -> Optional[dict]:
    """The ``quality`` dict of a finished cell (None for ``generate``), from the last timed
    call's ``result`` and the cell's ``data``, moved to the host here."""
    if cell.op == "generate":
        return None
    X = data["X"]
    if hasattr(X, "dask"):  # silhouette-dask: the blocks, gathered
        X = X.compute()
    X = backend.to_numpy(X)
    y = backend.to_numpy(data["y"]) if data.get("y") is not None else None
    is_ref = cell.backend == "sklearn"
    if cell.op == "kmeans":
        return kmeans_quality(X, backend.to_numpy(result.labels), k=cell.k, seed=SEED, n_init=1,
                              max_iter=cell.max_iter, tol=None, y=y, is_reference=is_ref)
    if cell.op in ("silhouette", "silhouette-dask"):
        return silhouette_quality(X, y, result, is_reference=is_ref and cell.op == "silhouette")
    if cell.op == "tsne":
        quality = tsne_quality(X, backend.to_numpy(result), perplexity=PERPLEXITY)
        info = getattr(backend, "tsne_info", None) or {}
        if "knn_sample" in info:
            quality.update(knn_recall=knn_recall(X, info["knn_sample_rows"],
                                                 backend.to_numpy(info["knn_sample"])),
                           knn_recall_sample=len(info["knn_sample_rows"]),
                           knn_seconds=info.get("knn_seconds"))
        return quality
    return None
