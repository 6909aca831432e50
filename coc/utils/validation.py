"""Checks of user input, shared by the Python API and the command line.

Every user mistake raises :class:`CocError`; the CLI turns it into one line
``coc: error: ...`` on stderr and exit status 2.
"""
from __future__ import annotations

import math

import numpy as np


class CocError(ValueError):
    """A mistake in what the user asked for or gave (bad size, bad file, unknown backend)."""


def check_n_samples(n_samples, *, minimum: int = 2, name: str = "n_samples") -> int:
    if not _is_int(n_samples) or n_samples < minimum:
        raise CocError(f"{name} must be an integer >= {minimum}, got {n_samples!r}")
    return int(n_samples)


def check_ratio(value, *, name: str) -> float:
    """A threshold that is a ratio: a finite real number above 0 (NaN would pass every test
    it meets, a negative ratio fail every one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise CocError(f"{name} must be a finite ratio > 0, got {value!r}")
    return float(value)


def check_fits(n_bytes: int, available: int, *, what: str) -> None:
    """Refuse, before allocating, a job that needs more memory than ``available`` bytes."""
    if n_bytes > available:
        raise CocError(f"{what} needs about {_gib(n_bytes)} of memory; {_gib(available)} are "
                       "available here (use fewer points or dimensions, or float32)")


def _gib(n_bytes) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**27 else f"{n_bytes / 2**20:.0f} MiB"


def check_dim(dim) -> int:
    if not _is_int(dim) or dim < 1:
        raise CocError(f"dim must be an integer >= 1, got {dim!r}")
    return int(dim)


def check_std(std, *, dim: int | None = None, dtype: str = "float64") -> float:
    """A blob spread, checked.

    Parameters
    ----------
    std : float
    dim : int or None
        Given, the spread must also keep the blobs' squared distances finite in ``dtype``
        (a draw of a normal rarely passes 8 sd).
    dtype : str

    Returns
    -------
    float

    Raises
    ------
    CocError
        Not a finite number >= 0, or too wide for ``dim`` and ``dtype``.
    """
    if not isinstance(std, (int, float)) or not math.isfinite(std) or std < 0:
        raise CocError(f"std must be a finite number >= 0, got {std!r}")
    if dim is not None:
        limit = max_magnitude(np.dtype(dtype), dim, xp=np) / 8
        if std > limit:
            raise CocError(f"std {std:g}: blobs this wide overflow {dtype} squared distances in "
                           f"{dim} dimensions; keep std below {limit:.3g}")
    return float(std)


def check_n_clusters(n_clusters, n_samples: int) -> int:
    if not _is_int(n_clusters) or n_clusters < 2:
        raise CocError(f"n_clusters (k) must be an integer >= 2, got {n_clusters!r}")
    if n_clusters >= n_samples:
        raise CocError(f"n_clusters (k) must be < n_samples ({n_samples}), got {n_clusters}")
    return int(n_clusters)


def check_perplexity(perplexity, n_samples: int) -> float:
    if not isinstance(perplexity, (int, float)) or not perplexity > 0:
        raise CocError(f"perplexity must be a number > 0, got {perplexity!r}")
    if perplexity >= n_samples:
        raise CocError(f"perplexity must be < n_samples ({n_samples}), got {perplexity}")
    return float(perplexity)


def check_dtype(dtype, xp):
    """Resolve ``dtype`` ('float32', 'float64' or a dtype) to an ``xp`` floating dtype."""
    try:
        dt = xp.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (xp.dtype("float32"), xp.dtype("float64")):
        raise CocError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


#: Largest seed: scikit-learn's ``random_state`` and NumPy's legacy seeding take 32 bits.
MAX_SEED = 2**32 - 1


def check_seed(seed, *, name: str = "seed"):
    """One rule for every seed coc takes: None, or an integer in [0, 2**32 - 1].

    Returns the seed as a Python int (or None).
    """
    if seed is None:
        return None
    if not _is_int(seed) or not 0 <= int(seed) <= MAX_SEED:
        raise CocError(f"{name} must be an integer from 0 to {MAX_SEED} (or None), got {seed!r}")
    return int(seed)


def check_X(X, *, xp, min_samples: int = 2):
    """Check that ``X`` is a finite 2-D float array with at least ``min_samples`` rows.

    Returns ``X`` as a floating ``xp`` array (float32 stays float32; anything else becomes
    float64). Values so large that squared distances between points would overflow the
    dtype are refused too. Both checks reduce on the device and read back once (one host
    synchronization).
    """
    X = _as_X(X, xp=xp, min_samples=min_samples)
    bad, biggest = (float(v) for v in xp.stack(_X_stats(X, xp=xp)).tolist())
    _raise_for_X(X, bad, biggest, xp=xp)
    return X


def check_X_and_labels(X, labels, *, xp, min_samples: int = 2):
    """:func:`check_X` and :func:`check_labels` together, with one host read for both.

    Returns
    -------
    X, labels : xp arrays
    """
    X = _as_X(X, xp=xp, min_samples=min_samples)
    labels = _as_labels(labels, X.shape[0], xp=xp)
    ordered = xp.sort(labels)
    n_labels = (xp.count_nonzero(ordered[1:] != ordered[:-1]) + 1).astype(xp.float64)
    bad, biggest, n_labels, bad_labels = (
        float(v) for v in xp.stack([*_X_stats(X, xp=xp), n_labels, _n_bad_labels(labels, xp=xp)]).tolist())
    _raise_for_X(X, bad, biggest, xp=xp)
    _raise_for_bad_labels(int(bad_labels), X.shape[0])
    _raise_for_labels(int(n_labels), X.shape[0])
    return X, labels


def _as_X(X, *, xp, min_samples):
    X = xp.asarray(X)
    if X.ndim != 2:
        raise CocError(f"X must be 2-D (n_samples, dim), got an array of shape {tuple(X.shape)}")
    if X.dtype.kind not in "fiub":
        raise CocError(f"X must be numeric, got dtype {X.dtype}")
    if X.dtype not in (xp.dtype("float32"), xp.dtype("float64")):
        X = X.astype(xp.float64)
    n, d = X.shape
    if n < min_samples:
        raise CocError(f"X has {n} points; at least {min_samples} are needed")
    if d < 1:
        raise CocError("X has 0 columns; at least 1 is needed")
    return X


def _X_stats(X, *, xp):
    """Device scalars (float64): rows with a NaN or inf, and the largest finite |x|."""
    finite = xp.isfinite(X)
    n_bad = xp.count_nonzero(~finite.all(axis=1)).astype(xp.float64)
    biggest = xp.max(xp.where(finite, xp.abs(X), 0)).astype(xp.float64)
    return [n_bad, biggest]


def _raise_for_X(X, bad, biggest, *, xp):
    n, d = X.shape
    if bad:
        raise CocError(f"X has NaN or inf in {int(bad)} of its {n} rows")
    limit = max_magnitude(X.dtype, d, xp=xp)
    if biggest > limit:
        raise CocError(
            f"X has values up to {biggest:.3g}: squared distances in {d} dimensions would overflow "
            f"{X.dtype} (keep |x| below {limit:.3g}; rescale the data)"
        )


def max_magnitude(dtype, dim: int, *, xp) -> float:
    """Largest |x| for which squared distances of ``dim``-dimensional points stay finite.

    |a - b|^2 <= dim * (2 max|x|)^2, and the kernels expand it as |a|^2 - 2 a.b + |b|^2,
    so a margin of 16 keeps every term finite.
    """
    return float((float(xp.finfo(dtype).max) / (16.0 * max(dim, 1))) ** 0.5)


def check_labels(labels, n_samples: int, *, xp):
    """Check labels for a silhouette: one per point and at least two distinct values."""
    labels = _as_labels(labels, n_samples, xp=xp)
    _raise_for_bad_labels(int(_n_bad_labels(labels, xp=xp)), n_samples)
    _raise_for_labels(int(xp.unique(labels).shape[0]), n_samples)
    return labels


def _as_labels(labels, n_samples, *, xp):
    labels = xp.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise CocError(
            f"labels must be 1-D with one label per point ({n_samples}), got shape {tuple(labels.shape)}"
        )
    return labels


def _n_bad_labels(labels, *, xp):
    """Device scalar (float64): labels that are NaN or inf. A NaN is unequal to itself, so
    each one would count as a cluster of its own and the silhouette come out a number."""
    if labels.dtype.kind not in "fc":
        return xp.zeros((), dtype=xp.float64)
    return xp.count_nonzero(~xp.isfinite(labels)).astype(xp.float64)


def _raise_for_bad_labels(n_bad, n_samples):
    if n_bad:
        raise CocError(f"labels hold NaN or inf for {n_bad} of the {n_samples} points")


def _raise_for_labels(n_labels, n_samples):
    if n_labels < 2 or n_labels > n_samples - 1:
        raise CocError(
            f"silhouette needs 2 <= number of distinct labels <= n_samples - 1, got {n_labels}"
        )


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) or (
        hasattr(x, "dtype") and getattr(x, "ndim", 1) == 0 and x.dtype.kind in "iu"
    )
