"""t-SNE's repulsion by FFT-accelerated interpolation (FIt-SNE, Linderman et al. 2019).

As openTSNE's ``estimate_negative_gradient_fft_2d``: the embedding's bounding box is cut into
``n_boxes`` x ``n_boxes`` boxes of ``_N_NODES`` x ``_N_NODES`` equispaced nodes; the charges 1,
y1, y2 are spread onto the nodes by Lagrange interpolation, convolved with the kernels
``1/(1+r^2)^2`` and ``1/(1+r^2)`` by zero-padded 2-D FFTs, and interpolated back to the points.

Where the time goes (profiled at 1e5 and 1e6 points, 50 to 576 boxes a side; see
``bench/tsne_fft.py`` and ``docs/tsne.md``): the point side (weights, scatter, gather) is linear
in n, the grid side is the FFTs of the three charges plus the kernels' spectra. The spectra
are the cheap part here: the kernels are even, so their transform is a real type-I DCT of a
quarter of the padded grid (NumPy), and they are reused for as long as the grid is unchanged,
which the box width's rounding up to a ladder of 2^(1/256) steps makes frequent (a fifth to a
third of the iterations of a 2e4-point run; the boxes grow by at most 0.3% for it).
"""
from __future__ import annotations

import math

from coc.utils.xp import is_numpy

# FIt-SNE/openTSNE defaults: 3 Lagrange nodes per box, at least 50 boxes a side, boxes of
# side at most 1 (the scale of the Cauchy kernel) at the time the grid is sized.
_N_NODES = 3
_MIN_INTERVALS = 50
_INTS_IN_INTERVAL = 1.0
#: The box width is rounded up to a power of 2^(1/_WIDTH_STEPS): the grid then covers up to 0.3%
#: more than the span, and it stays the same grid (hence the same kernel spectra) across the
#: iterations where the span changes by less than a step. Coarser steps hit more often but
#: widen the boxes, and the interpolation error grows with the box (32 steps: Z's error on
#: tests' three clusters rose from 0.93e-3 to 1.07e-3).
_WIDTH_STEPS = 256


def box_count(span):
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


def _fft_kwargs(xp):
    # scipy.fft on NumPy: its float32 transforms are about twice numpy.fft's speed, and it
    # takes workers (numpy.fft runs on one core)
    return {"workers": -1} if is_numpy(xp) else {}


def _fft(xp):
    if is_numpy(xp):
        import scipy.fft

        return scipy.fft
    return xp.fft


def kernel_spectra(n_nodes, spacing, *, xp, dtype):
    """Half spectra (2, 2 n_nodes, n_nodes + 1) of ``1/(1+r^2)^2`` and ``1/(1+r^2)`` on the nodes.

    The kernels are wrapped for a circular convolution on twice the grid; they are even in
    both axes, so their spectra are real. On NumPy they are computed as a type-I DCT of the
    first quadrant (a quarter of the points, real arithmetic); elsewhere by ``rfft2`` of the
    whole wrapped grid, which needs nothing beyond ``xp.fft``.
    """
    m = 2 * n_nodes
    if is_numpy(xp):
        import scipy.fft

        # in the descent's dtype: at 576 boxes a float64 quadrant, its transform and the
        # concatenated copy were a third of the call
        r = xp.arange(n_nodes + 1, dtype=dtype)
        r *= float(spacing)
        r *= r
        kernels = xp.empty((2, n_nodes + 1, n_nodes + 1), dtype=dtype)
        xp.add(r[:, None], r[None, :], out=kernels[1])
        kernels[1] += 1
        xp.reciprocal(kernels[1], out=kernels[1])
        xp.multiply(kernels[1], kernels[1], out=kernels[0])
        quarter = scipy.fft.dctn(kernels, type=1, axes=(1, 2), workers=-1, overwrite_x=True)
        spectra = xp.empty((2, m, n_nodes + 1), dtype=dtype)
        spectra[:, :n_nodes + 1] = quarter
        spectra[:, n_nodes + 1:] = quarter[:, n_nodes - 1:0:-1]  # the even spectrum's mirror
        return spectra
    offset = xp.arange(m)
    offset = xp.where(offset < n_nodes, offset, offset - m).astype(dtype) * spacing
    cauchy = 1 / (1 + offset[:, None] ** 2 + offset[None, :] ** 2)
    return xp.fft.rfft2(xp.stack([cauchy * cauchy, cauchy])).real.astype(dtype, copy=False)


def _lagrange(t):
    """Weights of the 3 nodes ``(a + 1/2) / 3`` of a box at ``t`` in [0, 1], as 3 arrays."""
    s = 3 * t - 1.5  # the nodes at s = -1, 0, 1
    half = 0.5 * s
    return half * (s - 1), (1 - s) * (1 + s), half * (s + 1)


