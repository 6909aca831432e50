"""What machine a result came from: CPU, BLAS, GPU, package versions, git commit.

Written once per sweep as ``env.json`` (the design contract's timing rules: record the machine). Every probe is
best-effort: what cannot be read here is recorded as null, never an error.
"""
from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from pathlib import Path

import coc
from coc.backends import cupy_status
from coc.utils.timing import timestamp

PACKAGES = (
    "coc", "numpy", "scipy", "scikit-learn", "threadpoolctl", "matplotlib", "tqdm", "psutil",
    "pytest-benchmark", "cupy", "cupy-cuda12x", "cupy-cuda13x", "cuml", "cuml-cu12", "cuml-cu13",
)


def collect_env() -> dict:
    """A JSON-ready description of this machine and software.

    Returns
    -------
    dict
        Keys ``created_at``, ``host``, ``platform``, ``python``, ``cpu`` (``model``,
        ``physical_cores``, ``logical_cores``, ``memory_bytes``, ``caches``), ``blas``
        (threadpoolctl's view: library, version, threading layer, threads), ``gpu`` (``name``,
        ``driver_version``, ``cuda_runtime_version``, ``memory_bytes``, or null with
        ``gpu_reason``), ``packages`` (name -> version, installed ones only), ``git_commit``.
    """
    gpu, gpu_reason = gpu_info()
    return {
        "created_at": timestamp(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "blas": blas_info(),
        "gpu": gpu,
        "gpu_reason": gpu_reason,
        "packages": package_versions(),
        "git_commit": git_commit(),
    }


def cpu_info() -> dict:
    """CPU model, physical and logical cores, total memory."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or None
    physical = logical = memory = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        logical = psutil.cpu_count(logical=True)
        memory = int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil is a dependency
        logical = os.cpu_count()
    return {"model": model, "physical_cores": physical, "logical_cores": logical,
            "memory_bytes": memory, "caches": _caches()}


def _caches(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict:
    """The first core's data caches by level (``{"L1d": "48K", "L2": "1024K", ...}``) where
    Linux says them (else empty); a CPU model name alone does not tell two machines' caches
    apart, and the NumPy KMeans's speed depends on them (its tile size was measured on them)."""
    caches = {}
    for index in sorted(root.glob("index*")):
        try:
            level, kind, size = ((index / f).read_text().strip() for f in ("level", "type", "size"))
        except OSError:
            continue
        if kind != "Instruction":
            caches[f"L{level}" + ("d" if kind == "Data" else "")] = size
    return caches


def blas_info() -> list:
    """threadpoolctl's record of each loaded BLAS and OpenMP library, with its threads."""
    try:
        import numpy  # noqa: F401 - load the BLAS threadpoolctl should see
        import sklearn.utils  # noqa: F401 - loads scikit-learn's OpenMP runtime
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "threading_layer", "architecture", "num_threads")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def gpu_info():
    """``(info, None)`` for CUDA device 0 through CuPy, or ``(None, reason)``."""
    cupy, reason = cupy_status()
    if reason:
        return None, reason
    try:
        rt = cupy.cuda.runtime
        props = rt.getDeviceProperties(0)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        _free, total = rt.memGetInfo()
        return {
            "name": name,
            "count": int(rt.getDeviceCount()),
            "driver_version": _cuda_version(rt.driverGetVersion()),
            "cuda_runtime_version": _cuda_version(rt.runtimeGetVersion()),
            "memory_bytes": int(total),
            "compute_capability": f"{props.get('major')}.{props.get('minor')}",
        }, None
    except Exception as e:  # a broken driver is a fact about the machine, not an error
        return None, f"{type(e).__name__}: {e}"


def _cuda_version(v: int) -> str:
    # CUDA encodes versions as 1000 * major + 10 * minor.
    return f"{v // 1000}.{(v % 1000) // 10}"


def package_versions() -> dict:
    """Installed versions of the packages that matter for timings."""
    from importlib import metadata

    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if "coc" not in out:
        out["coc"] = coc.__version__
    return out


def git_commit():
    """The commit of the source tree coc runs from (``+dirty`` if changed), or None."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_tag(env: dict | None = None) -> str:
    """A folder name for this machine's results: the GPU's name if there is one, else the
    CPU model and its logical cores (``amd-epyc-7b13-2c``)."""
    env = env or {"cpu": cpu_info(), "gpu": gpu_info()[0]}
    if env.get("gpu"):
        return _slug(env["gpu"]["name"])
    cpu = env.get("cpu") or {}
    return f"{_slug(cpu.get('model') or 'cpu')}-{cpu.get('logical_cores') or 0}c"


def _slug(text: str) -> str:
    text = re.sub(r"\((r|tm|c)\)", "", text.lower())
    text = re.sub(r"\b(cpu|processor|core\(tm\)|with radeon graphics)\b", "", text)
    text = re.sub(r"@.*$", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:48] or "machine"
