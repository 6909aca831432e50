"""The backend registry: the same four operations on interchangeable engines.

======== ======= ======================================================
name     arrays  operations
======== ======= ======================================================
sklearn  NumPy   NumPy generation, scikit-learn KMeans/silhouette/TSNE
numpy    NumPy   coc's own array kernels
cupy     CuPy    coc's own array kernels (the same code as ``numpy``)
cuml     CuPy    cuML KMeans, silhouette_score, TSNE
======== ======= ======================================================

Aliases: ``cpu`` is ``sklearn``; ``gpu`` is ``cuml`` where cuML imports, else ``cupy``.
GPU libraries are imported lazily: a backend that cannot run here is only an error when it
is asked for, and :func:`available_backends` says why.
"""
from __future__ import annotations

import functools
import importlib

import numpy as np

from coc import data
from coc.validation import (
    CocError,
    check_labels,
    check_n_clusters,
    check_perplexity,
    check_X,
)

#: Scikit-learn's KMeans defaults, as the notebook used them, made explicit.
KMEANS_DEFAULTS = dict(n_init=1, max_iter=300, tol=1e-4)


class Backend:
    """One engine for generation, KMeans, silhouette and t-SNE.

    Subclasses set ``name``, ``default_dtype`` and implement ``_kmeans``, ``_silhouette``
    and ``_tsne``; inputs are checked here, once, for all of them.
    """

    name: str = ""
    default_dtype: str = "float64"
    is_gpu: bool = False

    def __init__(self, xp):
        self.xp = xp

    def __repr__(self):
        return f"<coc backend {self.name!r}>"

    # -- data ---------------------------------------------------------------------
    def uniform(self, n_samples, dim, *, seed=0, dtype=None):
        """Points uniform in [0, 1]^dim, on this backend's device (see :func:`coc.data.uniform`)."""
        return data.uniform(n_samples, dim, xp=self.xp, seed=seed, dtype=dtype or self.default_dtype)

    def blobs(self, n_centers, n_per_center, dim, std, *, seed=0, dtype=None):
        """Gaussian blobs and their true labels (see :func:`coc.data.blobs`)."""
        return data.blobs(
            n_centers, n_per_center, dim, std, xp=self.xp, seed=seed, dtype=dtype or self.default_dtype
        )

    def asarray(self, X, dtype=None):
        """Move a host array to this backend's device (the one entrance)."""
        return self.xp.asarray(X, dtype=dtype)

    def to_numpy(self, x):
        """Move a backend array to the host as NumPy (the one exit)."""
        return np.asarray(x)

    def synchronize(self):
        """Wait for queued device work; a no-op on the CPU."""

    # -- operations ---------------------------------------------------------------
    def kmeans(self, X, n_clusters, *, seed=0, **kwargs):
        """Cluster ``X`` with k-means++ seeding and Lloyd iterations.

        Parameters
        ----------
        X : backend array of shape (n_samples, dim)
        n_clusters : int
        seed : int
        **kwargs
            ``n_init``, ``max_iter``, ``tol`` as scikit-learn means them (defaults:
            :data:`KMEANS_DEFAULTS`); ``tol=None`` runs exactly ``max_iter`` iterations.

        Returns
        -------
        labels : backend int array of shape (n_samples,)
        inertia : float
        """
        result = self.kmeans_result(X, n_clusters, seed=seed, **kwargs)
        return result.labels, result.inertia

    def kmeans_result(self, X, n_clusters, *, seed=0, **kwargs):
        """Like :meth:`kmeans`, returning a :class:`coc.kernels.kmeans.KMeansResult`
        (labels, inertia, n_iter, centers)."""
        X = check_X(X, xp=self.xp)
        n_clusters = check_n_clusters(n_clusters, X.shape[0])
        params = {**KMEANS_DEFAULTS, **kwargs}
        return self._kmeans(X, n_clusters, seed=seed, **params)

    def silhouette(self, X, labels) -> float:
        """Mean silhouette coefficient (Euclidean), as ``sklearn.metrics.silhouette_score``."""
        X = check_X(X, xp=self.xp)
        labels = check_labels(labels, X.shape[0], xp=self.xp)
        return float(self._silhouette(X, labels))

    def tsne(self, X, *, perplexity=30.0, seed=0, **kwargs):
        """A 2-D t-SNE embedding of ``X``, shape (n_samples, 2), on this backend's device."""
        X = check_X(X, xp=self.xp)
        perplexity = check_perplexity(perplexity, X.shape[0])
        return self._tsne(X, perplexity=perplexity, seed=seed, **kwargs)


class SklearnBackend(Backend):
    """The CPU reference: NumPy generation and scikit-learn's estimators."""

    name = "sklearn"

    def _kmeans(self, X, n_clusters, *, seed, n_init, max_iter, tol):
        from sklearn.cluster import KMeans

        from coc.kernels.kmeans import KMeansResult

        km = KMeans(
            n_clusters=n_clusters,
            init="k-means++",
            n_init=n_init,
            max_iter=max_iter,
            tol=0.0 if tol is None else tol,
            algorithm="lloyd",
            random_state=seed,
        ).fit(X)
        return KMeansResult(km.labels_, float(km.inertia_), int(km.n_iter_), km.cluster_centers_)

    def _silhouette(self, X, labels):
        from sklearn.metrics import silhouette_score

        return silhouette_score(X, labels)

    def _tsne(self, X, *, perplexity, seed, max_iter=1000, progress=None, **kwargs):
        from sklearn.manifold import TSNE

        return TSNE(
            n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
            max_iter=max_iter, random_state=seed, **kwargs,
        ).fit_transform(X)


