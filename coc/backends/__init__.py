"""The backend registry: the same four operations on interchangeable engines.

======== ======= ======================================================
name     arrays  operations
======== ======= ======================================================
sklearn  NumPy   NumPy generation, scikit-learn KMeans/silhouette/TSNE
numpy    NumPy   coc's own array kernels
cupy     CuPy    coc's own array kernels (the same code as ``numpy``)
cuml     CuPy    cuML KMeans, silhouette_score, TSNE
opentsne NumPy   t-SNE only: openTSNE (a peer, for benchmarking)
faiss    NumPy   KMeans only: faiss (a peer, for benchmarking)
======== ======= ======================================================

Aliases: ``cpu`` is ``sklearn``; ``gpu`` is ``cuml`` where cuML imports, else ``cupy``.
GPU libraries are imported lazily: a backend that cannot run here is only an error when it
is asked for, and :func:`available_backends` says why. The operations and their options
are declared once, in :mod:`coc.backends.base`.
"""
from __future__ import annotations

import functools
import importlib

import numpy as np

from coc.backends.base import KMEANS_DEFAULTS, METRICS, OPS, TSNE_DEFAULTS, Backend
from coc.backends.native import CupyBackend, NumpyBackend
from coc.backends.peers import FaissBackend, OpenTSNEBackend, faiss_status, opentsne_status
from coc.backends.rapids import CumlBackend
from coc.backends.reference import SklearnBackend
from coc.utils.validation import CocError

__all__ = [
    "Backend", "KMEANS_DEFAULTS", "METRICS", "TSNE_DEFAULTS", "available_backends",
    "backend_class", "backend_kind", "backend_names", "cupy_status", "get_backend", "resolve_name",
]


# -- availability: imports are lazy and cached; a missing GPU is a status, not a crash --
@functools.lru_cache(maxsize=None)
def cupy_status():
    """``(cupy, None)`` where CuPy imports and sees a CUDA device, else ``(None, reason)``."""
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
def cuml_status():
    """``(cupy, None)`` where cuML imports on a usable CUDA device, else ``(None, reason)``."""
    cupy, reason = cupy_status()
    if reason:
        return None, reason
    try:
        importlib.import_module("cuml")
    except Exception as e:
        return None, f"cuML is not installed ({type(e).__name__}: {e}); pip install 'coc[rapids]'"
    return cupy, None


def numpy_status():
    return np, None


#: name -> (class, status function returning (array namespace, None) or (None, reason)).
_REGISTRY = {
    "sklearn": (SklearnBackend, numpy_status),
    "numpy": (NumpyBackend, numpy_status),
    "cupy": (CupyBackend, cupy_status),
    "cuml": (CumlBackend, cuml_status),
    # Peers (optional extras, the ops they have; see coc.backends.peers).
    "opentsne": (OpenTSNEBackend, opentsne_status),
    "faiss": (FaissBackend, faiss_status),
}
ALIASES = {"cpu": "sklearn", "gpu": None}  # gpu resolves at run time


def backend_names() -> list[str]:
    """The backends' canonical names, in the registry's order."""
    return list(_REGISTRY)


def resolve_name(name: str) -> str:
    """Canonical backend name for ``name`` or an alias; ``CocError`` for an unknown name."""
    name = str(name).lower()
    if name == "gpu":
        return "cuml" if cuml_status()[1] is None else "cupy"
    name = ALIASES.get(name) or name
    if name not in _REGISTRY:
        raise CocError(
            f"unknown backend {name!r}; choose one of: {', '.join(_REGISTRY)} "
            f"(aliases {', '.join(ALIASES)})"
        )
    return name


def backend_class(name: str) -> type:
    """The class of the backend called ``name`` (or an alias), without making one."""
    return _REGISTRY[resolve_name(name)][0]


def backend_kind(name: str) -> str:
    """``gpu`` for a backend whose arrays live on a CUDA device, else ``cpu``."""
    return "gpu" if backend_class(name).is_gpu else "cpu"


def available_backends() -> dict:
    """``{name: None}`` for each backend that runs here, ``{name: reason}`` for the others."""
    return {name: status()[1] for name, (_cls, status) in _REGISTRY.items()}


def get_backend(name: str = "sklearn", *, ops=()) -> Backend:
    """The backend called ``name`` (or an alias).

    Parameters
    ----------
    name : str
    ops : str or iterable of str
        The ops the caller will run (``generate``, ``kmeans``, ``silhouette``, ``tsne``):
        a backend without one of them (a peer's :attr:`Backend.missing_ops`) is refused
        here, before any work.

    Raises
    ------
    CocError
        For an unknown name (listing the valid ones), a backend that cannot run on this
        machine (saying why: no CuPy, no CUDA device, no cuML), or one that lacks an op.
    ValueError
        For an op that is none of :data:`coc.backends.base.OPS` (a caller's bug).
    """
    ops = (ops,) if isinstance(ops, str) else tuple(ops)  # (an iterator is read once)
    unknown = [op for op in ops if op not in OPS]
    if unknown:  # coc's own callers name only these: a wrong name is a bug, not a user's error
        raise ValueError(f"get_backend: no op {unknown[0]!r}; the ops are {', '.join(OPS)}")
    canonical = resolve_name(name)
    cls, status = _REGISTRY[canonical]
    lacking = [op for op in ops if op in cls.missing_ops]
    if lacking:
        whole = ", ".join(n for n, (c, _) in _REGISTRY.items() if not c.missing_ops)
        raise CocError(f"backend {canonical!r} cannot run this: {cls.missing_ops[lacking[0]]}; "
                       f"it is a peer for coc sweep; here use one of {whole}")
    xp, reason = status()
    if reason:
        raise CocError(f"backend {canonical!r} is not available here: {reason}")
    return cls(xp)
