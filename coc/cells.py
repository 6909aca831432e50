"""Benchmark definitions as data: cells, operations, size limits and named profiles.

A *cell* is one (backend, op, n_samples, dim, k, dtype, max_iter) combination. ``coc sweep``
and ``bench/`` (pytest-benchmark) both take their cells from here and both time
:func:`prepare`'s callable, so the two can never drift apart.

Choices, stated once
--------------------
* **dtype**: float32 for every backend by default. GPUs are fast in float32 and scikit-learn
  keeps float32 input in float32, so every backend does the same arithmetic; the dtype is
  part of each cell and of each record.
* **data**: made with the backend's own generator, on its device, before the clock starts
  (same distribution and seed on every backend; NumPy and CuPy draw different bits).
  ``generate`` times ``backend.uniform(n_samples, dim)`` itself. ``kmeans`` runs on uniform
  points: Lloyd iterations on a continuum do not stop early, so the fixed iteration budget
  is spent in full and every backend does the same work (each record keeps ``n_iter``, the
  iterations actually run). ``silhouette`` scores the notebook's unclear blobs (10 centers,
  std 0.3) with their true labels; ``tsne`` embeds the same blobs. ``silhouette-dask``
  scores the same blobs as a Dask array in blocks of rows (:data:`DASK_CHUNK_ROWS`), with
  coc's exact block kernel on the backend's array module; no profile runs it by default
  (``--ops silhouette-dask``), and it needs dask (``pip install 'coc[dask]'``).
* **KMeans** is timed as scikit-learn's asv suite does it: fixed k (10), ``n_init=1``,
  ``tol=None`` (no tolerance stop) and a fixed ``max_iter`` per profile.
* **limits**: a profile states, per backend kind (``cpu``/``gpu``) or per backend, the largest
  cell each op may run, with the reason; beyond it a cell is *skipped* with that reason.
  Before a cell runs, its memory is also estimated and compared with what the device has
  free (see :func:`estimate_bytes`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from coc import backends as _backends

OPS = ("generate", "kmeans", "silhouette", "tsne")
#: Ops a sweep can name (``--ops``) but no profile runs by default.
EXTRA_OPS = ("silhouette-dask",)
ALL_OPS = OPS + EXTRA_OPS
#: Rows per block of the ``silhouette-dask`` data (at least two blocks at any size).
DASK_CHUNK_ROWS = 10_000
#: Number of clusters of KMeans and of the silhouette's labels.
K = 10
#: Blob spread of the silhouette and t-SNE data: the notebook's "unclear" case.
BLOB_STD = 0.3
PERPLEXITY = 30.0
SEED = 0


@dataclass(frozen=True, order=True)
class Cell:
    """One thing to time.

    Attributes
    ----------
    backend : str
        Canonical backend name (``sklearn``, ``numpy``, ``cupy``, ``cuml``).
    op : str
        One of :data:`OPS`.
    n_samples, dim : int
        Size of the data.
    k : int or None
        Clusters of KMeans and of the silhouette's labels; None for ``generate`` and ``tsne``.
    dtype : str
        ``float32`` or ``float64``.
    max_iter : int or None
        Fixed iteration budget of ``kmeans`` and ``tsne``; None for the other ops.
    """

    backend: str
    op: str
    n_samples: int
    dim: int
    k: Optional[int] = None
    dtype: str = "float32"
    max_iter: Optional[int] = None

    @property
    def key(self) -> tuple:
        """What identifies a cell in results.jsonl (resume skips cells with a record)."""
        return (self.backend, self.op, self.n_samples, self.dim, self.k, self.dtype, self.max_iter)

    @property
    def group(self) -> str:
        """pytest-benchmark group and table row: cells of one op and size, backends side by side."""
        return f"{self.op} n={self.n_samples} d={self.dim}"

    @property
    def label(self) -> str:
        """Short name of the cell, for a progress bar or a test id."""
        return f"{self.backend}-{self.op}-n{self.n_samples}-d{self.dim}"

    def as_dict(self) -> dict:
        return asdict(self)


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
        description="minutes on a CPU (under 10 on 2 cores)",
        backends=_ALL_BACKENDS,
        ops=OPS,
        n_samples=(1_000, 3_000, 10_000, 30_000),
        dims=(32, 128),
        repeats=3,
        max_iter={"kmeans": 30, "tsne": 500},
        limits={
            ("cpu", "silhouette"): Limit(
                "silhouette is O(n_samples^2 dim): beyond 30,000 points it takes minutes per "
                "repeat on a laptop CPU (laptop profile limit)",
                max_n=30_000,
            ),
            ("cpu", "tsne"): Limit(
                "t-SNE beyond 10,000 points takes over 20 s per run on a 2-core CPU and would "
                "push the laptop profile past 10 minutes (laptop profile limit)",
                max_n=10_000,
            ),
        },
    ),
    "workstation": Profile(
        name="workstation",
        description="one CUDA GPU, n_samples up to 1,000,000 and dim up to 1024 (~8 min on an H100)",
        backends=_ALL_BACKENDS,
        ops=OPS,
        n_samples=(10_000, 100_000, 1_000_000),
        dims=(32, 256, 1024),
        repeats=3,
        max_iter={"kmeans": 100, "tsne": 500},
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
            ("gpu", "tsne"): Limit(
                "t-SNE of 1,000,000 points takes minutes per run (workstation profile limit)",
                max_n=100_000,
            ),
        },
    ),
}
DEFAULT_PROFILE = "smoke"


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ``CocError`` listing the valid names otherwise."""
    from coc.validation import CocError

    try:
        return PROFILES[name]
    except KeyError:
        raise CocError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}") from None


