"""Peak memory (and time) of coc's t-SNE past the kNN: affinities, symmetrization, descent.

    python bench/tsne_memory.py --n 1000000 --out results/tsne/memory.jsonl

coc's exact kNN takes hours at 1e6 points on a CPU, so the neighbors are found first, apart,
by faiss (``IndexIVFFlat``, 1024 lists, 16 probed: approximate), saved, and fed to
``coc.kernels.tsne.tsne`` in a fresh subprocess in place of its kNN stage (``knn``). The subprocess holds
what a run holds (the data in float32, the neighbors' float32 distances and int64 indices, then
everything coc allocates); its peak resident set (``ru_maxrss``) is the measurement, with the
resident set after each stage (psutil) and each stage's time. Data: 10 Gaussian blobs of std
0.3 in ``--dim`` dimensions (``coc.kernels.data.blobs``). Each line carries ``os.getloadavg()``, the
machine (``coc.suite.envinfo``) and coc's commit.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def data(n, dim):
    from coc.kernels import data as D

    return D.blobs(10, n // 10, dim, 0.3, xp=np, seed=0, dtype="float32")[0]


def find_neighbors(n, dim, k, path):
    import faiss

    X = data(n, dim)
    t = time.perf_counter()
    quantizer = faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, 1024)
    index.train(X[np.random.default_rng(0).choice(n, min(n, 100_000), replace=False)])
    index.add(X)
    index.nprobe = 16
    dist, idx = index.search(X, k + 1)
    self_hit = idx == np.arange(n)[:, None]
    keep = np.where(self_hit.any(axis=1, keepdims=True), ~self_hit, np.arange(k + 1) < k)
    dist = dist[keep].reshape(n, k)
    idx = idx[keep].reshape(n, k).astype(np.int64)
    bad = idx < 0  # a query with fewer than k hits in its lists: its nearest found stands in
    idx[bad] = np.broadcast_to(idx[:, :1], idx.shape)[bad]
    dist[bad] = np.broadcast_to(dist[:, :1], dist.shape)[bad]
    np.save(path / "dist.npy", dist)
    np.save(path / "idx.npy", idx)
    return time.perf_counter() - t


def measure(n, dim, path, max_iter):
    """Runs in the subprocess: one line of JSON on stdout."""
    import psutil

    from coc.suite import envinfo
    from coc.kernels import tsne as T
    from coc.suite.quality import tsne_quality

    proc = psutil.Process()
    rss = {"start": proc.memory_info().rss}
    X = data(n, dim)
    # handed over, not kept: a run frees its neighbors once the affinities are built
    held = [np.load(path / "dist.npy"), np.load(path / "idx.npy")]
    rss["data_and_neighbors"] = proc.memory_info().rss
    times = {}
    T.knn = lambda X, k, *, xp, method, seed: (held.pop(0), held.pop(0), "faiss-ivf (fed)")
    affinities = T._affinities

    def timed_affinities(*a, **kw):
        t = time.perf_counter()
        out = affinities(*a, **kw)
        times["affinities_s"] = round(time.perf_counter() - t, 2)
        rss["after_affinities"] = proc.memory_info().rss
        return out

    T._affinities = timed_affinities
    load = os.getloadavg()
    t = time.perf_counter()
    Y = T.tsne(X, xp=np, seed=0, **({} if max_iter is None else {"max_iter": max_iter}))
    times["total_s"] = round(time.perf_counter() - t, 2)
    times["descent_s"] = round(times["total_s"] - times["affinities_s"], 2)
    rss["end"] = proc.memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    q = tsne_quality(X, Y, perplexity=30.0)
    return {"n": n, "dim": dim, "max_iter": max_iter or "default", "peak_rss_bytes": peak,
            "peak_rss_gb": round(peak / 1e9, 3), "rss_bytes": rss, **times,
            "kl": round(q["kl"], 5), "knn_preservation": round(q["knn_preservation"], 4),
            "neighbors": "faiss IndexIVFFlat nlist=1024 nprobe=16 (approximate), fed in place of knn",
            "loadavg_before": load, "loadavg_after": os.getloadavg(),
            "machine": envinfo.cpu_info(), "commit": envinfo.git_commit(),
            "created_at": envinfo.timestamp()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--k", type=int, default=90, help="neighbors: 3 x perplexity, as coc's default")
    ap.add_argument("--max-iter", type=int, default=None, help="default: coc's")
    ap.add_argument("--work", type=Path, default=Path("/tmp/coc-tsne-memory"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    work = args.work / f"{args.n}x{args.dim}k{args.k}"
    if args.measure:
        print(json.dumps(measure(args.n, args.dim, work, args.max_iter)))
        return
    knn_s = None
    if not (work / "idx.npy").exists():
        work.mkdir(parents=True, exist_ok=True)
        knn_s = find_neighbors(args.n, args.dim, args.k, work)
    cmd = [sys.executable, __file__, "--measure", "--n", str(args.n), "--dim", str(args.dim),
           "--k", str(args.k), "--work", str(args.work)]
    if args.max_iter is not None:
        cmd += ["--max-iter", str(args.max_iter)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = json.loads(out.strip().splitlines()[-1])
    line["knn_s"] = None if knn_s is None else round(knn_s, 2)
    print(json.dumps(line), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
