"""t-SNE in one array body for NumPy and CuPy, scaling to a million points on one GPU.

Stages, as in openTSNE and scikit-learn:

1. affinities: k nearest neighbors (:mod:`coc.kernels.neighbors`: exact by tiled matrix
   products, or approximate by faiss or hnswlib on the host), per-point perplexity
   calibration by a binary search run on all points at once, then the symmetric joint
   probabilities ``P = (P + P^T) / sum``, kept sparse (each unordered pair once);
2. initialization: the first two principal components scaled to a std of 1e-4, or noise;
3. gradient descent with early exaggeration, momentum and gains, as scikit-learn does.

Attraction runs over the sparse ``P``; repulsion is either exact (dense, in row tiles, O(n^2))
or interpolated on a grid and convolved by FFT (FIt-SNE, Linderman et al. 2019, as in
openTSNE's ``estimate_negative_gradient_fft_2d``), which needs O(n) memory plus the grid.
"""
from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import threadpool_limits

from coc.utils.xp import is_numpy, rng
from coc.kernels.distances import tile_rows
from coc.kernels._tsne_attraction import attractive as _attractive
from coc.kernels._tsne_attraction import attractive_parts as _attractive_parts
from coc.kernels._tsne_attraction import split as _parts
from coc.kernels._tsne_fft import box_count as _n_boxes
from coc.kernels._tsne_fft import repulsive_fft as _repulsive_fft
from coc.kernels.neighbors import knn

#: ``method="auto"`` uses the exact repulsion up to this many points: there it costs about as
#: much as the FFT grid (whose size does not shrink below ``_MIN_INTERVALS`` boxes) and is exact.
EXACT_MAX_SAMPLES = 500

#: The grid's box count is a host-side shape, so it is re-read from the embedding's span only
#: every this many iterations (one scalar copy); in between the box width follows the span on
#: the device.
_GRID_REFRESH = 50
#: openTSNE's optimizer: momentum 0.8 in both phases, each point's step clipped to norm 5.
_MOMENTUM = 0.8
_MAX_STEP_NORM = 5.0
_BINARY_SEARCH_STEPS = 100
_BINARY_SEARCH_CHECK = 10  # host syncs in the perplexity search: at most steps / check
_PERPLEXITY_TOL = 1e-5  # on the entropy, in nats, as scikit-learn
#: Rows of the neighbor graph kept in ``info`` for a recall check: enough for a recall to 0.01.
INFO_SAMPLE = 500
#: On NumPy the repulsion runs beside the attraction's parts on their threads, not apart:
#: 81 against 88-94 ms an iteration at 1e5 on 2 cores (bench/tsne_profile.py --sequential).
OVERLAP_REPULSION = True


#: Iterations at the defaults: openTSNE's schedule, 250 exaggerated then 500 (docs/tsne.md).
DEFAULT_MAX_ITER = 750