def repulsive_fft(Y, *, xp, n_boxes=None, cache=None):
    """Unnormalized repulsion ``sum_j q_ij^2 (y_i - y_j)`` and ``Z = sum_{i != j} q_ij`` (FIt-SNE).

    Parameters
    ----------
    Y : xp.ndarray of shape (n, 2)
    xp : module
    n_boxes : int or None
        Boxes a side; None sizes the grid from ``Y``'s span (one host read).
    cache : dict or None
        Holds the kernel spectra of the last grid between calls: the spectra are reused while
        the box count and the (rounded) box width are unchanged. Only on NumPy, where reading
        the box width costs nothing; elsewhere they are recomputed, which avoids a host sync.

    Returns
    -------
    F : xp.ndarray of shape (n, 2)
    Z : 0-d xp.ndarray
    """
    n = Y.shape[0]
    dtype = Y.dtype
    lower = Y.min(axis=0)
    span = xp.max(Y.max(axis=0) - lower)
    if n_boxes is None:
        n_boxes = box_count(float(span))
    p = _N_NODES
    N = n_boxes * p  # nodes a side
    m = 2 * N
    span = xp.maximum(span, xp.finfo(dtype).tiny * n_boxes)
    box = xp.exp2(xp.ceil(xp.log2(span / n_boxes) * _WIDTH_STEPS) / _WIDTH_STEPS).astype(dtype)

    # each point's box and Lagrange weights; node (r, c) of the grid is element r * m + c of
    # the charges' buffer, whose rows are already padded to the FFT's length m
    base = None
    L = []
    for d in range(2):
        t = (Y[:, d] - lower[d]) / box
        cell = xp.minimum(xp.floor(t), n_boxes - 1)
        t -= cell
        L.append(xp.stack(_lagrange(t), axis=1))
        cell = cell.astype(xp.int64) * p  # intp: ufunc.at and take have no fast path for int32
        base = cell * m if d == 0 else base + cell
    offsets = (xp.arange(p)[:, None] * m + xp.arange(p)[None, :]).ravel().astype(base.dtype)
    # raveled: ufunc.at is many times slower on 2-D index arrays
    flat = (base[:, None] + offsets).ravel()  # (n * 9,)
    W = (L[0][:, :, None] * L[1][:, None, :]).ravel()
    del L, base

    # coordinates from the grid's center keep y_i * phi_1 - phi_y free of cancellation
    Yc = Y - (lower + box * (n_boxes / 2))
    charges = xp.zeros((3, N * m), dtype=dtype)
    xp.add.at(charges[0], flat, W)
    for c in (1, 2):
        xp.add.at(charges[c], flat, (W.reshape(n, p * p) * Yc[:, c - 1, None]).ravel())
    charges = charges.reshape(3, N, m)

    kernels = None
    key = None
    if cache is not None and is_numpy(xp):
        key = (n_boxes, float(box))
        if cache.get("key") == key:
            kernels = cache["kernels"]
    if kernels is None:
        kernels = kernel_spectra(N, box / p, xp=xp, dtype=dtype)
        if key is not None:
            cache["key"], cache["kernels"] = key, kernels

    # The zero rows of the padding are not transformed along the rows (rfft of the N data
    # rows), nor transformed back (only the first N rows of the inverse are kept).
    fft, kw = _fft(xp), _fft_kwargs(xp)
    spectra = fft.fft(fft.rfft(charges, axis=2, **kw), n=m, axis=1, **kw)
    del charges
    # Parseval: sum(c1 * (k1 conv c1)) over the grid, from the half spectrum (inner columns twice)
    s0 = spectra[0]
    power = s0.real * s0.real
    power += s0.imag * s0.imag
    power *= kernels[1]
    Z = (power.sum() + power[:, 1:m // 2].sum()) / (m * m) - n  # q_ii = 1
    del power, s0
    spectra *= kernels[0]
    potentials = fft.ifft(spectra, axis=1, **kw)[:, :N]
    del spectra
    potentials = fft.irfft(potentials, n=m, axis=2, **kw).astype(dtype, copy=False)
    potentials = potentials.reshape(3, N * m)

    # a product with ones, not .sum(axis=1): reductions along a short axis are slow in NumPy
    ones = xp.ones(p * p, dtype=dtype)
    phi = [((xp.take(potentials[c], flat) * W).reshape(n, p * p)) @ ones for c in range(3)]
    F = Yc * phi[0][:, None]
    F[:, 0] -= phi[1]
    F[:, 1] -= phi[2]
    return F, Z.astype(dtype)
