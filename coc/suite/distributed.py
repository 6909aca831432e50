"""``coc sweep`` on a Dask cluster: one task per cell, records streamed as cells finish.

``--scheduler ADDRESS`` connects to a running ``dask.distributed`` scheduler; ``--workers N``
starts a local cluster on this machine (``LocalCUDACluster``, one worker per GPU, where
dask-cuda imports and a GPU is present; else ``LocalCluster`` with N worker processes).

Each cell runs whole on one worker (data, warm-up and repeats, through
:func:`coc.suite.runner.run_cell`), so its times compare with an in-process run. A GPU cell asks
for the resource ``GPU: 1`` (where some worker offers it), so two cells never share a card;
a CPU cell limits BLAS and OpenMP to its worker's share of its host's cores (threadpoolctl).
Records go back to the caller's ``record`` callback, which appends them to
``results.jsonl`` as the in-process runner does.

A worker that dies loses only the cell it was running: the scheduler runs it again once on
another worker (``allowed-failures: 1`` on the local cluster; a running scheduler applies its
own setting), and a cell whose second worker dies too is recorded as ``failed``.
"""
from __future__ import annotations

import contextlib
import os
import sys
import uuid

from coc.backends import backend_kind, cupy_status
from coc.suite.records import Record
from coc.suite.runner import failure_reason, run_cell
from coc.utils.validation import CocError

#: Scheduler settings of the local cluster: one retry after a worker dies, and no cell
#: queued behind another on a worker (a worker that dies then loses only its cell in flight).
LOCAL_SETTINGS = {
    "distributed.scheduler.allowed-failures": 1,
    "distributed.scheduler.worker-saturation": 1.0,
}


def _distributed():
    try:
        import dask.distributed
    except ImportError:
        raise CocError("--scheduler/--workers need dask: pip install 'coc[dask]'") from None
    return dask.distributed


@contextlib.contextmanager
def connect(*, scheduler=None, workers=None):
    """A ``Client`` of the scheduler at ``scheduler``, or of a new local cluster of ``workers``.

    Raises
    ------
    CocError
        When dask is not installed, the scheduler cannot be reached, or ``workers < 1``.
    """
    dd = _distributed()
    cluster = None
    if scheduler:
        try:
            # Gives up after distributed.comm.timeouts.connect (Dask's config, 30 s by default).
            client = dd.Client(scheduler)
        except Exception as e:  # noqa: BLE001 - any failure to connect is the user's address
            detail = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            raise CocError(f"cannot reach the Dask scheduler at {scheduler!r}: {detail}") from None
    else:
        if workers < 1:
            raise CocError(f"--workers must be >= 1, got {workers}")
        cluster = _local_cluster(workers, dd)
        try:
            client = dd.Client(cluster)
        except BaseException:
            cluster.close()
            raise
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _local_cluster(n_workers: int, dd):
    import dask

    common = dict(threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
    with dask.config.set(LOCAL_SETTINGS):
        n_gpus = _local_gpu_count()
        if n_gpus:
            from dask_cuda import LocalCUDACluster

            return LocalCUDACluster(n_workers=min(n_workers, n_gpus), resources={"GPU": 1}, **common)
        return dd.LocalCluster(n_workers=n_workers, processes=True, **common)


def _local_gpu_count() -> int:
    """CUDA devices here, where dask-cuda imports; 0 otherwise."""
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        return 0
    cupy, reason = cupy_status()
    return 0 if reason else int(cupy.cuda.runtime.getDeviceCount())


def run_cells(client, cells, *, profile, repeats: int, record) -> None:
    """Run ``cells`` on ``client``'s cluster, one task each; ``record(Record)`` as each finishes.

    Parameters
    ----------
    client : dask.distributed.Client
    cells : list of coc.suite.cells.Cell
    profile : coc.suite.profiles.Profile
    repeats : int
    record : callable
        Called with each :class:`coc.suite.records.Record`, in the order the cells finish.
    """
    from dask.distributed import as_completed

    facts = client.run(_worker_facts)  # {address: {"host", "cores", "nthreads", "resources"}}
    shares = _blas_shares(facts)
    gpu_resource = any(f["resources"].get("GPU") for f in facts.values())
    if not gpu_resource and any(backend_kind(c.backend) == "gpu" for c in cells):
        print("coc sweep: no worker offers a GPU resource (dask worker --resources GPU=1), so "
              "GPU cells are not kept apart", file=sys.stderr)
    run_id = uuid.uuid4().hex[:8]
    futures = {}
    for cell in cells:
        gpu = gpu_resource and backend_kind(cell.backend) == "gpu"
        fut = client.submit(
            run_one_cell, cell, profile, repeats, shares,
            key=f"coc-cell-{cell.label}-{run_id}-{len(futures)}",
            resources={"GPU": 1} if gpu else None, retries=1, pure=False,
        )
        futures[fut] = cell
    for fut in as_completed(list(futures)):
        cell = futures.pop(fut)
        if fut.status == "finished":
            rec = fut.result()
        else:
            reason = "cancelled" if fut.status == "cancelled" else failure_reason(fut.exception())
            rec = Record(cell, "failed", reason=reason, repeats=repeats)
        fut.release()
        record(rec)


def run_one_cell(cell, profile, repeats: int, shares: dict):
    """On a worker: :func:`coc.suite.runner.run_cell` with BLAS/OpenMP limited to this worker's share."""
    from dask.distributed import get_worker
    from threadpoolctl import threadpool_limits

    worker = get_worker()
    threads = shares.get(worker.address) or worker.state.nthreads
    gpu = backend_kind(cell.backend) == "gpu"
    if not gpu:
        # threadpoolctl limits the runtimes loaded so far: load scikit-learn's OpenMP first.
        import sklearn.cluster  # noqa: F401
    with threadpool_limits(limits=threads):
        rec = run_cell(cell, profile, repeats=repeats)
    rec.worker = worker.address
    rec.device = _device_name() if gpu else f"cpu ({threads} threads)"
    return rec


def _worker_facts(dask_worker) -> dict:
    return {
        "host": dask_worker.address.rsplit(":", 1)[0],
        "cores": os.cpu_count() or 1,
        "nthreads": dask_worker.state.nthreads,
        "resources": dict(dask_worker.state.total_resources),
    }


def _blas_shares(facts: dict) -> dict:
    """BLAS threads per task slot: a host's cores over the task slots of its workers."""
    slots = {}
    for f in facts.values():
        slots[f["host"]] = slots.get(f["host"], 0) + f["nthreads"]
    return {addr: max(1, f["cores"] // slots[f["host"]]) for addr, f in facts.items()}


def _device_name():
    """The worker's current CUDA device, as ``cuda:<visible id> <name>``; None without one."""
    cupy, reason = cupy_status()
    if reason:
        return None
    dev = cupy.cuda.Device()
    name = cupy.cuda.runtime.getDeviceProperties(dev.id)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return f"cuda:{visible or dev.id} {name}"
