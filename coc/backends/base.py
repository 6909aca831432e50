"""The backend contract: the same four operations, the same options, on every engine.

Each operation's options are declared once, here, with the same names and defaults on every
backend; an option a backend cannot honour is a :class:`~coc.utils.validation.CocError` naming it,
never silently dropped. Inputs are checked here, once (``check_input=True``); a caller that
has already checked its data (the benchmark harness, the inner loops of ``coc analyze``)
passes ``check_input=False`` and the operation runs on the data as given, as scikit-learn's
``check_input`` does.
"""
from __future__ import annotations

import math

import numpy as np

from coc.kernels import data
from coc.utils import xp as _xp
from coc.kernels.distances import row_norms_sq
from coc.utils.validation import (
    CocError,
    check_n_clusters,
    check_perplexity,
    check_seed,
    check_X,
    check_X_and_labels,
    check_fits,
)

#: Scikit-learn's KMeans defaults, as the notebook used them (one restart), made explicit.
KMEANS_DEFAULTS = dict(n_init=1, max_iter=300, tol=1e-4)
#: t-SNE defaults, as scikit-learn's, except ``max_iter=None``: each engine's own default
#: (:attr:`Backend.tsne_max_iter`), so engines are compared as a user runs them, at time to
#: equal quality, never at equal iteration counts.
TSNE_DEFAULTS = dict(perplexity=30.0, max_iter=None, init="pca")
#: Distances every operation takes: KMeans runs on L2-normalized rows for ``cosine``.
METRICS = ("euclidean", "cosine")
#: t-SNE repulsion methods by coc's names (each backend says which it has).
TSNE_METHODS = ("auto", "exact", "fft", "barnes_hut")
TSNE_INITS = ("pca", "random")


#: The four operations every coc backend runs (a peer backend, some of them).
OPS = ("generate", "kmeans", "silhouette", "tsne")


