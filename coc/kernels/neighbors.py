"""The k nearest neighbors of every point: t-SNE's first stage, an engine chosen by name.

``method`` (``tsne(neighbors=...)``), as openTSNE's ``neighbors``:

``"exact"``
    Tiled matrix products, every pair: O(n^2 d) time, O(tile) memory, on NumPy and CuPy.
    NumPy picks each tile's k smallest by ``argpartition``; CuPy's ``argpartition`` sorts
    whole rows, so there a two-stage selection (:func:`_select_k`) sorts two short rows instead.
``"hnswlib"``
    Approximate, a hierarchical navigable small-world graph (hnswlib, Malkov & Yashunin 2018)
    on the host: the optional extra ``pip install 'coc[knn]'``. Chosen over pynndescent, Annoy
    and faiss's HNSW by ``bench/knn_study.py`` (``results/knn/README.md``).
``"auto"``
    Exact up to :data:`AUTO_EXACT_MAX_SAMPLES` points and on a GPU, else hnswlib where it is
    installed; where it is not, exact, and one warning says so.
"""
from __future__ import annotations

import math
import warnings

from coc.utils.xp import is_numpy
from coc.kernels.distances import row_norms_sq, sq_distances, tile_rows

#: Names ``method`` takes.
ENGINES = ("auto", "exact", "hnswlib")
#: The approximate engine ``auto`` uses, and the extra that installs it.
APPROXIMATE = "hnswlib"
EXTRA = "knn"
#: ``auto`` stays exact up to this many points: where coc's exact scan and its hnswlib stage
#: (build on one thread, queries on two) cross for k = 90 on 32-d blobs. Measured by
#: ``bench/knn_study.py --crossover`` (results/knn/crossover.jsonl; 2-core AMD EPYC, one run
#: each, load average 7-10 from other jobs): exact 2.6 s / hnswlib 7.2 s at 10,000 points,
#: 17.2 s / 8.5 s at 20,000; 15,000 is between. The exact scan grows as n^2, the graph
#: about as n log n, so a crossover off by a few thousand costs seconds either way.
AUTO_EXACT_MAX_SAMPLES = 15_000
#: hnswlib's graph (M links per node, ef_construction candidates while building) and its
#: search breadth ef = max(ceil(HNSW_EF_FACTOR * (k + 1)), HNSW_EF_MIN), 301 for k = 90. On
#: 1e5 blobs (results/knn/hnswlib_tuning.jsonl) ef 180 found 0.988 of the 90 neighbors in 32-d
#: but 0.922 in 128-d; ef 300 found 0.966 there (ef 500: 0.985 for 1.7x the query time; M 32
#: with ef 180: 0.981 for a 1.3x longer build).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_FACTOR = 3.3
HNSW_EF_MIN = 100

_fallback_warned = []  # auto's fallback is said once per process, not once per t-SNE


def engine_status(name: str):
    """None where engine ``name`` can run here, else why not (naming the extra to install)."""
    if name in ("auto", "exact"):
        return None
    if name not in ENGINES:
        return f"unknown neighbors engine {name!r}; choose one of {', '.join(ENGINES)}"
    try:
        import hnswlib  # noqa: F401
    except ImportError as e:
        return (f"neighbors={name!r} needs the {name} package ({e}): "
                f"pip install 'coc[{EXTRA}]'")
    return None


def resolve(method: str, n_samples: int, *, xp) -> str:
    """The engine ``method`` runs on ``n_samples`` points of ``xp``: ``exact`` or ``hnswlib``.

    Raises
    ------
    ValueError
        Unknown name, or an approximate engine asked for on a GPU namespace.
    ImportError
        The approximate engine asked for by name and not installed (the message names the extra).
    """
    if method not in ENGINES:
        raise ValueError(f"neighbors must be one of {', '.join(ENGINES)}, got {method!r}")
    if method == "exact":
        return "exact"
    if method == "auto":
        if not is_numpy(xp) or n_samples <= AUTO_EXACT_MAX_SAMPLES:
            return "exact"
        if engine_status(APPROXIMATE) is not None:
            if not _fallback_warned:
                _fallback_warned.append(True)
                warnings.warn(f"coc: {APPROXIMATE} is not installed, so t-SNE's neighbors are exact "
                              f"(O(n^2)); pip install 'coc[{EXTRA}]' for approximate ones",
                              RuntimeWarning, stacklevel=3)
            return "exact"
        return APPROXIMATE
    if not is_numpy(xp):
        raise ValueError(f"neighbors={method!r} runs on NumPy arrays; on a GPU they are exact")
    reason = engine_status(method)
    if reason is not None:
        raise ImportError(reason)
    return method


