"""t-SNE in one array body for NumPy and CuPy, scaling to a million points on one GPU.

Stages, as in openTSNE and scikit-learn:

1. affinities: k nearest neighbors (:mod:`coc.kernels.neighbors`: exact by tiled matrix
   products, or approximate by hnswlib on the host), per-point perplexity
   calibration by a binary search run on all points at once, then the symmetric joint
   probabilities ``P = (P + P^T) / sum``, kept sparse (each unordered pair once);
2. initialization: the first two principal components scaled to a std of 1e-4, or noise;
3. gradient descent with early exaggeration, momentum and gains, as scikit-learn does.

Attraction runs over the sparse ``P``; repulsion is either exact (dense, in row tiles, O(n^2))
or interpolated on a grid and convolved by FFT (FIt-SNE, Linderman et al. 2019, as in
openTSNE's ``estimate_negative_gradient_fft_2d``), which needs O(n) memory plus the grid.
"""
from __future__ import annotations

import math

from coc._xp import is_numpy, rng
from coc.kernels._common import tile_rows
from coc.kernels.neighbors import knn

#: ``method="auto"`` uses the exact repulsion up to this many points: there it costs about as
#: much as the FFT grid (whose size does not shrink below ``_MIN_INTERVALS`` boxes) and is exact.
EXACT_MAX_SAMPLES = 500

# FIt-SNE/openTSNE defaults: 3 Lagrange nodes per box, at least 50 boxes a side, boxes of
# side at most 1 (the scale of the Cauchy kernel) at the time the grid is sized.
_N_NODES = 3
_MIN_INTERVALS = 50
_INTS_IN_INTERVAL = 1.0
#: The grid's box count is a host-side shape, so it is re-read from the embedding's span only
#: every this many iterations (one scalar copy); in between the box width follows the span on
#: the device.
_GRID_REFRESH = 50
_BINARY_SEARCH_STEPS = 100
_BINARY_SEARCH_CHECK = 10  # host syncs in the perplexity search: at most steps / check
_PERPLEXITY_TOL = 1e-5  # on the entropy, in nats, as scikit-learn
#: Rows of the neighbor graph kept in ``info`` for a recall check: enough for a recall to 0.01.
INFO_SAMPLE = 500


def tsne(X, *, xp, perplexity=30.0, seed=0, n_components=2, max_iter=1000,
         early_exaggeration=12.0, early_exaggeration_iter=250, learning_rate="auto",
         init="pca", method="auto", n_neighbors=None, progress=None, neighbors="auto", info=None):
    """A 2-D t-SNE embedding of ``X``.

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
        Factor on ``P`` during the first ``early_exaggeration_iter`` steps (momentum 0.5);
        the remaining steps use momentum 0.8.
    early_exaggeration_iter : int
        Length of the early exaggeration phase.
    learning_rate : float or "auto"
        ``"auto"`` is ``max(n_samples / early_exaggeration / 4, 50)`` as in scikit-learn.
    init : {"pca", "random"}
        ``"pca"``: the first two principal components, scaled so that the first column has
        std 1e-4 (as scikit-learn); ``"random"``: 1e-4 times standard normal noise.
    method : {"auto", "fft", "exact"}
        Repulsive forces: ``"fft"`` interpolates on a grid (O(n) memory), ``"exact"`` sums
        all pairs in row tiles (O(n^2) time). ``"auto"`` is exact up to
        :data:`EXACT_MAX_SAMPLES` points, FFT above.
    n_neighbors : int or None
        Neighbors per point in ``P``; default ``min(n_samples - 1, int(3 * perplexity))``.
    progress : callable or None
        Called as ``progress(iteration, max_iter)`` every 50 iterations and at the end.
    neighbors : {"auto", "exact", "hnswlib"}
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
    if learning_rate == "auto":
        learning_rate = max(n / early_exaggeration / 4.0, 50.0)

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
    Y = _initialize(X, init, seed=seed, xp=xp).astype(xp.float32)
    repulsive = _repulsive_fft if method == "fft" else _repulsive_exact

    update = xp.zeros_like(Y)
    gains = xp.ones_like(Y)
    n_boxes = None
    for it in range(max_iter):
        if it == 0 or it == early_exaggeration_iter:
            # scikit-learn starts each phase from a fresh optimizer state
            early = it < early_exaggeration_iter
            exaggeration, momentum = (early_exaggeration, 0.5) if early else (1.0, 0.8)
            update[...] = 0
            gains[...] = 1
        if method == "fft" and it % _GRID_REFRESH == 0:
            n_boxes = _n_boxes(float(xp.max(Y.max(axis=0) - Y.min(axis=0))))
        rep, Z = repulsive(Y, xp=xp, n_boxes=n_boxes)
        grad = _attractive(Y, rows, cols, vals, xp=xp)
        grad *= 4.0 * exaggeration
        grad -= rep * (4.0 / Z)
        inc = update * grad < 0
        gains = xp.where(inc, gains + 0.2, gains * 0.8)
        xp.maximum(gains, 0.01, out=gains)
        update *= momentum
        update -= learning_rate * gains * grad
        Y += update
        if progress is not None and ((it + 1) % 50 == 0 or it + 1 == max_iter):
            progress(it + 1, max_iter)
    return Y.astype(X.dtype, copy=False)


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
    n, n_neighbors = idx.shape
    P = _conditional_probabilities(dist, perplexity, xp=xp).ravel()
    i = xp.repeat(xp.arange(n, dtype=xp.int64), n_neighbors)
    j = idx.ravel()
    key = xp.minimum(i, j) * n + xp.maximum(i, j)
    order = xp.argsort(key)
    key = key[order]
    first = xp.concatenate([xp.ones(1, dtype=bool), key[1:] != key[:-1]])
    vals = xp.bincount(xp.cumsum(first) - 1, weights=P[order]).astype(dist.dtype, copy=False)
    vals /= 2 * vals.sum()
    key = key[first]
    return key // n, key % n, vals


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
def _attractive(Y, rows, cols, vals, *, xp):
    """``sum_j P_ij q_ij (y_i - y_j)`` with ``q = 1 / (1 + |y_i - y_j|^2)``, over the pairs of P."""
    n = Y.shape[0]
    # one coordinate at a time: 1-D gathers and scatters are the fast ones. ufunc.at, not
    # bincount: cupy.bincount reads max(index) back to the host on every call.
    dx = xp.take(Y[:, 0], rows) - xp.take(Y[:, 0], cols)
    dy = xp.take(Y[:, 1], rows) - xp.take(Y[:, 1], cols)
    w = vals / (1 + dx * dx + dy * dy)
    F = xp.zeros((2, n), dtype=Y.dtype)
    for d, f in enumerate((dx, dy)):
        f *= w
        xp.add.at(F[d], rows, f)
        xp.add.at(F[d], cols, -f)  # cupy has no float subtract.at: CUDA has no atomicSub on floats
    return F.T


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


def _n_boxes(span):
    """openTSNE's box count, ``max(50, span / ints_in_interval)``, raised to a 5-smooth FFT size."""
    n = max(_MIN_INTERVALS, math.ceil(span / _INTS_IN_INTERVAL))
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _fft(xp):
    if is_numpy(xp):
        import scipy.fft  # NumPy fast path: its float32 transforms are about twice numpy.fft's speed

        return scipy.fft
    return xp.fft