class Backend:
    """One engine for generation, KMeans, silhouette and t-SNE.

    Subclasses set ``name``, ``default_dtype``, ``tsne_methods`` (coc's method name -> the
    algorithm the engine runs) and ``reports_progress``, and implement ``_kmeans``,
    ``_silhouette`` and ``_tsne``, which take checked inputs and every option by name.

    Attributes
    ----------
    name : str
        The canonical name (``sklearn``, ``numpy``, ``cupy``, ``cuml``).
    xp : module
        The array namespace of this backend's arrays (``numpy`` or ``cupy``), which coc's
        kernels take as ``xp``.
    is_gpu : bool
        Whether the arrays live on a CUDA device.
    """

    name: str = ""
    default_dtype: str = "float64"
    is_gpu: bool = False
    #: coc's t-SNE ``method`` -> a description of what the engine runs for it.
    tsne_methods: dict = {}
    #: What KMeans runs, for the records.
    kmeans_algorithm: str = ""
    #: coc's t-SNE ``neighbors`` engines this backend has (``auto``: the engine's own choice).
    tsne_neighbors: tuple = ("auto",)
    #: The iterations this engine runs when ``max_iter`` is not given (scikit-learn's 1000).
    tsne_max_iter: int = 1000
    #: Whether ``tsne(progress=...)`` is honoured.
    reports_progress: bool = False
    #: Ops this engine does not have (a peer backend's), op -> why: benchmark cells skip them.
    missing_ops: dict = {}

    def __init__(self, xp):
        self.xp = xp

    def __repr__(self):
        return f"<coc backend {self.name!r}>"

    # -- data and the host boundary -------------------------------------------------------
    def uniform(self, n_samples, dim, *, seed=0, dtype=None):
        """Points uniform in [0, 1]^dim, on this backend's device (see :func:`coc.kernels.data.uniform`)."""
        dtype = dtype or self.default_dtype
        self.check_fits(generation_bytes(n_samples, dim, dtype), what=f"{n_samples} x {dim} uniform points")
        return data.uniform(n_samples, dim, xp=self.xp, seed=check_seed(seed), dtype=dtype)

    def blobs(self, n_centers, n_per_center, dim, std, *, seed=0, dtype=None):
        """Gaussian blobs and their true labels (see :func:`coc.kernels.data.blobs`)."""
        dtype = dtype or self.default_dtype
        if _is_count(n_centers) and _is_count(n_per_center):  # else data.blobs says what is wrong
            self.check_fits(generation_bytes(n_centers * n_per_center, dim, dtype),
                            what=f"{n_centers} x {n_per_center} blob points in {dim} dimensions")
        return data.blobs(n_centers, n_per_center, dim, std, xp=self.xp, seed=check_seed(seed), dtype=dtype)

    def asarray(self, X, dtype=None):
        """Move a host array to this backend's device (the one entrance)."""
        return self.xp.asarray(X, dtype=dtype)

    def to_numpy(self, x):
        """Move a backend array to the host as NumPy (the one exit)."""
        return np.asarray(x)

    def synchronize(self):
        """Wait for queued device work; a no-op on the CPU."""

    # -- memory and device ------------------------------------------------------------------
    def check_fits(self, n_bytes: int, *, what: str) -> None:
        """Raise :class:`CocError` before allocating when ``n_bytes`` exceed :meth:`free_memory`
        (a MemoryError half-way, or the system's out-of-memory killer, is the alternative)."""
        check_fits(n_bytes, self.free_memory(), what=what)

    def free_memory(self) -> int:
        """Bytes available to a new allocation on this backend's device (host RAM on a CPU)."""
        return _xp.free_bytes(self.xp)

    def release_memory(self) -> None:
        """Hand cached device blocks back to the driver (a no-op on the CPU)."""
        _xp.free_pool(self.xp)

    def memory_pool(self):
        """The device memory pool whose high-water mark is this backend's peak, or None."""
        return None

    def is_out_of_memory(self, error: BaseException) -> bool:
        """Whether ``error`` means the device (or host) ran out of memory."""
        return isinstance(error, _xp.oom_errors(self.xp))

    def device_name(self) -> str:
        """The device this backend computes on: the GPU's name, or ``cpu``."""
        return "cpu"

    # -- operations ---------------------------------------------------------------------
    def kmeans(self, X, n_clusters, *, seed=0, n_init=KMEANS_DEFAULTS["n_init"],
               max_iter=KMEANS_DEFAULTS["max_iter"], tol=KMEANS_DEFAULTS["tol"],
               metric="euclidean", check_input=True):
        """Cluster ``X`` with k-means++ seeding and Lloyd iterations.

        Parameters
        ----------
        X : array of shape (n_samples, dim)
        n_clusters : int
        seed : int or None
        n_init : int
            Seedings; the run with the lowest inertia is kept.
        max_iter : int
            Most Lloyd iterations per run.
        tol : float or None
            As scikit-learn means it; ``None`` runs exactly ``max_iter`` iterations.
        metric : {"euclidean", "cosine"}
            ``cosine`` clusters the L2-normalized rows (spherical k-means' assignment).
        check_input : bool
            Check ``X`` (finite 2-D floats) and the options; ``False`` for data already
            checked (one host synchronization saved).

        Returns
        -------
        labels : backend int array of shape (n_samples,)
        inertia : float
        """
        result = self.kmeans_result(X, n_clusters, seed=seed, n_init=n_init, max_iter=max_iter,
                                    tol=tol, metric=metric, check_input=check_input)
        return result.labels, result.inertia

    def kmeans_result(self, X, n_clusters, *, seed=0, n_init=KMEANS_DEFAULTS["n_init"],
                      max_iter=KMEANS_DEFAULTS["max_iter"], tol=KMEANS_DEFAULTS["tol"],
                      metric="euclidean", check_input=True):
        """Like :meth:`kmeans`, returning a :class:`coc.kernels.kmeans.KMeansResult`
        (labels, inertia, n_iter, centers; the centers of the normalized rows for cosine)."""
        if check_input:
            X = check_X(X, xp=self.xp)
            n_clusters = check_n_clusters(n_clusters, X.shape[0])
            seed = check_seed(seed)
            n_init = _check_int(n_init, "n_init", 1)
            max_iter = _check_int(max_iter, "max_iter", 1)
            if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating))
                                    or not 0 <= tol < math.inf):
                raise CocError(f"tol must be a finite number >= 0 or None, got {tol!r}")
            _check_choice(metric, METRICS, "metric")
        if metric == "cosine":
            X = normalize_rows(X, xp=self.xp)
        return self._kmeans(X, n_clusters, seed=seed, n_init=n_init, max_iter=max_iter, tol=tol)

    def silhouette(self, X, labels, *, metric="euclidean", check_input=True) -> float:
        """Mean silhouette coefficient, as ``sklearn.metrics.silhouette_score``.

        ``metric`` is ``euclidean`` or ``cosine`` (``1 - cos``). With ``check_input=False``
        the labels must hold at least two distinct values and fewer than n_samples.
        """
        if check_input:
            _check_choice(metric, METRICS, "metric")
            X, labels = check_X_and_labels(X, labels, xp=self.xp)  # one host read for both
        return float(self._silhouette(X, labels, metric=metric))

    def tsne(self, X, *, perplexity=TSNE_DEFAULTS["perplexity"], seed=0,
             max_iter=TSNE_DEFAULTS["max_iter"], init=TSNE_DEFAULTS["init"], method="auto",
             metric="euclidean", progress=None, check_input=True, neighbors="auto"):
        """A 2-D t-SNE embedding of ``X``, shape (n_samples, 2), on this backend's device.

        Parameters
        ----------
        X : array of shape (n_samples, dim)
        perplexity : float
        seed : int or None
        max_iter : int or None
            Gradient steps, the 250 of early exaggeration included; None (the default) runs
            the engine's own default, :attr:`tsne_max_iter` (scikit-learn and cuML 1000, coc's
            kernels and openTSNE 750).
        init : {"pca", "random"}
            ``"pca"`` of one-column data (one component, where t-SNE wants two) starts from
            ``"random"`` instead, on every backend.
        method : {"auto", "exact", "fft", "barnes_hut"}
            The repulsion; each backend has some (:attr:`tsne_methods`), and asking for
            another is an error naming the ones it has.
        metric : {"euclidean", "cosine"}
            The distance of the input's neighbourhoods.
        progress : callable or None
            ``progress(iteration, max_iter)`` every 50 iterations, on backends that report
            it (:attr:`reports_progress`); elsewhere a callable is an error.
        check_input : bool
        neighbors : str
            The kNN engine of the affinities (:attr:`tsne_neighbors`; ``coc`` kernels:
            ``auto``, ``exact``, ``faiss``, ``hnswlib``, see :mod:`coc.kernels.neighbors`).
            An engine that is not installed is an error naming the extra that installs it.

        Returns
        -------
        Y : backend array of shape (n_samples, 2), in X's dtype
        """
        if max_iter is None:
            max_iter = self.tsne_max_iter
        if check_input:
            X = check_X(X, xp=self.xp)
            perplexity = check_perplexity(perplexity, X.shape[0])
            seed = check_seed(seed)
            max_iter = _check_int(max_iter, "max_iter", 1)
            _check_choice(init, TSNE_INITS, "init")
            _check_choice(metric, METRICS, "metric")
            self._check_tsne_method(method)
            if progress is not None and not self.reports_progress:
                raise CocError(f"backend {self.name!r} cannot report t-SNE progress (progress=...)")
        self._check_tsne_neighbors(neighbors)  # unchecked input too: cheap, and an extra may be missing
        if init == "pca" and X.shape[1] < 2:
            init = "random"
        Y = self._tsne(X, perplexity=perplexity, seed=seed, max_iter=max_iter, init=init,
                       method=method, metric=metric, progress=progress, neighbors=neighbors)
        return Y.astype(X.dtype, copy=False)

    def algorithm(self, op: str, *, method: str = "auto") -> str:
        """What this backend runs for ``op`` (``kmeans``, ``tsne``...), for the records."""
        if op == "kmeans":
            return self.kmeans_algorithm
        if op == "tsne":
            return self.tsne_methods.get(method, "")
        return ""

    def _check_tsne_method(self, method):
        if method not in self.tsne_methods:
            raise CocError(f"backend {self.name!r} has no t-SNE method {method!r}; "
                           f"it has: {', '.join(self.tsne_methods)}")

    def _check_tsne_neighbors(self, neighbors):
        if neighbors not in self.tsne_neighbors:
            raise CocError(f"backend {self.name!r} has no t-SNE neighbors {neighbors!r}; "
                           f"it has: {', '.join(self.tsne_neighbors)}")


def generation_bytes(n_samples, dim, dtype) -> int:
    """Peak bytes of drawing ``n_samples`` x ``dim`` points: on NumPy the draw is made in
    float64 and cast (:func:`coc.kernels.data.uniform`), and a blob's center rows are gathered
    into a temporary of the same shape, so two full arrays beside the result's rows."""
    if not (_is_count(n_samples) and _is_count(dim)):
        return 0  # the generator's own checks name what is wrong
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        return 0  # not a dtype: the generator's check_dtype names it
    return int(n_samples) * int(dim) * (8 + itemsize)


def _is_count(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def normalize_rows(X, *, xp):
    """Rows scaled to unit length (zero rows stay zero): cosine distance becomes Euclidean."""
    norms = xp.sqrt(row_norms_sq(X, xp=xp))[:, None]
    return X / xp.where(norms > 0, norms, 1)


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise CocError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_choice(value, choices, name):
    if value not in choices:
        raise CocError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
