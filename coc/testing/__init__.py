"""Testing the GPU path without a GPU: a CuPy-faithful array namespace that computes with NumPy.

:func:`strict_namespace` returns an object passed as ``xp`` wherever coc takes ``numpy`` or
``cupy``. It computes with NumPy, but behaves like CuPy where a CPU run would otherwise hide
a GPU failure or a GPU slowdown:

* **only CuPy's API.** It exposes the functions, ``ndarray`` methods, ``random.Generator``
  methods, ``fft`` and ``linalg`` functions that both CuPy 13 and CuPy 14 implement (with
  CuPy's signatures where they are narrower than NumPy's), restricted to what coc could
  plausibly call; anything else raises ``AttributeError`` naming it. The lists are in
  :mod:`coc.testing._cupy_api`, read from CuPy's sources at v13.6.0 and v14.2.0
  (``cupy/__init__.py``, ``cupy/_core/core.pyx``, ``cupy/random/_generator_api.pyx``; the
  comparison table of docs/source/reference/comparison.rst is generated from them).
* **no implicit host conversion.** ``np.asarray(x)`` on its arrays raises ``TypeError``, as
  CuPy's ``ndarray.__array__`` does, and its functions and operators refuse NumPy arrays
  (except ``asarray``/``array``, the entrance, and index arrays).
* **host synchronizations are counted.** Each ``.item()``, ``.tolist()``, ``.get()``,
  ``float()``, ``int()``, ``bool()``, ``complex()``, ``__index__``, ``repr``/``str``/format,
  ``asnumpy``, stream synchronization, boolean-mask indexing, and each call of a function
  that reads data back in CuPy (:data:`coc.testing._cupy_api.SYNC_FUNCTIONS`: ``unique``,
  ``nonzero``, ``bincount``, ``compress``, ``where`` with one argument, ``repeat`` with array
  repeats...) adds one to ``xp.syncs`` and to every open :func:`count_syncs` counter.
* **CuPy-only calls have stand-ins**: ``cuda.runtime.memGetInfo()`` (host RAM),
  ``cuda.runtime.getDeviceCount()``, ``cuda.Device()``, ``cuda.get_current_stream()``
  (whose ``synchronize()`` counts), ``cuda.memory.OutOfMemoryError`` (a ``MemoryError``),
  ``get_default_memory_pool()`` (``free_all_blocks``, ``used_bytes``, ``total_bytes``,
  ``free_bytes``: an empty pool), ``asnumpy`` and ``get_array_module``.

What it cannot tell: speed, memory use, CUDA errors, or CuPy's results where they differ
from NumPy's (CuPy's ``default_rng`` is XORWOW; this one draws NumPy's PCG64 streams).
Host-to-device copies (``asarray`` of a NumPy array) are not counted.

:class:`StrictBackend` is coc's kernel backend on this namespace, for tests only (it is not in
the user registry); its one exit, ``to_numpy``, counts as a synchronization.

The namespace's machinery is in :mod:`coc.testing._strict`, its lists of CuPy's API in
:mod:`coc.testing._cupy_api`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from coc.testing._strict import OutOfMemoryError, StrictArray, StrictGenerator, StrictNamespace
from coc.backends.native import NumpyBackend

__all__ = ["OutOfMemoryError", "StrictArray", "StrictBackend", "StrictGenerator", "StrictNamespace",
           "SyncCount", "count_syncs", "strict_namespace"]


@dataclass
class SyncCount:
    """Host synchronizations seen inside a :func:`count_syncs` block.

    Attributes
    ----------
    count : int
        How many.
    calls : list of str
        What each one was (``"ndarray.item"``, ``"cupy.unique"``...), in order.
    """

    count: int = 0
    calls: list = field(default_factory=list)


@contextlib.contextmanager
def count_syncs(xp):
    """Count the host synchronizations of the strict namespace ``xp`` inside a ``with`` block.

    Parameters
    ----------
    xp : namespace from :func:`strict_namespace`

    Yields
    ------
    SyncCount
        Updated as the block runs; ``count`` is final when it ends.

    Examples
    --------
    >>> xp = strict_namespace()
    >>> with count_syncs(xp) as c:
    ...     float(xp.ones(3).sum())
    3.0
    >>> c.count, c.calls
    (1, ['ndarray.__float__'])
    """
    counter = SyncCount()
    xp._counters.append(counter)
    try:
        yield counter
    finally:
        xp._counters.remove(counter)


def strict_namespace():
    """A new CuPy-faithful array namespace computing with NumPy (see the module docstring).

    Returns
    -------
    StrictNamespace
        Pass it as ``xp``; ``xp.syncs`` counts its synchronizations since it was made.
    """
    return StrictNamespace()


class StrictBackend(NumpyBackend):
    """coc's kernel backend on :func:`strict_namespace`, for tests (not in the registry).

    Everything runs as on the ``cupy`` backend, but on NumPy; ``to_numpy`` (the one exit)
    and ``synchronize`` each count one synchronization of ``backend.xp``.
    """

    name = "strict"
    default_dtype = "float32"

    def __init__(self, xp=None):
        super().__init__(strict_namespace() if xp is None else xp)

    def to_numpy(self, x):
        return self.xp.asnumpy(x) if isinstance(x, StrictArray) else np.asarray(x)

    def synchronize(self):
        self.xp.cuda.get_current_stream().synchronize()

    def memory_pool(self):
        return self.xp.get_default_memory_pool()

    def device_name(self) -> str:
        return "cpu (coc.testing strict namespace)"