def _repulsive_fft(Y, *, xp, n_boxes=None):
    """:func:`_repulsive_exact` by FFT-accelerated interpolation (FIt-SNE).

    The bounding box of ``Y`` is cut into ``n_boxes`` x ``n_boxes`` boxes of ``_N_NODES`` x
    ``_N_NODES`` equispaced nodes. The charges 1, y1, y2 are spread onto the nodes by Lagrange
    interpolation, convolved with ``1/(1+r^2)^2`` by zero-padded 2-D FFTs and interpolated back
    to the points for the forces; ``Z`` is the charge 1 convolved with ``1/(1+r^2)``, summed
    against itself on the grid.
    """
    n = Y.shape[0]
    if n_boxes is None:
        n_boxes = _n_boxes(float(xp.max(Y.max(axis=0) - Y.min(axis=0))))
    p = _N_NODES
    n_nodes = n_boxes * p  # per side
    lower = Y.min(axis=0)
    span = xp.maximum(xp.max(Y.max(axis=0) - lower), xp.finfo(Y.dtype).eps)
    box = span / n_boxes

    # Lagrange weights (n, p) of each point at the p nodes of its box, per dimension
    nodes = (xp.arange(p, dtype=Y.dtype) + 0.5) / p
    index, weight = [], []
    for d in range(2):
        t = (Y[:, d] - lower[d]) / box
        cell = xp.minimum(xp.floor(t), n_boxes - 1)
        t -= cell
        L = xp.ones((n, p), dtype=Y.dtype)
        for a in range(p):
            for b in range(p):
                if a != b:
                    L[:, a] *= (t - nodes[b]) / (nodes[a] - nodes[b])
        index.append(cell.astype(xp.int64)[:, None] * p + xp.arange(p))
        weight.append(L)
    flat = (index[0][:, :, None] * n_nodes + index[1][:, None, :]).reshape(n, p * p)
    W = (weight[0][:, :, None] * weight[1][:, None, :]).reshape(n, p * p)

    # coordinates from the grid's center keep y_i * phi_1 - phi_y free of cancellation
    Yc = Y - (lower + span / 2)
    charges = xp.zeros((3, n_nodes * n_nodes), dtype=Y.dtype)
    for c, q in zip(charges, (1, Yc[:, 0, None], Yc[:, 1, None])):
        xp.add.at(c, flat.ravel(), (W * q).ravel())
    charges = charges.reshape(3, n_nodes, n_nodes)

    # Kernels on node offsets, wrapped for a circular convolution on twice the grid. They are
    # even, so their spectra are real; the zero rows and columns of the padding are not transformed.
    m = 2 * n_nodes
    offset = xp.arange(m)
    offset = xp.where(offset < n_nodes, offset, offset - m).astype(Y.dtype) * (box / p)
    cauchy = 1 / (1 + offset[:, None] ** 2 + offset[None, :] ** 2)
    fft = _fft(xp)
    kernels = fft.rfft2(xp.stack([cauchy * cauchy, cauchy])).real
    spectra = fft.fft(fft.rfft(charges, n=m, axis=2), axis=1, n=m)
    potentials = fft.ifft(spectra * kernels[0], axis=1)[:, :n_nodes]
    potentials = fft.irfft(potentials, n=m, axis=2)[:, :, :n_nodes].astype(Y.dtype, copy=False)

    # Parseval: sum(c1 * (k1 conv c1)) over the grid, from the half spectrum (inner columns twice)
    power = spectra[0].real ** 2 + spectra[0].imag ** 2
    power[:, 1:m // 2] *= 2
    Z = (power * kernels[1]).sum() / (m * m) - n  # q_ii = 1

    phi = (xp.take(potentials.reshape(3, -1), flat, axis=1) * W).sum(axis=2)  # (3, n)
    F = Yc * phi[0][:, None]
    F -= phi[1:].T
    return F, Z.astype(Y.dtype)
