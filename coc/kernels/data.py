"""Synthetic data of the notebook, generated directly on the backend's device.

The notebook draws points uniform in [0, 1]^dim, and blobs whose centers are uniform in
[0, 1]^dim with ``n_per_center`` points from N(center, std^2 I) each. These functions draw the
same distributions from one seeded generator, so a seed fixes the data. On NumPy the
draws are made in float64 and cast, so float32 and float64 data agree to rounding.
"""
from __future__ import annotations

from coc.utils.xp import is_numpy, rng
from coc.utils.validation import check_dim, check_dtype, check_n_samples, check_seed, check_std


def uniform(n_samples: int, dim: int, *, xp, seed=0, dtype="float64"):
    """Points uniform in the unit cube.

    Parameters
    ----------
    n_samples, dim : int
        Shape of the result.
    xp : module
        Array namespace (``numpy`` or ``cupy``).
    seed : int or None
        Seed of the generator.
    dtype : str
        ``"float32"`` or ``"float64"``.

    Returns
    -------
    X : xp.ndarray of shape (n_samples, dim)
    """
    n_samples = check_n_samples(n_samples)
    dim = check_dim(dim)
    g = rng(xp, check_seed(seed))
    return _draw(g.random, (n_samples, dim), xp=xp, dtype=dtype)


def blobs(n_centers: int, n_per_center: int, dim: int, std: float, *, xp, seed=0, dtype="float64"):
    """Gaussian blobs around centers drawn uniform in the unit cube.

    Returns
    -------
    X : xp.ndarray of shape (n_centers * n_per_center, dim)
        Points ordered by center, ``n_per_center`` each.
    y : xp.ndarray of shape (n_centers * n_per_center,)
        The index of each point's center (int64).
    """
    n_centers = check_n_samples(n_centers, minimum=1, name="n_centers")
    n_per_center = check_n_samples(n_per_center, minimum=1, name="n_per_center")
    check_n_samples(n_centers * n_per_center, name="n_centers * n_per_center")
    dim = check_dim(dim)
    std = check_std(std)
    g = rng(xp, check_seed(seed))
    centers = _draw(g.random, (n_centers, dim), xp=xp, dtype=dtype)
    X = _draw(g.standard_normal, (n_centers * n_per_center, dim), xp=xp, dtype=dtype)
    X *= std
    y = xp.repeat(xp.arange(n_centers, dtype=xp.int64), n_per_center)
    X += centers[y]
    return X, y


def _draw(method, shape, *, xp, dtype):
    dt = check_dtype(dtype, xp)
    if is_numpy(xp):
        return method(shape).astype(dt, copy=False)
    return method(shape, dtype=dt)
