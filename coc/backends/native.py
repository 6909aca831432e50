"""The ``numpy`` and ``cupy`` backends: coc's own array kernels, one code path for both."""
from __future__ import annotations

import numpy as np

from coc.utils.xp import is_numpy
from coc.backends.base import Backend, normalize_rows
from coc.kernels import neighbors as knn
from coc.kernels.kmeans import kmeans
from coc.kernels.silhouette import silhouette_score
from coc.kernels.tsne import DEFAULT_MAX_ITER as DEFAULT_TSNE_ITER
from coc.kernels.tsne import tsne
from coc.utils.timing import Stopwatch
from coc.utils.validation import CocError


class NumpyBackend(Backend):
    """coc's own array kernels on NumPy: the code path of the ``cupy`` backend, on the CPU."""

    name = "numpy"
    kmeans_algorithm = "k-means++, Lloyd (coc kernels)"
    tsne_methods = {"auto": "FFT interpolation above 500 points, else exact (coc kernels)",
                    "fft": "FFT interpolation (coc kernels)", "exact": "exact (coc kernels)"}
    tsne_neighbors = knn.ENGINES
    tsne_max_iter = DEFAULT_TSNE_ITER
    reports_progress = True

    def __init__(self, xp):
        super().__init__(xp)
        #: What the last t-SNE ran (``coc.kernels.tsne.tsne``'s ``info``), for the records.
        self.tsne_info = {}

    def _kmeans(self, X, n_clusters, *, seed, n_init, max_iter, tol):
        return kmeans(X, n_clusters, xp=self.xp, seed=seed, n_init=n_init, max_iter=max_iter, tol=tol)

    def _silhouette(self, X, labels, *, metric):
        return silhouette_score(X, labels, xp=self.xp, metric=metric)

    def _check_tsne_neighbors(self, neighbors):
        super()._check_tsne_neighbors(neighbors)
        reason = knn.engine_status(neighbors)
        if reason is None and neighbors not in ("auto", "exact") and not is_numpy(self.xp):
            reason = f"neighbors={neighbors!r} runs on the host; on the GPU t-SNE's neighbors are exact"
        if reason is not None:
            raise CocError(reason)

    def _tsne(self, X, *, perplexity, seed, max_iter, init, method, metric, progress, neighbors):
        if metric == "cosine":
            # Neighbours and affinities by cosine distance: on unit rows |a - b|^2 = 2 (1 - cos),
            # and the perplexity calibration absorbs the factor 2.
            X = normalize_rows(X, xp=self.xp)
        watch = Stopwatch()
        # the kNN stage's time, read after the device has finished it
        self.tsne_info = {"clock": lambda: (self.synchronize(), watch.elapsed_s)[1]}
        Y = tsne(X, xp=self.xp, perplexity=perplexity, seed=seed, max_iter=max_iter, init=init,
                 method=method, progress=progress, neighbors=neighbors, info=self.tsne_info)
        del self.tsne_info["clock"]
        return Y

    def algorithm(self, op: str, *, method: str = "auto") -> str:
        text = super().algorithm(op, method=method)
        engine = self.tsne_info.get("neighbors") if op == "tsne" else None
        return f"{text}; kNN {engine}" if engine else text


class CupyBackend(NumpyBackend):
    """coc's own array kernels on CuPy: any CUDA GPU, no RAPIDS needed."""

    name = "cupy"
    default_dtype = "float32"
    is_gpu = True

    def to_numpy(self, x):
        return self.xp.asnumpy(x) if isinstance(x, self.xp.ndarray) else np.asarray(x)

    def synchronize(self):
        self.xp.cuda.get_current_stream().synchronize()

    def memory_pool(self):
        return self.xp.get_default_memory_pool()

    def device_name(self) -> str:
        dev = self.xp.cuda.Device()
        name = self.xp.cuda.runtime.getDeviceProperties(dev.id)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
