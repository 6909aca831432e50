"""Array-namespace helpers shared by every kernel.

coc's kernels take the array module explicitly (``xp`` is ``numpy`` or ``cupy``), so one
algorithm body runs on the CPU and on a CUDA GPU. Everything that differs between the two
namespaces (random generators, free memory, out-of-memory errors) is answered here, once.
"""
from __future__ import annotations

import os


def is_numpy(xp) -> bool:
    """True when ``xp`` is NumPy (the one place a NumPy-only fast path may branch)."""
    return getattr(xp, "__name__", "") == "numpy"


def rng(xp, seed):
    """A seeded random ``Generator`` that draws arrays in ``xp`` (NumPy's PCG64, CuPy's XORWOW)."""
    return xp.random.default_rng(seed)


def free_bytes(xp) -> int:
    """Memory available to a new allocation, in bytes, on the device that ``xp`` targets."""
    if is_numpy(xp):
        try:
            import psutil

            return int(psutil.virtual_memory().available)
        except ImportError:  # pragma: no cover - psutil is a dependency
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    free, _total = xp.cuda.runtime.memGetInfo()
    pool = xp.get_default_memory_pool()
    return int(free + pool.free_bytes())


def oom_errors(xp) -> tuple:
    """Exception types that mean 'out of memory' for ``xp``."""
    if is_numpy(xp):
        return (MemoryError,)
    # Read from xp itself, never imported: evaluated in an ``except`` clause, an ImportError
    # here would replace the error being handled. CuPy's (and coc.testing's) live in cuda.memory.
    memory = getattr(getattr(xp, "cuda", None), "memory", None)
    error = getattr(memory, "OutOfMemoryError", None)
    return (MemoryError,) if error is None else (MemoryError, error)


def free_pool(xp) -> None:
    """Return cached device blocks to the driver (a no-op on NumPy)."""
    if not is_numpy(xp):
        xp.get_default_memory_pool().free_all_blocks()