def backend_kind(name: str) -> str:
    """``gpu`` for a backend whose arrays live on a CUDA device, else ``cpu``."""
    return _backends.backend_kind(name)


def resolve_backends(names) -> tuple:
    """Canonical backend names for ``names`` (aliases resolved, duplicates dropped, order kept)."""
    out = []
    for name in names:
        canonical = _backends.resolve_name(name)
        if canonical not in out:
            out.append(canonical)
    return tuple(out)


def check_ops(ops) -> tuple:
    from coc.validation import CocError

    for op in ops:
        if op not in ALL_OPS:
            raise CocError(f"unknown op {op!r}; choose from: {', '.join(ALL_OPS)}")
    return tuple(dict.fromkeys(ops))


def make_cells(profile: Profile, *, backends=None, ops=None, n_samples=None, dims=None) -> list:
    """The cells of ``profile``, with any of its lists replaced by the caller's.

    Cells are ordered backend, then size, then op, so consecutive cells share their data.

    Returns
    -------
    list of Cell
    """
    from coc.validation import check_dim, check_n_samples

    backends = resolve_backends(backends or profile.backends)
    ops = check_ops(ops or profile.ops)
    ns = [check_n_samples(n) for n in (n_samples or profile.n_samples)]
    ds = [check_dim(d) for d in (dims or profile.dims)]
    cells = []
    for backend in backends:
        for n in ns:
            for d in ds:
                for op in ops:
                    cells.append(Cell(
                        backend=backend, op=op, n_samples=n, dim=d,
                        k=profile.k if op in ("kmeans", "silhouette", "silhouette-dask") else None,
                        dtype=profile.dtype,
                        max_iter=profile.max_iter.get(op),
                    ))
    return cells


def limit_reason(cell: Cell, profile: Profile) -> Optional[str]:
    """Why ``profile`` skips ``cell`` by size, or None when the cell is within its limits."""
    for key in ((cell.backend, cell.op), (backend_kind(cell.backend), cell.op)):
        limit = profile.limits.get(key)
        if limit is not None:
            return None if limit.allows(cell.n_samples, cell.dim) else limit.reason
    return None


def skip_reason(cell: Cell, profile: Profile) -> Optional[str]:
    """Why ``cell`` cannot run here (backend unavailable, over a size limit), or None.

    The memory check needs the backend itself; see :func:`memory_reason`.
    """
    reason = _backends.available_backends()[cell.backend]
    if reason is not None:
        return f"backend {cell.backend!r} cannot run here: {reason}"
    if cell.op in EXTRA_OPS:
        try:
            import dask.array  # noqa: F401
        except ImportError as e:
            return f"{cell.op} needs dask ({type(e).__name__}: {e}); pip install 'coc[dask]'"
    return limit_reason(cell, profile)


# -- memory --------------------------------------------------------------------------------
#: Never plan to use more than this share of the free memory: the estimates are rough.
MEMORY_HEADROOM = 0.8


