"""The k nearest neighbors of every point: t-SNE's first stage, an engine chosen by name.

``method`` (``tsne(neighbors=...)``), as openTSNE's ``neighbors``:

``"exact"``
    Tiled matrix products, every pair: O(n^2 d) time, O(tile) memory, on NumPy and CuPy.
    NumPy picks each tile's k smallest by ``argpartition``; CuPy's ``argpartition`` sorts
    whole rows, so there a two-stage selection (:func:`_select_k`) sorts two short rows instead.
``"faiss"``
    Approximate, an inverted file (faiss's ``IndexIVFFlat``, Jegou et al. 2011) on the host:
    the points are cut into about ``sqrt(n)`` lists by a seeded KMeans, and each point's
    neighbors are searched exactly within the ``nprobe`` lists nearest it. ``nprobe`` is not
    a tuned constant: it is the smallest of 1, 2, 3, 4, 6, 8, ... whose recall, measured
    against exact neighbors on a seeded sample of rows, reaches :data:`IVF_RECALL`
    (:func:`_faiss_ivf`). The same neighbors on any thread count (a test checks 1 and 2).
``"hnswlib"``
    Approximate, a hierarchical navigable small-world graph (hnswlib, Malkov & Yashunin 2018),
    built on one thread so that a seed fixes it.
``"auto"``
    Exact up to :data:`AUTO_EXACT_MAX_SAMPLES` points and on a GPU, else the first of
    :data:`APPROXIMATE` that is installed; where none is, exact, and one warning says so.

Both approximate engines are the optional extra ``pip install 'coc[knn]'``. faiss's inverted
file comes first: ``bench/knn_study.py`` measured it against hnswlib, pynndescent, Annoy and
faiss's HNSW (``results/knn/README.md``).
"""
from __future__ import annotations

import importlib
import math
import warnings

from coc.utils.xp import is_numpy
from coc.kernels.distances import row_norms_sq, sq_distances, tile_rows

#: Names ``method`` takes.
ENGINES = ("auto", "exact", "faiss", "hnswlib")
#: The approximate engines ``auto`` uses, the first installed, and the extra that installs them.
APPROXIMATE = ("faiss", "hnswlib")
EXTRA = "knn"
#: ``auto`` stays exact up to this many points: where coc's exact scan and its faiss stage
#: cross for k = 90 on 32-d blobs. Measured by ``bench/knn_study.py --crossover`` with
#: ``--engines coc-faiss`` (results/knn/crossover.jsonl; 2-core Intel Xeon VM, one run each,
#: load 1.3-1.5): exact 0.18 s / faiss 0.23 s at 5,000 points, 0.80 s / 0.49 s at 10,000,
#: 2.75 s / 0.84 s at 20,000; 7,500 is between. Off by a few thousand, it costs a fraction
#: of a second either way.
AUTO_EXACT_MAX_SAMPLES = 7_500
#: hnswlib's graph (M links per node, ef_construction candidates while building) and its
#: search breadth ef = max(ceil(HNSW_EF_FACTOR * (k + 1)), HNSW_EF_MIN), 301 for k = 90. On
#: 1e5 blobs (results/knn/hnswlib_tuning.jsonl) ef 180 found 0.988 of the 90 neighbors in 32-d
#: but 0.922 in 128-d; ef 300 found 0.966 there (ef 500: 0.985 for 1.7x the query time; M 32
#: with ef 180: 0.981 for a 1.3x longer build).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_FACTOR = 3.3
HNSW_EF_MIN = 100
#: faiss's inverted file: the recall its ``nprobe`` is raised to, on :data:`IVF_SAMPLE` rows.
#: The issue's target is 0.95 on the bench data and digits; 0.98 leaves room for the sample's
#: error (the recall of 500 rows of 90 neighbors has a standard error under 0.005) and for
#: the rows outside it.
IVF_RECALL = 0.98
IVF_SAMPLE = 500
#: Points per list at training (KMeans on a seeded sample of ``IVF_TRAIN_PER_LIST * nlist``
#: rows): faiss asks for at least 39 and warns under it; 64 is its tutorials' choice.
IVF_TRAIN_PER_LIST = 64

_fallback_warned = []  # auto's fallback is said once per process, not once per t-SNE


def engine_status(name: str):
    """None where engine ``name`` can run here, else why not (naming the extra to install)."""
    if name in ("auto", "exact"):
        return None
    if name not in ENGINES:
        return f"unknown neighbors engine {name!r}; choose one of {', '.join(ENGINES)}"
    try:
        importlib.import_module(name)  # each approximate engine is the module of its name
    except ImportError as e:
        return (f"neighbors={name!r} needs the {name} package ({e}): "
                f"pip install 'coc[{EXTRA}]'")
    return None