class NumpyBackend(Backend):
    """coc's own array kernels on NumPy: the code path of the ``cupy`` backend, on the CPU."""

    name = "numpy"

    def _kmeans(self, X, n_clusters, *, seed, **params):
        from coc.kernels.kmeans import kmeans

        return kmeans(X, n_clusters, xp=self.xp, seed=seed, **params)

    def _silhouette(self, X, labels):
        from coc.kernels.silhouette import silhouette_score

        return silhouette_score(X, labels, xp=self.xp)

    def _tsne(self, X, *, perplexity, seed, **kwargs):
        from coc.kernels.tsne import tsne

        return tsne(X, xp=self.xp, perplexity=perplexity, seed=seed, **kwargs)


class CupyBackend(NumpyBackend):
    """coc's own array kernels on CuPy: any CUDA GPU, no RAPIDS needed."""

    name = "cupy"
    default_dtype = "float32"
    is_gpu = True

    def to_numpy(self, x):
        return self.xp.asnumpy(x) if isinstance(x, self.xp.ndarray) else np.asarray(x)

    def synchronize(self):
        self.xp.cuda.get_current_stream().synchronize()


class CumlBackend(CupyBackend):
    """A thin adapter over RAPIDS cuML's KMeans, silhouette_score and TSNE."""

    name = "cuml"

    def _kmeans(self, X, n_clusters, *, seed, n_init, max_iter, tol):
        from cuml.cluster import KMeans

        from coc.kernels.kmeans import KMeansResult

        km = KMeans(
            n_clusters=n_clusters, init="scalable-k-means++", n_init=n_init, max_iter=max_iter,
            tol=0.0 if tol is None else tol, random_state=seed, output_type="cupy",
        ).fit(X)
        return KMeansResult(
            self.xp.asarray(km.labels_), float(km.inertia_), int(getattr(km, "n_iter_", max_iter)),
            self.xp.asarray(km.cluster_centers_),
        )

    def _silhouette(self, X, labels):
        from cuml.metrics.cluster import silhouette_score

        return silhouette_score(X, labels)

    def _tsne(self, X, *, perplexity, seed, max_iter=1000, progress=None, **kwargs):
        import inspect

        from cuml.manifold import TSNE

        # cuML renamed n_iter to max_iter (as scikit-learn did); accept either release.
        iters = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"
        Y = TSNE(
            n_components=2, perplexity=perplexity, method="fft", random_state=seed,
            output_type="cupy", **{iters: max_iter}, **kwargs,
        ).fit_transform(X)
        return self.xp.asarray(Y)


# -- availability: imports are lazy and cached; a missing GPU is a status, not a crash --
@functools.lru_cache(maxsize=None)
def _cupy_status():
    try:
        cupy = importlib.import_module("cupy")
    except Exception as e:  # ImportError, or a broken CUDA install raising at import
        return None, f"CuPy is not installed ({type(e).__name__}: {e}); pip install 'coc[gpu]'"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return None, f"no usable CUDA device ({type(e).__name__}: {e})"
    if n < 1:
        return None, "no CUDA device found"
    return cupy, None


@functools.lru_cache(maxsize=None)
def _cuml_status():
    cupy, reason = _cupy_status()
    if reason:
        return None, reason
    try:
        importlib.import_module("cuml")
    except Exception as e:
        return None, f"cuML is not installed ({type(e).__name__}: {e}); pip install 'coc[rapids]'"
    return cupy, None


def _numpy_status():
    return np, None


_REGISTRY = {
    "sklearn": (SklearnBackend, _numpy_status),
    "numpy": (NumpyBackend, _numpy_status),
    "cupy": (CupyBackend, _cupy_status),
    "cuml": (CumlBackend, _cuml_status),
}
ALIASES = {"cpu": "sklearn", "gpu": None}  # gpu resolves at run time


def backend_names() -> list[str]:
    """The backends' canonical names, in the registry's order."""
    return list(_REGISTRY)


def resolve_name(name: str) -> str:
    """Canonical backend name for ``name`` or an alias; ``CocError`` for an unknown name."""
    name = str(name).lower()
    if name == "gpu":
        return "cuml" if _cuml_status()[1] is None else "cupy"
    name = ALIASES.get(name) or name
    if name not in _REGISTRY:
        raise CocError(
            f"unknown backend {name!r}; choose one of: {', '.join(_REGISTRY)} "
            f"(aliases {', '.join(ALIASES)})"
        )
    return name


def available_backends() -> dict:
    """``{name: None}`` for each backend that runs here, ``{name: reason}`` for the others."""
    return {name: status()[1] for name, (_cls, status) in _REGISTRY.items()}


def get_backend(name: str = "sklearn") -> Backend:
    """The backend called ``name`` (or an alias).

    Raises
    ------
    CocError
        For an unknown name (listing the valid ones), or a backend that cannot run on this
        machine (saying why: no CuPy, no CUDA device, no cuML).
    """
    canonical = resolve_name(name)
    cls, status = _REGISTRY[canonical]
    xp, reason = status()
    if reason:
        raise CocError(f"backend {canonical!r} is not available here: {reason}")
    return cls(xp)


# -- coc backends ----------------------------------------------------------------------
def add_arguments(parser):
    """``coc backends`` takes no options."""
    pass


def main(args) -> int:
    """``coc backends``: each backend with ``available`` or the reason it is not."""
    status = available_backends()
    width = max(map(len, status))
    for name, reason in status.items():
        print(f"{name:<{width}}  {'available' if reason is None else 'unavailable: ' + reason}")
    print(f"aliases: cpu -> sklearn, gpu -> {resolve_name('gpu')}")
    return 0