def estimate_bytes(cell: Cell) -> int:
    """Rough peak memory of making the data of ``cell`` and running it, in bytes.

    Counted: the input, the float64 draws NumPy casts from, the working copies each op
    makes (KMeans centers a copy of X), scratch tiles (the kernels cap theirs at 256 MiB,
    scikit-learn's pairwise chunks at 1 GiB) and t-SNE's neighbour graph (3 * perplexity
    neighbours per point, index and distance, twice for symmetrisation).
    """
    import numpy as np

    n, d = cell.n_samples, cell.dim
    item = np.dtype(cell.dtype).itemsize
    data = n * d * item
    draws = n * d * 8  # generators draw in float64 before casting
    if cell.op == "generate":
        return data + draws
    if cell.op == "kmeans":
        return 2 * data + draws + 16 * n + 2**28
    if cell.op in ("silhouette", "silhouette-dask"):
        return data + draws + 16 * n + 2**30
    # tsne
    neighbours = int(3 * PERPLEXITY) + 1
    return 2 * data + draws + 2 * n * neighbours * 16 + 64 * n


def memory_reason(cell: Cell, backend) -> Optional[str]:
    """``"needs ~X GiB ... Y GiB free"`` when ``cell`` would not fit ``backend``'s device."""
    need = estimate_bytes(cell)
    free = backend.free_memory()
    if need > MEMORY_HEADROOM * free:
        where = "device" if backend.is_gpu else "host"
        return (
            f"does not fit: needs ~{need / 2**30:.1f} GiB of {where} memory, "
            f"{free / 2**30:.1f} GiB free"
        )
    return None


# -- what is timed ---------------------------------------------------------------------------
@dataclass
class Prepared:
    """A cell ready to time: its data made and on the device, and the call.

    ``fn()`` runs the op once and synchronizes the device before returning, so a clock read
    right after it (``coc.timing.time_call`` or pytest-benchmark's own) sees finished work.
    """

    cell: Cell
    backend: Any
    fn: Callable[[], Any]


def make_data(cell: Cell, backend) -> dict:
    """The inputs of ``cell``, made on ``backend``'s device and synchronized (untimed)."""
    n, d = cell.n_samples, cell.dim
    if cell.op == "generate":
        data = {}
    elif cell.op == "kmeans":
        data = {"X": backend.uniform(n, d, seed=SEED, dtype=cell.dtype)}
    else:
        per_center = math.ceil(n / K)
        X, y = backend.blobs(K, per_center, d, BLOB_STD, seed=SEED, dtype=cell.dtype)
        data = {"X": X[:n], "y": y[:n]}
        if cell.op == "silhouette-dask":
            import dask.array as da

            chunk = min(DASK_CHUNK_ROWS, math.ceil(n / 2))
            data["X"] = da.from_array(data["X"], chunks=(chunk, -1), asarray=False)
    backend.synchronize()
    return data


#: op -> the call to time, given (cell, backend, data). Nothing here makes or moves data.
CALLS = {
    "generate": lambda c, be, data: be.uniform(c.n_samples, c.dim, seed=SEED, dtype=c.dtype),
    "kmeans": lambda c, be, data: be.kmeans_result(
        data["X"], c.k, seed=SEED, n_init=1, max_iter=c.max_iter, tol=None
    ),
    "silhouette": lambda c, be, data: be.silhouette(data["X"], data["y"]),
    # One cell runs whole in one place: its block tasks run in turn ("sync"), each a
    # matrix product with all of the BLAS threads or the GPU, as the in-memory op.
    "silhouette-dask": lambda c, be, data: float(_silhouette_dask(
        data["X"], data["y"], xp=be.xp, scheduler="sync"
    )),
    "tsne": lambda c, be, data: be.tsne(
        data["X"], perplexity=PERPLEXITY, seed=SEED, max_iter=c.max_iter
    ),
}


def prepare(cell: Cell, backend, data: Optional[dict] = None) -> Prepared:
    """Make ``cell``'s data (unless given) and bind the synchronized call to time."""
    if data is None:
        data = make_data(cell, backend)
    call = CALLS[cell.op]

    def fn():
        out = call(cell, backend, data)
        backend.synchronize()
        return out

    return Prepared(cell=cell, backend=backend, fn=fn)


def data_key(cell: Cell) -> tuple:
    """Cells with equal keys can share one dataset (the runner keeps the last one)."""
    kind = {"generate": None, "kmeans": "uniform", "silhouette-dask": "blobs-dask"}.get(cell.op, "blobs")
    return (cell.backend, kind, cell.n_samples, cell.dim, cell.dtype)


def n_iter_of(result) -> Optional[int]:
    """Iterations a timed call actually ran, where its result says (KMeans), else None."""
    n_iter = getattr(result, "n_iter", None)
    return int(n_iter) if n_iter is not None else None


def _silhouette_dask(X, labels, *, xp, scheduler):
    from coc.kernels.silhouette_dask import silhouette_score_dask

    return silhouette_score_dask(X, labels, xp=xp, scheduler=scheduler)