def resolve(method: str, n_samples: int, *, xp) -> str:
    """The engine ``method`` runs on ``n_samples`` points of ``xp``: a name of :data:`ENGINES`
    other than ``auto``.

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
        for name in APPROXIMATE:
            if engine_status(name) is None:
                return name
        if not _fallback_warned:
            _fallback_warned.append(True)
            warnings.warn(f"coc: neither {' nor '.join(APPROXIMATE)} is installed, so t-SNE's neighbors "
                          f"are exact (O(n^2)); pip install 'coc[{EXTRA}]' for approximate ones",
                          RuntimeWarning, stacklevel=3)
        return "exact"
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
    method : {"auto", "exact", "faiss", "hnswlib"}
        See the module docstring.
    seed : int or None
        Seed of the approximate engine's lists or graph (exact ignores it).
    n_threads : int
        Threads of the approximate engine's queries (hnswlib's build runs on one, so that a
        seed gives the same graph).

    Returns
    -------
    dist : xp.ndarray of shape (n_samples, k), X's dtype
    idx : xp.ndarray of int64, shape (n_samples, k)
        The order within each row's k is unspecified.
    engine : str
        What ran: ``exact``, ``faiss`` or ``hnswlib``.
    """
    engine = resolve(method, X.shape[0], xp=xp)
    if engine == "exact":
        return (*_exact(X, k, xp=xp), engine)
    run = _faiss_ivf if engine == "faiss" else _hnswlib
    idx = run(X, k, seed=0 if seed is None else int(seed) % 2**31, n_threads=n_threads)
    return _distances(X, idx, xp=xp), xp.asarray(idx), engine


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


def _hnswlib(X, k, *, seed, n_threads):
    """Indices (n, k) of each row's k nearest other rows, by hnswlib's graph."""
    import hnswlib
    import numpy as np

    n, dim = X.shape
    data = np.ascontiguousarray(X, dtype=np.float32)
    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(max_elements=n, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, random_seed=seed)
    index.add_items(data, num_threads=1)  # threads would insert in a different order each run
    index.set_ef(max(math.ceil(HNSW_EF_FACTOR * (k + 1)), HNSW_EF_MIN))
    labels, _ = index.knn_query(data, k=k + 1, num_threads=n_threads)
    return _drop_self(labels.astype(np.int64), k)


def _faiss_ivf(X, k, *, seed, n_threads):
    """Indices (n, k) of each row's k nearest other rows, by faiss's inverted file.

    ``nlist = ceil(sqrt(n))`` lists, trained by faiss's KMeans (seeded; a test checks that one
    and two threads give the same neighbors) on a seeded sample. ``nprobe`` climbs 1, 2, 3, 4,
    6, 8, ... until the neighbors of :data:`IVF_SAMPLE` seeded rows reach :data:`IVF_RECALL` of
    their exact ones; only then are all rows searched. A row whose probed lists hold fewer
    than ``k + 1`` points is searched exactly. Exact is the same index with every list probed,
    so the data are held once more, not twice.
    """
    import faiss
    import numpy as np

    n, dim = X.shape
    data = np.ascontiguousarray(X, dtype=np.float32)
    rng = np.random.default_rng(seed)
    nlist = max(1, min(math.ceil(math.sqrt(n)), n // IVF_TRAIN_PER_LIST))
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n_threads)
    try:
        train = data[np.sort(rng.choice(n, min(n, IVF_TRAIN_PER_LIST * nlist), replace=False))]
        # min_points_per_centroid=1: a few points get one list, without faiss's warning
        kmeans = faiss.Kmeans(dim, nlist, niter=20, seed=seed, min_points_per_centroid=1,
                              max_points_per_centroid=IVF_TRAIN_PER_LIST)
        kmeans.train(train)
        quantizer = faiss.IndexFlatL2(dim)
        quantizer.add(kmeans.centroids)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist)
        index.is_trained = True
        index.add(data)

        def search(rows, nprobe):
            index.nprobe = nprobe
            return index.search(data if rows is None else data[rows], k + 1)[1].astype(np.int64, copy=False)

        sample = np.sort(rng.choice(n, min(n, IVF_SAMPLE), replace=False))
        truth = _drop_self(search(sample, nlist), k)
        for nprobe in _probes(nlist):
            found = search(sample, nprobe)
            if (found < 0).any():  # fewer than k + 1 points in the probed lists
                continue
            if _recall(_drop_self(found, k), truth) >= IVF_RECALL:
                break
        labels = search(None, nprobe)
        short = np.flatnonzero((labels < 0).any(axis=1))
        if short.size:
            labels[short] = search(short, nlist)
    finally:
        faiss.omp_set_num_threads(threads)
    return _drop_self(labels, k)


def _probes(nlist):
    """1, 2, 3, 4, 6, 8, 12, ... (powers of 2 and 1.5 times them) up to ``nlist``, which ends it."""
    p = [v for e in range(max(1, nlist).bit_length() + 1) for v in (2**e, 3 * 2**e // 2) if v < nlist]
    return sorted(set(p)) + [nlist]


def _recall(found, truth):
    """The share of ``truth``'s neighbors (rows of indices) that ``found`` holds."""
    import numpy as np

    k = truth.shape[1]
    hits = sum(np.intersect1d(a, b, assume_unique=True).size for a, b in zip(found, truth))
    return hits / (k * len(truth))


def _drop_self(labels, k):
    """Each row's k + 1 found neighbors (n, k + 1) without the row itself; where it is not
    among them (a run of duplicates), without the last."""
    import numpy as np

    n = len(labels)
    own = labels == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    own &= np.cumsum(own, axis=1) == 1
    return labels[~own].reshape(n, k)


def _distances(X, idx, *, xp):
    """Squared distances (n, k) of each row to its neighbors ``idx`` (host), in X's dtype, in
    row blocks so as never to hold (n, k, dim)."""
    import numpy as np

    n, k = idx.shape
    dist = np.empty((n, k), dtype=X.dtype)
    step = max(1, 2**24 // (k * X.shape[1]))
    for s in range(0, n, step):
        d = X[idx[s:s + step]] - X[s:s + step, None, :]
        dist[s:s + step] = np.einsum("ijk,ijk->ij", d, d)
    return xp.asarray(dist, dtype=X.dtype)