def knn(X, k, *, xp, method="auto", seed=0, n_threads=2):
    """Squared distances (n, k) and indices (n, k) of each row's k nearest other rows.

    Parameters
    ----------
    X : xp.ndarray of shape (n_samples, dim)
    k : int
        ``1 <= k < n_samples``.
    xp : module
    method : {"auto", "exact", "hnswlib"}
        See the module docstring.
    seed : int or None
        Seed of the approximate engine's graph (exact ignores it).
    n_threads : int
        Threads of the approximate engine's queries (its build runs on one, so that a seed
        gives the same graph).

    Returns
    -------
    dist : xp.ndarray of shape (n_samples, k), X's dtype
    idx : xp.ndarray of int64, shape (n_samples, k)
        The order within each row's k is unspecified.
    engine : str
        What ran: ``exact`` or ``hnswlib``.
    """
    engine = resolve(method, X.shape[0], xp=xp)
    if engine == "exact":
        return (*_exact(X, k, xp=xp), engine)
    return (*_hnswlib(X, k, seed=seed, n_threads=n_threads, xp=xp), engine)


def _exact(X, k, *, xp):
    n = X.shape[0]
    X = X - X.mean(axis=0)  # centring shrinks the norms, hence the cancellation in |a|^2-2ab+|b|^2
    X_sq = row_norms_sq(X, xp=xp)
    step = tile_rows(n, X.dtype.itemsize, xp=xp, n_buffers=4)
    dist = xp.empty((n, k), dtype=X.dtype)
    idx = xp.empty((n, k), dtype=xp.int64)
    for start in range(0, n, step):
        stop = min(n, start + step)
        D = sq_distances(X[start:stop], X, xp=xp, A_sq=X_sq[start:stop], B_sq=X_sq)
        local = xp.arange(stop - start)
        D[local, local + start] = xp.inf  # a point is not its own neighbor, even among duplicates
        if is_numpy(xp):
            nearest = xp.argpartition(D, k - 1, axis=1)[:, :k]
        else:
            nearest = _select_k(D, k, xp=xp)
        idx[start:stop] = nearest
        dist[start:stop] = xp.take_along_axis(D, nearest, axis=1)
    return dist, idx


def _select_k(D, k, *, xp):
    """Column indices (t, k) of the k smallest entries of each row of ``D`` (t, n), exact.

    The row is cut into groups of ``g`` columns. Every one of the row's k smallest lies in a
    group whose minimum is at most the k-th smallest, so among the k groups of smallest
    minimum (ties in the k-th value aside, which any choice breaks). Sorting the ``n / g`` group
    minima, then the ``k * g`` entries of those k groups, with ``g = sqrt(n / k)``, sorts
    two rows of about ``sqrt(n k)`` where CuPy's argpartition sorts the whole row; no host
    synchronization, all shapes come from ``n`` and ``k``.
    """
    t, n = D.shape
    g = max(1, math.isqrt(n // k))
    full = n // g  # whole groups; the last n - full * g columns are one more, shorter group
    mins = D[:, :full * g].reshape(t, full, g).min(axis=2)
    if full * g < n:
        mins = xp.concatenate([mins, D[:, full * g:].min(axis=1, keepdims=True)], axis=1)
    groups = xp.argsort(mins, axis=1)[:, :k]
    cols = (groups[:, :, None] * g + xp.arange(g)).reshape(t, k * g)
    inside = cols < n  # the short last group's columns past the row's end
    cols = xp.where(inside, cols, 0)
    vals = xp.where(inside, xp.take_along_axis(D, cols, axis=1), xp.inf)
    best = xp.argsort(vals, axis=1)[:, :k]
    return xp.take_along_axis(cols, best, axis=1)


def _hnswlib(X, k, *, seed, n_threads, xp):
    import hnswlib
    import numpy as np

    n, dim = X.shape
    data = np.ascontiguousarray(X, dtype=np.float32)
    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(max_elements=n, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                     random_seed=0 if seed is None else int(seed) % 2**31)
    index.add_items(data, num_threads=1)  # threads would insert in a different order each run
    index.set_ef(max(math.ceil(HNSW_EF_FACTOR * (k + 1)), HNSW_EF_MIN))
    labels, _ = index.knn_query(data, k=k + 1, num_threads=n_threads)
    labels = labels.astype(np.int64)
    # Drop each point itself; where it is not among the k + 1 (a run of duplicates), the last.
    own = labels == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    own &= np.cumsum(own, axis=1) == 1
    idx = labels[~own].reshape(n, k)
    # distances in X's dtype, from X itself, in row blocks so as never to hold (n, k, dim)
    dist = np.empty((n, k), dtype=X.dtype)
    step = max(1, 2**24 // (k * dim))
    for s in range(0, n, step):
        d = X[idx[s:s + step]] - X[s:s + step, None, :]
        dist[s:s + step] = np.einsum("ijk,ijk->ij", d, d)
    return xp.asarray(dist, dtype=X.dtype), xp.asarray(idx)