def tsne(X, *, xp, perplexity=30.0, seed=0, n_components=2, max_iter=DEFAULT_MAX_ITER,
         early_exaggeration=12.0, early_exaggeration_iter=250, learning_rate="auto",
         init="pca", method="auto", n_neighbors=None, progress=None, neighbors="auto", info=None):
    """A 2-D t-SNE embedding of ``X``.

    The defaults are openTSNE's schedule (Belkina et al. 2019; Linderman et al. 2019), which
    reaches a given KL divergence in fewer iterations than scikit-learn's: 250 iterations of
    early exaggeration 12 at learning rate ``n / 48``, then 500 at ``n / 4`` (openTSNE's
    ``n / exaggeration``: its gradient has no factor 4, coc's has), momentum 0.8 throughout
    with the optimizer's state kept across the phases, each point's step clipped to norm 5.
    With scikit-learn's schedule (``n / 48`` throughout, momentum 0.5 then 0.8) stopped at
    750 iterations, coc's KL at 1e5 points was 1.3% above openTSNE's; with this one, 0.2-1.0%
    above in runs of successive versions (0.2% at 5e3). 750 and not fewer: the KL over all
    points still falls at 1000 iterations for both engines, though a 2000-point subsample's KL
    bottoms out near 400 (results/tsne/kl_curve.jsonl). See docs/tsne.md for the measurements.

    Parameters
    ----------
    X : xp.ndarray of shape (n_samples, dim), float32 or float64
        Finite data, ``perplexity < n_samples`` (checked by the backend).
    xp : module
        Array namespace (``numpy`` or ``cupy``).
    perplexity : float
        Effective number of neighbors of each point.
    seed : int or None
        Seed of the random initialization (``init="random"``).
    n_components : int
        Only 2 is supported.
    max_iter : int
        Total number of gradient steps, early exaggeration included.
    early_exaggeration : float
        Factor on ``P`` during the first ``early_exaggeration_iter`` steps.
    early_exaggeration_iter : int
        Length of the early exaggeration phase.
    learning_rate : float or "auto"
        ``"auto"`` is ``max(n_samples / exaggeration / 4, 50)`` in each phase (``n / 48``
        during early exaggeration, ``n / 4`` after), as openTSNE's ``"auto"``; a float is used
        in both phases.
    init : {"pca", "random"}
        ``"pca"``: the first two principal components, scaled so that the first column has
        std 1e-4 (as scikit-learn and openTSNE); ``"random"``: 1e-4 times standard normal noise.
    method : {"auto", "fft", "exact"}
        Repulsive forces: ``"fft"`` interpolates on a grid (O(n) memory), ``"exact"`` sums
        all pairs in row tiles (O(n^2) time). ``"auto"`` is exact up to
        :data:`EXACT_MAX_SAMPLES` points, FFT above.
    n_neighbors : int or None
        Neighbors per point in ``P``; default ``min(n_samples - 1, int(3 * perplexity))``.
    progress : callable or None
        Called as ``progress(iteration, max_iter)`` every 50 iterations and at the end.
    neighbors : {"auto", "exact", "faiss", "hnswlib"}
        The kNN engine (:func:`coc.kernels.neighbors.knn`); ``auto`` is exact on small data
        and on a GPU.
    info : dict or None
        Filled, where given, with what ran, for the records: ``neighbors`` (the engine),
        ``knn_sample_rows`` (a ``range`` of up to :data:`INFO_SAMPLE` evenly spaced rows) and
        ``knn_sample`` (their neighbor indices, an xp array: a recall check outside the clock), and,
        where ``info["clock"]`` is a callable the caller gave (which must wait for the device
        before reading its clock), ``knn_seconds``.

    Returns
    -------
    Y : xp.ndarray of shape (n_samples, 2), in ``X``'s dtype
        The affinities are computed in ``X``'s dtype, the gradient descent in float32.
    """
    if n_components != 2:
        raise ValueError(f"only n_components=2 is supported, got {n_components!r}")
    if method not in ("auto", "fft", "exact"):
        raise ValueError(f"method must be 'auto', 'fft' or 'exact', got {method!r}")
    if init not in ("pca", "random"):
        raise ValueError(f"init must be 'pca' or 'random', got {init!r}")
    n = X.shape[0]
    if method == "auto":
        method = "exact" if n <= EXACT_MAX_SAMPLES else "fft"
    if n_neighbors is None:
        n_neighbors = int(3.0 * perplexity)
    n_neighbors = max(1, min(n - 1, int(n_neighbors)))

    clock = info.get("clock") if info is not None else None
    start = clock() if clock is not None else None
    dist, idx, engine = knn(X, n_neighbors, xp=xp, method=neighbors, seed=seed)
    if info is not None:
        info["neighbors"] = engine
        if clock is not None:
            info["knn_seconds"] = clock() - start
        rows = range(0, n, -(-n // INFO_SAMPLE))  # at most INFO_SAMPLE rows, spread over X
        info["knn_sample_rows"] = rows
        info["knn_sample"] = idx[rows.start:rows.stop:rows.step].copy()  # on xp's device
    rows, cols, vals = _affinities(dist, idx, perplexity, xp=xp)
    del dist, idx
    # The descent runs in float32 whatever X's dtype, as scikit-learn's does: the forces are
    # approximations far coarser than its rounding, and it halves the memory traffic.
    vals = vals.astype(xp.float32)
    # On NumPy the pairs go into the attraction's parts (their columns widened to intp, its
    # rows replaced by runs), so the int32 rows and columns are dropped here.
    pairs = _parts(rows, cols, vals, xp=xp) if is_numpy(xp) else (rows, cols, vals)
    del rows, cols, vals
    Y = _initialize(X, init, seed=seed, xp=xp).astype(xp.float32)
    return _descend(Y, pairs, xp=xp, method=method, max_iter=max_iter,
                    early_exaggeration=early_exaggeration,
                    early_exaggeration_iter=early_exaggeration_iter,
                    learning_rate=learning_rate, progress=progress).astype(X.dtype, copy=False)


def _descend(Y, pairs, *, xp, method, max_iter, early_exaggeration,
             early_exaggeration_iter, learning_rate, progress):
    """openTSNE's gradient descent (momentum, gains, clipped steps) from ``Y``, in place.

    ``pairs``: :func:`coc.kernels._tsne_attraction.split` on NumPy, else ``(rows, cols, vals)``.
    """
    loop = functools.partial(_iterate, Y, pairs, xp=xp, method=method, max_iter=max_iter,
                             early_exaggeration=early_exaggeration,
                             early_exaggeration_iter=early_exaggeration_iter,
                             learning_rate=learning_rate, progress=progress)
    if not is_numpy(xp):
        return loop(pool=None)
    # The attraction's threads, with the BLAS on one thread, in each worker too (an OpenMP BLAS
    # counts per thread): its idle threads busy-wait after the FFT's (n, 9) product and took
    # the cores from the attraction (1e5: 90 -> 49 ms a call; docs/tsne.md).
    with (threadpool_limits(limits=1, user_api="blas"),
          ThreadPoolExecutor(min(len(pairs), os.cpu_count() or 1), initializer=_one_blas_thread) as pool):
        return loop(pool=pool)


def _one_blas_thread():
    threadpool_limits(limits=1, user_api="blas")  # a worker's own; its thread ends with the pool


def _iterate(Y, pairs, *, xp, method, max_iter, early_exaggeration,
             early_exaggeration_iter, learning_rate, progress, pool):
    """:func:`_descend`'s loop."""
    n = Y.shape[0]
    cache = {}  # the FFT grid's kernel spectra, reused while the grid is unchanged
    update = xp.zeros_like(Y)
    gains = xp.ones_like(Y)
    n_boxes = None
    for it in range(max_iter):
        if it == 0 or it == early_exaggeration_iter:
            exaggeration = early_exaggeration if it < early_exaggeration_iter else 1.0
            rate = learning_rate
            if rate == "auto":
                rate = max(n / exaggeration / 4.0, 50.0)
        if method == "fft" and it % _GRID_REFRESH == 0:
            n_boxes = _n_boxes(float(xp.max(Y.max(axis=0) - Y.min(axis=0))))
        repulsion = (functools.partial(_repulsive_fft, Y, xp=xp, n_boxes=n_boxes, cache=cache)
                     if method == "fft" else functools.partial(_repulsive_exact, Y, xp=xp))
        if pool is None:
            rep, Z = repulsion()
            grad = _attractive(Y, *pairs, xp=xp)
        else:
            # one more task of the pool: its single-threaded steps overlap the parts
            pending = pool.submit(repulsion) if OVERLAP_REPULSION else None
            grad = _attractive_parts(Y, pairs, xp=xp, pool=pool)
            rep, Z = pending.result() if pending is not None else repulsion()
        grad *= 4.0 * exaggeration
        grad -= rep * (4.0 / Z)
        inc = update * grad < 0
        gains = xp.where(inc, gains + 0.2, gains * 0.8)
        xp.maximum(gains, 0.01, out=gains)
        update *= _MOMENTUM
        update -= rate * gains * grad
        # openTSNE's max_step_norm: a point far from its neighbors early on cannot jump across
        # the embedding (nor stretch the FFT grid) in one step
        norm = xp.sqrt((update * update).sum(axis=1, keepdims=True))
        update *= xp.minimum(1.0, _MAX_STEP_NORM / xp.maximum(norm, 1e-12))
        Y += update
        if progress is not None and ((it + 1) % 50 == 0 or it + 1 == max_iter):
            progress(it + 1, max_iter)
    return Y


# -- affinities -------------------------------------------------------------------------------
def _conditional_probabilities(dist, perplexity, *, xp):
    """Row-stochastic ``P[i, j] = p_{j|i}`` over each point's neighbors, of entropy log(perplexity).

    scikit-learn's binary search on the precision ``beta`` of ``exp(-beta d^2)`` (double until
    bracketed, then bisect), run on all rows at once; the host checks convergence only every
    few steps.
    """
    # Shifting each row by its smallest distance leaves P unchanged and keeps exp from underflowing.
    D = dist - dist.min(axis=1, keepdims=True)
    target = math.log(perplexity)
    beta = xp.ones(D.shape[0], dtype=D.dtype)
    lo = xp.full_like(beta, -xp.inf)
    hi = xp.full_like(beta, xp.inf)
    for step in range(_BINARY_SEARCH_STEPS):
        P = xp.exp(-D * beta[:, None])
        sum_P = xp.maximum(P.sum(axis=1), xp.finfo(D.dtype).tiny)
        H = xp.log(sum_P) + beta * (D * P).sum(axis=1) / sum_P
        if (step + 1) % _BINARY_SEARCH_CHECK == 0 and bool(xp.all(xp.abs(H - target) <= _PERPLEXITY_TOL)):
            break
        too_flat = H > target  # entropy too high: sharpen
        lo = xp.where(too_flat, beta, lo)
        hi = xp.where(too_flat, hi, beta)
        beta = xp.where(
            too_flat,
            xp.where(xp.isinf(hi), beta * 2, (beta + hi) / 2),
            xp.where(xp.isinf(lo), beta / 2, (beta + lo) / 2),
        )
    P /= sum_P[:, None]
    return P


def _joint_probabilities(X, perplexity, *, n_neighbors, xp):
    """:func:`_affinities` of ``X``'s exact ``n_neighbors`` nearest neighbors."""
    dist, idx, _ = knn(X, n_neighbors, xp=xp, method="exact")
    return _affinities(dist, idx, perplexity, xp=xp)


def _affinities(dist, idx, perplexity, *, xp):
    """Sparse symmetric joint probabilities ``P = (P_cond + P_cond^T) / sum`` over the kNN graph
    (``dist``: squared distances, ``idx``: indices, both (n, k)).

    As scikit-learn's ``_joint_probabilities_nn``. The matrix is symmetric, so it is returned
    as its upper triangle: each unordered pair ``i < j`` once, sorted, ``vals`` the entry at
    both ``(i, j)`` and ``(j, i)``; the full matrix sums to 1, so ``vals`` sums to 1/2.

    Returns
    -------
    rows, cols : xp.ndarray of int64, shape (n_pairs,)
    vals : xp.ndarray of X's dtype, shape (n_pairs,)
    """
    # unnamed here, so that _symmetrize's sorted copy replaces it instead of joining it
    return _symmetrize(_conditional_probabilities(dist, perplexity, xp=xp).ravel(), idx, xp=xp)


def _symmetrize(P, idx, *, xp):
    """Each unordered pair of the conditionals ``P`` (raveled, at ``idx`` of shape (n, k)) once.

    Sorted by the key ``min * n + max``, equal keys summed. ``P`` is consumed: pass the only
    reference. Memory at 1e6 x 90 neighbors: the key and the sort's order (int64, 720 MB
    each) and one sorted copy of ``P``; the key is sorted in place (``key[order]`` held a third
    int64 array), the run index is int32 where it fits (the int64 cumulative sum and float64
    ``bincount`` took 1.2 GB more), and the columns reuse the key's memory.
    """
    n, k = idx.shape
    ends = xp.arange(n, dtype=idx.dtype)[:, None]
    key = xp.minimum(ends, idx)
    key *= n
    key += xp.maximum(ends, idx)
    del ends
    key = key.reshape(-1)
    order = xp.argsort(key)
    P = xp.take(P, order)
    del order
    key.sort()
    first = xp.concatenate([xp.ones(1, dtype=bool), key[1:] != key[:-1]])
    # cast, then summed in place: cumsum(first, dtype=int32) went through an int64 temporary
    # (720 MB at 1e6 x 90, the peak of the whole run: 3.99 GB)
    run = first.astype(xp.int32 if key.size < 2**31 else xp.int64)
    xp.cumsum(run, out=run)
    run -= 1
    vals = xp.zeros(int(run[-1]) + 1, dtype=P.dtype)
    xp.add.at(vals, run, P)  # ufunc.at: cupy.bincount would read max(run) back once more
    del run, P
    vals /= 2 * vals.sum(dtype=xp.float64)
    key = key[first]
    rows = key // n
    xp.remainder(key, n, out=key)  # the columns, in the key's memory
    return rows, key, vals


def _initialize(X, init, *, seed, xp):
    n, dim = X.shape
    if init == "pca" and dim >= 2:
        Xc = X - X.mean(axis=0)
        _, vecs = xp.linalg.eigh(Xc.T @ Xc)
        vecs = vecs[:, ::-1][:, :2]
        # a sign convention, so that the same data gives the same embedding on every backend
        pivot = xp.take_along_axis(vecs, xp.argmax(xp.abs(vecs), axis=0)[None, :], axis=0)
        Y = Xc @ (vecs * xp.sign(pivot))
        return Y * (1e-4 / Y[:, 0].std())
    return 1e-4 * rng(xp, seed).standard_normal((n, 2), dtype=X.dtype)


# -- forces -----------------------------------------------------------------------------------
def _repulsive_exact(Y, *, xp, n_boxes=None):
    """Unnormalized repulsion ``sum_j q_ij^2 (y_i - y_j)`` and ``Z = sum_{i != j} q_ij``, all pairs.

    Returns
    -------
    F : xp.ndarray of shape (n, 2)
    Z : 0-d xp.ndarray
    """
    n = Y.shape[0]
    step = tile_rows(n, Y.dtype.itemsize, xp=xp, n_buffers=4)
    F = xp.empty_like(Y)
    Z = xp.zeros((), dtype=Y.dtype)
    for start in range(0, n, step):
        stop = min(n, start + step)
        dx = Y[start:stop, 0, None] - Y[None, :, 0]
        dy = Y[start:stop, 1, None] - Y[None, :, 1]
        q = 1 / (1 + dx * dx + dy * dy)
        Z += q.sum() - (stop - start)  # q_ii = 1
        q *= q
        F[start:stop, 0] = (q * dx).sum(axis=1)
        F[start:stop, 1] = (q * dy).sum(axis=1)
    return F, Z
