"""Named benchmark profiles: which cells a run holds, and the largest each op may run.

A profile is data (:class:`Profile`): backends, ops, sizes, repeats, iteration budgets and
size limits per backend kind. ``coc sweep --profile NAME`` and ``pytest bench
--coc-profile NAME`` take their cells from :func:`make_cells`; a cell over a limit is
*skipped* with the limit's reason (:func:`skip_reason`). Before a cell runs, its memory is
also estimated and compared with what the device has free (:func:`coc.suite.cells.memory_reason`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from coc.backends import available_backends, backend_class, backend_kind, resolve_name
from coc.suite.cells import ALL_OPS, EXTRA_OPS, ITER_OPS, K, K_OPS, OPS, Cell
from coc.utils.validation import CocError, check_dim, check_n_samples


@dataclass(frozen=True)
class Limit:
    """The largest cell an op may run on some backends, and why.

    A cell is within the limit when ``n_samples <= max_n`` and
    ``n_samples * dim <= max_elements`` (a None bound does not apply).
    """

    reason: str
    max_n: Optional[int] = None
    max_elements: Optional[int] = None

    def allows(self, n_samples: int, dim: int) -> bool:
        return (self.max_n is None or n_samples <= self.max_n) and (
            self.max_elements is None or n_samples * dim <= self.max_elements
        )


@dataclass(frozen=True)
class Profile:
    """A named set of cells and how to time them.

    Attributes
    ----------
    name, description : str
    backends, ops : tuple of str
    n_samples, dims : tuple of int
    repeats : int
        Timed repeats per cell (after one warm-up round).
    max_iter : dict
        Fixed iteration budget per op (``kmeans``, ``tsne``).
    limits : dict
        ``(backend or kind, op) -> Limit``; a backend's own entry wins over its kind's.
    dtype : str
    k : int
    """

    name: str
    description: str
    backends: tuple
    ops: tuple
    n_samples: tuple
    dims: tuple
    repeats: int
    max_iter: dict
    limits: dict = field(default_factory=dict)
    dtype: str = "float32"
    k: int = K


_ALL_BACKENDS = ("sklearn", "numpy", "cupy", "cuml")

PROFILES = {
    "smoke": Profile(
        name="smoke",
        description="seconds on a 2-core CPU; also what CI runs (bench/ with --benchmark-disable)",
        backends=_ALL_BACKENDS,
        ops=OPS,
        n_samples=(250, 500),
        dims=(16,),
        repeats=2,
        # 250 is the fewest t-SNE iterations scikit-learn accepts.
        max_iter={"kmeans": 30, "tsne": 250},
    ),
    "laptop": Profile(
        name="laptop",
        description="minutes on a CPU (under 10 on 2 cores without the t-SNE cells at 100,000 "
                    "points, which add minutes per repeat)",
        backends=_ALL_BACKENDS + ("opentsne",),
        ops=OPS,
        n_samples=(1_000, 3_000, 10_000, 30_000, 100_000),
        dims=(32, 128),
        repeats=3,
        # t-SNE at each engine's own default iterations: engines are compared at time to
        # equal quality (the KL beside each time), never at equal iteration counts.
        max_iter={"kmeans": 30},
        limits={
            ("cpu", "silhouette"): Limit(
                "silhouette is O(n_samples^2 dim): beyond 30,000 x 32 or 10,000 x 128 it takes "
                "minutes per repeat on a laptop CPU (laptop profile limit)",
                max_n=30_000, max_elements=10_000 * 128,
            ),
            ("cpu", "tsne"): Limit(
                "t-SNE beyond 10,000 x 32 or 3,000 x 128 takes over 20 s per run on a 2-core "
                "CPU and would push the laptop profile past 10 minutes (laptop profile limit)",
                max_n=10_000, max_elements=3_000 * 128,
            ),
            # t-SNE reaches 100,000 points on the two FFT engines, at 32 dimensions only
            ("numpy", "tsne"): Limit(
                "FFT t-SNE runs to 100,000 x 32 on a laptop; beyond, or at 128 dimensions "
                "beyond 3,000 points, it takes minutes per run (laptop profile limit)",
                max_n=100_000, max_elements=max(100_000 * 32, 3_000 * 128),
            ),
            ("opentsne", "tsne"): Limit(
                "FFT t-SNE runs to 100,000 x 32 on a laptop; beyond, or at 128 dimensions "
                "beyond 3,000 points, it takes minutes per run (laptop profile limit)",
                max_n=100_000, max_elements=max(100_000 * 32, 3_000 * 128),
            ),
        },
    ),
    "workstation": Profile(
        name="workstation",
        description="one CUDA GPU, n_samples up to 1,000,000 and dim up to 1024 (~8 min on an H100 "
                    "before t-SNE reached 1,000,000 points)",
        backends=_ALL_BACKENDS + ("opentsne",),
        ops=OPS,
        n_samples=(10_000, 100_000, 1_000_000),
        dims=(32, 256, 1024),
        repeats=3,
        max_iter={"kmeans": 100},  # t-SNE at each engine's default iterations, as in laptop
        limits={
            # The CPU backends run only where they take seconds: they are the baseline
            # column, not the subject, of a workstation sweep.
            ("cpu", "generate"): Limit(
                "a CPU draws 2.6e8 values in about a second; larger is not a baseline worth "
                "minutes (workstation profile limit)",
                max_elements=256 * 1_000_000,
            ),
            ("cpu", "kmeans"): Limit(
                "CPU KMeans beyond 100,000 x 256 at 100 iterations takes minutes "
                "(workstation profile limit)",
                max_elements=100_000 * 256,
            ),
            ("cpu", "silhouette"): Limit(
                "silhouette is O(n_samples^2 dim): beyond 10,000 points a CPU takes minutes "
                "(workstation profile limit)",
                max_n=10_000,
            ),
            ("cpu", "tsne"): Limit(
                "CPU t-SNE beyond 10,000 x 32 takes minutes per run (workstation profile limit)",
                max_elements=10_000 * 32,
            ),
            ("numpy", "generate"): Limit(
                "the numpy backend is the cupy code on the CPU; on a workstation only its "
                "smallest cells are run (workstation profile limit)",
                max_n=10_000,
            ),
            ("numpy", "kmeans"): Limit(
                "the numpy backend is the cupy code on the CPU (workstation profile limit)",
                max_n=10_000, max_elements=10_000 * 32,
            ),
            ("numpy", "silhouette"): Limit(
                "the numpy backend is the cupy code on the CPU (workstation profile limit)",
                max_n=10_000, max_elements=10_000 * 32,
            ),
            ("numpy", "tsne"): Limit(
                "the numpy backend is the cupy code on the CPU (workstation profile limit)",
                max_n=10_000, max_elements=10_000 * 32,
            ),
            ("gpu", "silhouette"): Limit(
                "silhouette is O(n_samples^2 dim): 1,000,000 x 1024 is ~2e15 flops, minutes per "
                "repeat even on one GPU (workstation profile limit)",
                max_n=100_000,
            ),
            ("opentsne", "tsne"): Limit(
                "openTSNE is the CPU peer of the GPU t-SNE up to 100,000 x 32; beyond, it takes "
                "many minutes per run (workstation profile limit)",
                max_elements=100_000 * 32,
            ),
            ("gpu", "tsne"): Limit(
                "GPU t-SNE runs to 1,000,000 x 256; at 1024 dimensions its exact kNN alone is "
                "~2e15 flops per run (workstation profile limit)",
                max_elements=1_000_000 * 256,
            ),
        },
    ),
    "gpu-check": Profile(
        name="gpu-check",
        description="bench/gpu_check.sh on one GPU lease: cupy at 1e4 to 1e6 points with no GPU "
                    "size limit (the script names its sizes), sklearn only where it takes seconds "
                    "on a 16-core host",
        backends=("sklearn", "cupy"),
        ops=OPS,
        n_samples=(10_000, 100_000, 1_000_000),
        dims=(32, 128),
        repeats=2,
        max_iter={"kmeans": 100},  # t-SNE at each engine's default iterations
        limits={
            ("cpu", "kmeans"): Limit(
                "CPU KMeans beyond 100,000 x 128 at 100 iterations is not seconds "
                "(gpu-check profile limit)",
                max_elements=100_000 * 128,
            ),
            ("cpu", "silhouette"): Limit(
                "silhouette is O(n_samples^2 dim): beyond 10,000 points a CPU takes minutes "
                "(gpu-check profile limit)",
                max_n=10_000,
            ),
            ("cpu", "tsne"): Limit(
                "CPU t-SNE beyond 10,000 x 32 at 1000 iterations is not seconds "
                "(gpu-check profile limit)",
                max_elements=10_000 * 32,
            ),
        },
    ),
}
DEFAULT_PROFILE = "smoke"


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ``CocError`` listing the valid names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise CocError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


def resolve_backends(names) -> tuple:
    """Canonical backend names for ``names`` (aliases resolved, duplicates dropped, order kept)."""
    out = []
    for name in names:
        canonical = resolve_name(name)
        if canonical not in out:
            out.append(canonical)
    return tuple(out)


def check_ops(ops) -> tuple:
    """``ops`` without duplicates; ``CocError`` naming the valid ops for an unknown one."""
    for op in ops:
        if op not in ALL_OPS:
            raise CocError(f"unknown op {op!r}; choose from: {', '.join(ALL_OPS)}")
    return tuple(dict.fromkeys(ops))


def make_cells(profile: Profile, *, backends=None, ops=None, n_samples=None, dims=None,
               dtype=None, k=None, max_iter=None) -> list:
    """The cells of ``profile``, with any of its lists and settings replaced by the caller's.

    Cells are ordered backend, then size, then op, so consecutive cells share their data.

    Parameters
    ----------
    profile : Profile
    backends, ops, n_samples, dims : list, optional
        Replace the profile's lists.
    dtype : {"float32", "float64"}, optional
    k : int, optional
        Clusters of KMeans and of the silhouette's labels (at least 2).
    max_iter : int or dict, optional
        Iteration budget: one int for every iterative op, or ``{op: int}`` for some.

    Returns
    -------
    list of Cell
    """
    backends = resolve_backends(backends or profile.backends)
    ops = check_ops(ops or profile.ops)
    ns = [check_n_samples(n) for n in (n_samples or profile.n_samples)]
    ds = [check_dim(d) for d in (dims or profile.dims)]
    dtype = check_dtype(dtype or profile.dtype)
    k = profile.k if k is None else _check_int(k, "--k", 2)
    budgets = dict(profile.max_iter)
    if isinstance(max_iter, dict):
        budgets.update({op: _check_int(v, "--max-iter", 1) for op, v in max_iter.items()})
    elif max_iter is not None:
        budgets.update({op: _check_int(max_iter, "--max-iter", 1) for op in ITER_OPS})
    cells = []
    for backend in backends:
        for n in ns:
            for d in ds:
                for op in ops:
                    cells.append(Cell(
                        backend=backend, op=op, n_samples=n, dim=d,
                        k=k if op in K_OPS else None,
                        dtype=dtype,
                        max_iter=budgets.get(op) if op in ITER_OPS else None,
                    ))
    return cells


DTYPES = ("float32", "float64")


def check_dtype(dtype) -> str:
    """``float32`` or ``float64``; ``CocError`` otherwise."""
    if dtype not in DTYPES:
        raise CocError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return dtype


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CocError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def limit_reason(cell: Cell, profile: Profile) -> Optional[str]:
    """Why ``profile`` skips ``cell`` by size, or None when the cell is within its limits."""
    for key in ((cell.backend, cell.op), (backend_kind(cell.backend), cell.op)):
        limit = profile.limits.get(key)
        if limit is not None:
            return None if limit.allows(cell.n_samples, cell.dim) else limit.reason
    return None


def skip_reason(cell: Cell, profile: Profile) -> Optional[str]:
    """Why ``cell`` cannot run here (backend unavailable, over a size limit), or None.

    The memory check needs the backend itself; see :func:`coc.suite.cells.memory_reason`.
    """
    reason = available_backends()[cell.backend]
    if reason is not None:
        return f"backend {cell.backend!r} cannot run here: {reason}"
    missing = backend_class(cell.backend).missing_ops.get(cell.op)
    if missing:
        return f"backend {cell.backend!r} has no {cell.op}: {missing}"
    if cell.op in EXTRA_OPS:
        try:
            import dask.array  # noqa: F401
        except ImportError as e:
            return f"{cell.op} needs dask ({type(e).__name__}: {e}); pip install 'coc[dask]'"
    return limit_reason(cell, profile)
