"""Data with a known answer for the count of ``coc analyze``: the five simulations of
Tibshirani, Walther and Hastie (2001, J. R. Statist. Soc. B 63:411-423, section 6) and the
cases of issue 13 (very unequal anisotropic clusters, thin continua in high dimension).

Each generator takes a :class:`numpy.random.Generator` and returns ``(X, truth)``: the points
(float64) and the true number of clusters, ``1`` meaning no clusters (a continuum for coc).
``bench/count_scenarios.py`` draws them with fixed seeds; the tests draw a few.
"""
from __future__ import annotations

import numpy as np

#: Redraws allowed for scenarios (c) and (d) before giving up (the paper discards a draw whose
#: clusters touch; this many discards in a row never happens at the paper's sizes).
MAX_REDRAWS = 1000


def uniform_cube(rng: np.random.Generator):
    """(a) 200 points uniform in the unit cube in 10-d: no clusters."""
    return rng.random((200, 10)), 1


def three_clusters_2d(rng: np.random.Generator):
    """(b) Standard normal clusters of 25, 25 and 50 points at (0, 0), (0, 5), (5, -3) in 2-d."""
    centers = np.array([[0.0, 0.0], [0.0, 5.0], [5.0, -3.0]])
    sizes = (25, 25, 50)
    X = np.vstack([c + rng.standard_normal((n, 2)) for c, n in zip(centers, sizes)])
    return X, 3


def _four_clusters(rng, dim, center_var):
    """Four standard normal clusters of 25 or 50 points (at random), centres N(0, center_var I);
    a draw is discarded when two points of different clusters are closer than 1.0."""
    for _ in range(MAX_REDRAWS):
        centers = rng.standard_normal((4, dim)) * np.sqrt(center_var)
        sizes = rng.choice([25, 50], size=4)
        parts = [c + rng.standard_normal((n, dim)) for c, n in zip(centers, sizes)]
        if all(_min_distance(parts[i], parts[j]) >= 1.0 for i in range(4) for j in range(i + 1, 4)):
            return np.vstack(parts), 4
    raise RuntimeError("no draw without touching clusters")  # pragma: no cover


def four_clusters_3d(rng: np.random.Generator):
    """(c) Four clusters in 3-d, centre variance 5 per coordinate."""
    return _four_clusters(rng, 3, 5.0)


def four_clusters_10d(rng: np.random.Generator):
    """(d) Four clusters in 10-d, centre variance 1.9 per coordinate."""
    return _four_clusters(rng, 10, 1.9)


def two_elongated_3d(rng: np.random.Generator):
    """(e) Two elongated clusters in 3-d: x1 = x2 = x3 = t for 100 equally spaced t in
    [-0.5, 0.5] plus N(0, 0.1^2) noise on each feature; the second shifted by 10 in every feature."""
    t = np.linspace(-0.5, 0.5, 100)
    one = np.repeat(t[:, None], 3, axis=1) + rng.normal(0, 0.1, (100, 3))
    two = np.repeat(t[:, None], 3, axis=1) + rng.normal(0, 0.1, (100, 3)) + 10.0
    return np.vstack([one, two]), 2


def unequal_anisotropic(rng: np.random.Generator, dim: int = 64):
    """Three well-separated clusters of sizes 20, 80, 300 (1:4:15) in 64-d, each Gaussian with
    its own random covariance (axis scales from 0.2 to 2, randomly rotated); centres 12 apart."""
    sizes = (20, 80, 300)
    centers = _simplex(rng, 3, dim) * 12.0 / np.sqrt(2)
    parts = []
    for c, n in zip(centers, sizes):
        Q = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
        scales = np.exp(rng.uniform(np.log(0.2), np.log(2.0), dim))
        parts.append(c + (rng.standard_normal((n, dim)) * scales) @ Q)
    return np.vstack(parts), 3


