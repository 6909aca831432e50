"""What a benchmark cell is, the data it runs on and the call that is timed.

A *cell* is one (backend, op, n_samples, dim, k, dtype, max_iter) combination, defined once
here (:class:`Cell`); a record of its outcome (:class:`coc.suite.records.Record`) carries the same
fields. Which cells a run holds, and their size limits, are the profiles'
(:mod:`coc.suite.profiles`); ``coc sweep`` and ``bench/`` (pytest-benchmark) both get a cell ready
through :func:`coc.suite.runner.setup_cell`, so the two can never drift apart.

Choices, stated once
--------------------
* **dtype**: float32 for every backend by default. GPUs are fast in float32 and scikit-learn
  keeps float32 input in float32, so every backend does the same arithmetic; the dtype is
  part of each cell and of each record.
* **data**: made with the backend's own generator, on its device, before the clock starts
  (same distribution and seed on every backend; NumPy and CuPy draw different bits), and
  checked once there: the timed call skips the input check (``check_input=False``; only
  scikit-learn's own check inside its estimators stays in the clock).
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
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Optional

import numpy as np

from coc.backends.base import OPS
from coc.kernels.silhouette_dask import silhouette_score_dask
from coc.utils.validation import check_X

#: Ops a sweep can name (``--ops``) but no profile runs by default.
EXTRA_OPS = ("silhouette-dask",)
ALL_OPS = OPS + EXTRA_OPS
#: Ops whose cells have a number of clusters.
K_OPS = ("kmeans", "silhouette", "silhouette-dask")
#: Ops whose cells have an iteration budget.
ITER_OPS = ("kmeans", "tsne")
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
        One of :data:`ALL_OPS`.
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
        return tuple(getattr(self, f) for f in CELL_FIELDS)

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


#: The fields that identify a cell, in order: a record's key is these fields' values.
CELL_FIELDS = tuple(f.name for f in fields(Cell))


def cell_key(record: dict) -> tuple:
    """The key of the cell a record (a dict read back from disk) belongs to; equals
    :attr:`Cell.key` for the cell it was made from."""
    return tuple(record.get(f) for f in CELL_FIELDS)


def row_key(record: dict, *, ignore=()) -> tuple:
    """A table row's key: the cell without its backend (so backends sit side by side), and
    without the fields in ``ignore`` (``coc compare`` lines up runs of other budgets)."""
    return tuple(record.get(f) for f in CELL_FIELDS if f != "backend" and f not in ignore)


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


# -- data and the timed call -----------------------------------------------------------------
def make_data(cell: Cell, backend) -> dict:
    """The inputs of ``cell``, made on ``backend``'s device, checked once and synchronized
    (untimed)."""
    n, d = cell.n_samples, cell.dim
    if cell.op == "generate":
        data = {}
    elif cell.op == "kmeans":
        data = {"X": backend.uniform(n, d, seed=SEED, dtype=cell.dtype)}
    else:
        per_center = math.ceil(n / K)
        X, y = backend.blobs(K, per_center, d, BLOB_STD, seed=SEED, dtype=cell.dtype)
        data = {"X": X[:n], "y": y[:n]}
    if "X" in data:
        # Checked here, once, so that the timed call can skip the check (check_input=False).
        data["X"] = check_X(data["X"], xp=backend.xp)
    if cell.op == "silhouette-dask":
        import dask.array as da

        chunk = min(DASK_CHUNK_ROWS, math.ceil(n / 2))
        data["X"] = da.from_array(data["X"], chunks=(chunk, -1), asarray=False)
    backend.synchronize()
    return data


def _silhouette_dask(X, labels, *, xp):
    # One cell runs whole in one place: its block tasks run in turn ("sync"), each a matrix
    # product with all of the BLAS threads or the GPU, as the in-memory op.
    return float(silhouette_score_dask(X, labels, xp=xp, scheduler="sync"))


#: op -> the call to time, given (cell, backend, data). Nothing here makes, moves or checks data.
CALLS = {
    "generate": lambda c, be, data: be.uniform(c.n_samples, c.dim, seed=SEED, dtype=c.dtype),
    "kmeans": lambda c, be, data: be.kmeans_result(
        data["X"], c.k, seed=SEED, n_init=1, max_iter=c.max_iter, tol=None, check_input=False
    ),
    "silhouette": lambda c, be, data: be.silhouette(data["X"], data["y"], check_input=False),
    "silhouette-dask": lambda c, be, data: _silhouette_dask(data["X"], data["y"], xp=be.xp),
    "tsne": lambda c, be, data: be.tsne(
        data["X"], perplexity=PERPLEXITY, seed=SEED, max_iter=c.max_iter, check_input=False
    ),
}


def timed_call(cell: Cell, backend, data: dict):
    """The call to time for ``cell``: it runs the op once on ``data`` and synchronizes the
    device before returning, so a clock read right after it (``coc.utils.timing.time_call`` or
    pytest-benchmark's own) sees finished work."""
    call = CALLS[cell.op]

    def fn():
        out = call(cell, backend, data)
        backend.synchronize()
        return out

    return fn


def data_key(cell: Cell) -> tuple:
    """Cells with equal keys can share one dataset (the runner keeps the last one)."""
    kind = {"generate": None, "kmeans": "uniform", "silhouette-dask": "blobs-dask"}.get(cell.op, "blobs")
    return (cell.backend, kind, cell.n_samples, cell.dim, cell.dtype)


def n_iter_of(result) -> Optional[int]:
    """Iterations a timed call actually ran, where its result says (KMeans), else None."""
    n_iter = getattr(result, "n_iter", None)
    return int(n_iter) if n_iter is not None else None
