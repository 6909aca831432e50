"""Peer backends for benchmarking: the CPU tools users pick, for the ops they have.

======== ======= ==============================================================
name     arrays  operations
======== ======= ==============================================================
opentsne NumPy   t-SNE: openTSNE's FFT-accelerated interpolation (``"fft"``)
faiss    NumPy   KMeans: faiss's CPU ``Kmeans`` (its own random seeding)
======== ======= ==============================================================

Both are optional extras (``pip install 'coc[peers]'``), imported lazily; where one is not
installed :func:`opentsne_status` / :func:`faiss_status` say so, and every sweep cell on it is
skipped with that reason. The ops a peer does not have (:attr:`Backend.missing_ops`) are
skipped with their own reason: neither has a data generator of its own (they take NumPy
arrays) nor a silhouette.

Settings, stated once
---------------------
* ``opentsne``: ``TSNE(negative_gradient_method="fft", n_jobs=N_JOBS, random_state=seed)``
  with openTSNE's own defaults otherwise (learning rate ``"auto"``, 250 iterations of early
  exaggeration, then ``max_iter - 250`` more), as a user of openTSNE would run it.
* ``faiss``: ``faiss.Kmeans(d, k, niter=max_iter, nredo=n_init, seed=seed,
  spherical=False)`` on float32 input; its seeding is a random sample of the points (not
  k-means++), and it runs exactly ``niter`` Lloyd iterations (no tolerance stop, so ``tol``
  must be None). ``max_points_per_centroid`` is raised to cover every point: by default
  faiss trains on a sample of 256 points per cluster, which would not be the same work.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import os

import numpy as np

from coc.backends.base import Backend
from coc.kernels.kmeans import KMeansResult
from coc.utils.validation import CocError

#: Threads of openTSNE (and of faiss's OpenMP): every core, as scikit-learn uses them.
N_JOBS = os.cpu_count() or 1
PEERS_HINT = "pip install 'coc[peers]'"


def _status(module, package):
    # Found, not imported: importing faiss loads its own OpenMP and OpenBLAS, and with two
    # OpenMP runtimes in one process scikit-learn's t-SNE ran three times slower here. The
    # peer is imported only when one of its cells runs.
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError) as e:
        return None, f"{package} cannot be found ({type(e).__name__}: {e}); {PEERS_HINT}"
    if not found:
        return None, f"{package} is not installed; {PEERS_HINT}"
    return np, None


@functools.lru_cache(maxsize=None)
def opentsne_status():
    """``(numpy, None)`` where openTSNE imports, else ``(None, reason)``."""
    return _status("openTSNE", "openTSNE")


@functools.lru_cache(maxsize=None)
def faiss_status():
    """``(numpy, None)`` where faiss imports, else ``(None, reason)``."""
    return _status("faiss", "faiss-cpu")


class PeerBackend(Backend):
    """A CPU tool that has some of the ops: the others are :attr:`missing_ops`."""

    default_dtype = "float32"

    def _missing(self, op):
        raise CocError(f"backend {self.name!r} has no {op}: {self.missing_ops[op]}")

    def _check_tsne_method(self, method):
        if "tsne" in self.missing_ops:
            self._missing("tsne")
        super()._check_tsne_method(method)

    def _kmeans(self, X, n_clusters, *, seed, n_init, max_iter, tol):
        self._missing("kmeans")

    def _silhouette(self, X, labels, *, metric):
        self._missing("silhouette")

    def _tsne(self, X, *, perplexity, seed, max_iter, init, method, metric, progress, neighbors):
        self._missing("tsne")


class OpenTSNEBackend(PeerBackend):
    """openTSNE's t-SNE (FFT-accelerated interpolation), on NumPy arrays."""

    name = "opentsne"
    tsne_max_iter = 750  # openTSNE: 250 early-exaggeration iterations, then 500
    tsne_methods = {"auto": f"FFT interpolation (openTSNE, n_jobs={N_JOBS})",
                    "fft": f"FFT interpolation (openTSNE, n_jobs={N_JOBS})"}
    missing_ops = {
        "generate": "openTSNE has no data generator (it takes NumPy arrays)",
        "kmeans": "openTSNE has no KMeans",
        "silhouette": "openTSNE has no silhouette",
        "silhouette-dask": "openTSNE has no silhouette",
    }

    def _tsne(self, X, *, perplexity, seed, max_iter, init, method, metric, progress, neighbors):
        from openTSNE import TSNE

        exaggeration_iter = min(250, max_iter)
        Y = TSNE(
            n_components=2, perplexity=perplexity, early_exaggeration_iter=exaggeration_iter,
            n_iter=max_iter - exaggeration_iter, initialization=init, metric=metric,
            negative_gradient_method="fft", n_jobs=N_JOBS, random_state=seed, verbose=False,
        ).fit(np.asarray(X))
        return np.asarray(Y)


class FaissBackend(PeerBackend):
    """faiss's CPU k-means, on NumPy arrays (computed in float32)."""

    name = "faiss"
    kmeans_algorithm = "random seeding, Lloyd on every point, float32 (faiss)"
    missing_ops = {
        "generate": "faiss has no data generator (it takes NumPy arrays)",
        "silhouette": "faiss has no silhouette",
        "silhouette-dask": "faiss has no silhouette",
        "tsne": "faiss has no t-SNE",
    }

    def _kmeans(self, X, n_clusters, *, seed, n_init, max_iter, tol):
        import faiss

        if tol is not None:
            raise CocError("backend 'faiss' runs a fixed number of iterations: pass tol=None")
        X = np.ascontiguousarray(X, dtype=np.float32)
        n, d = X.shape
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31 - 1))
        km = faiss.Kmeans(d, n_clusters, niter=max_iter, nredo=n_init, seed=int(seed) % 2**31,
                          spherical=False, max_points_per_centroid=math.ceil(n / n_clusters) + 1,
                          verbose=False)
        km.train(X)
        dist, idx = km.index.search(X, 1)
        return KMeansResult(idx[:, 0].astype(np.int64), float(dist.sum(dtype=np.float64)),
                            int(max_iter), km.centroids)

