"""t-SNE's attraction on NumPy: one call over all pairs against the threaded parts.

    python bench/tsne_attraction.py --n 100000 --chunks 65536 262144 524288 2097152 \
        --out results/tsne/attraction.jsonl

The pairs are those of coc's own affinities (its `auto` neighbors, perplexity 30) on 10 blobs of
std 0.3 in 32-d; the embedding is noise of std 20, about the span of a late descent (the cost
depends on the pairs, not on where the points lie). Each line: milliseconds a call (best of
``--repeats``) on one thread over all pairs in the plain form (``whole``: ``attractive``, the
CuPy path's) and in ``coc.kernels._tsne_attraction.ATTRACTION_PARTS`` parts on up to that many
threads, each part in chunks of ``chunk`` pairs (``parts``; one line per ``--chunks``, default
``ATTRACTION_CHUNK``), the load before and after, the machine and coc's commit.

``--between fft`` runs one FFT repulsion step (untimed) before each timed call, as the descent
does, and ``--blas-threads 1`` holds the BLAS to one thread meanwhile, as the descent does
(OpenBLAS's idle threads busy-wait after the FFT's small product and take the cores).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coc.kernels import data  # noqa: E402
from coc.kernels import _tsne_attraction as A  # noqa: E402
from coc.kernels import tsne as T  # noqa: E402
from coc.kernels._tsne_fft import box_count, repulsive_fft  # noqa: E402
from coc.kernels.neighbors import knn  # noqa: E402
from coc.suite import envinfo  # noqa: E402


def best_ms(f, repeats, before=lambda: None):
    before()
    f()
    times = []
    for _ in range(repeats):
        before()
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return round(min(times) * 1e3, 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--chunks", type=int, nargs="+", default=[A.ATTRACTION_CHUNK])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--between", choices=["none", "fft"], default="none",
                    help="what runs (untimed) before each timed call")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="threadpoolctl's BLAS limit during the calls (default: none)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    for n in args.n:
        X = data.blobs(10, n // 10, 32, 0.3, xp=np, seed=0, dtype="float32")[0]
        dist, idx, engine = knn(X, 90, xp=np, method="auto")
        rows, cols, vals = T._affinities(dist, idx, 30.0, xp=np)
        vals = vals.astype(np.float32)
        Y = np.random.default_rng(0).normal(0, 20, (n, 2)).astype(np.float32)
        cache, n_boxes = {}, box_count(float((Y.max(axis=0) - Y.min(axis=0)).max()))
        before = (lambda: repulsive_fft(Y, xp=np, n_boxes=n_boxes, cache=cache)) \
            if args.between == "fft" else (lambda: None)
        load = os.getloadavg()
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            whole = best_ms(lambda: A.attractive(Y, rows, cols, vals, xp=np), args.repeats, before)
        for chunk in args.chunks:
            parts = A.split(rows, cols, vals, xp=np, chunk=chunk)
            threads = min(len(parts), os.cpu_count() or 1)
            with ThreadPoolExecutor(threads) as pool, \
                    threadpool_limits(limits=args.blas_threads, user_api="blas"):
                threaded = best_ms(lambda: A.attractive_parts(Y, parts, xp=np, pool=pool),
                                   args.repeats, before)
            line = {"n": n, "pairs": int(rows.size), "neighbors": engine, "whole_ms": whole,
                    "parts_ms": threaded, "parts": len(parts), "chunk": chunk,
                    "chunks": sum(len(p) for p in parts), "threads": threads,
                    "speedup": round(whole / threaded, 2), "between": args.between,
                    "blas_threads": args.blas_threads, "loadavg_before": load,
                    "loadavg_after": os.getloadavg(), "machine": envinfo.cpu_info(),
                    "commit": envinfo.git_commit(), "created_at": envinfo.timestamp()}
            load = os.getloadavg()
            print(json.dumps(line))
            if args.out is not None:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