def noisy_curve(rng: np.random.Generator, dim: int = 32, n_samples: int = 500, noise: float = 0.05):
    """A smooth closed-free 1-D curve in ``dim`` dimensions: each coordinate a random sum of the
    first four Fourier modes of t in [0, 1] (amplitude 1/j), t uniform, plus N(0, noise^2) on
    every coordinate. No clusters."""
    t = np.sort(rng.random(n_samples))
    modes = np.arange(1, 5)
    amp = rng.standard_normal((dim, len(modes))) / modes
    phase = rng.uniform(0, 2 * np.pi, (dim, len(modes)))
    X = (amp[None] * np.cos(np.pi * modes[None, None] * t[:, None, None] + phase[None])).sum(-1)
    X /= np.sqrt((X.var(axis=0)).sum())  # total variance 1 before the noise
    return X + rng.normal(0, noise, X.shape), 1


def sheet(rng: np.random.Generator, dim: int = 64, n_samples: int = 800, noise: float = 0.02):
    """A 2-d sheet in ``dim`` dimensions: the unit square mapped by a random smooth (first
    Fourier modes) embedding, plus N(0, noise^2) on every coordinate. No clusters."""
    uv = rng.random((n_samples, 2))
    basis = [np.ones(n_samples)]
    for j in (1, 2):
        for col in (0, 1):
            basis += [np.cos(np.pi * j * uv[:, col]), np.sin(np.pi * j * uv[:, col])]
    F = np.column_stack(basis + [uv[:, 0] * uv[:, 1]])
    X = F @ rng.standard_normal((F.shape[1], dim))
    X -= X.mean(axis=0)
    X /= np.sqrt(X.var(axis=0).sum())
    return X + rng.normal(0, noise, X.shape), 1


def noisy_arc(dim: int = 384, n_samples: int = 1500, noise: float = 0.01):
    """A quarter circle in ``dim`` dimensions with isotropic noise: a continuum whose density
    dip is shallow, as between overlapping clusters, while the gap statistic keeps rising.
    Seeded as the script that found the case drew it (the draws before it are replayed)."""
    rng = np.random.default_rng(0)
    for shape in ((8, dim), *[(300, dim)] * 8):
        rng.standard_normal(shape)
        if shape == (300, dim):
            rng.uniform(0.5, 3, (300, 1))
    rng.standard_normal((2000, dim))
    t = rng.uniform(0, np.pi / 2, n_samples)
    u, v = rng.standard_normal((2, dim))
    u /= np.linalg.norm(u)
    v -= (v @ u) * u
    v /= np.linalg.norm(v)
    return np.cos(t)[:, None] * u + np.sin(t)[:, None] * v + noise * rng.standard_normal((n_samples, dim))


def _simplex(rng, k, dim):
    """k points pairwise sqrt(2) apart, in a random orientation."""
    Q = np.linalg.qr(rng.standard_normal((dim, k)))[0]
    return Q.T


def _min_distance(A, B):
    D = (A * A).sum(1)[:, None] - 2 * A @ B.T + (B * B).sum(1)[None, :]
    return float(np.sqrt(max(D.min(), 0.0)))


#: The paper's five simulations, by the letter of section 6.
TIBSHIRANI = {
    "a": ("uniform, 10-d, 200 points", uniform_cube),
    "b": ("3 clusters, 2-d (25, 25, 50)", three_clusters_2d),
    "c": ("4 clusters, 3-d, centre var 5", four_clusters_3d),
    "d": ("4 clusters, 10-d, centre var 1.9", four_clusters_10d),
    "e": ("2 elongated clusters, 3-d", two_elongated_3d),
}

#: Issue 13's cases.
EXTRA = {
    "unequal": ("3 clusters 1:4:15, anisotropic, 64-d", unequal_anisotropic),
    "curve32": ("noisy 1-D curve, 32-d", lambda rng: noisy_curve(rng, dim=32)),
    "sheet64": ("noisy 2-d sheet, 64-d", lambda rng: sheet(rng, dim=64)),
    "curve256": ("noisy 1-D curve, 256-d", lambda rng: noisy_curve(rng, dim=256)),
}
