"""coc's ``numpy`` KMeans against scikit-learn's, per Lloyd iteration, on the CPU, in one run.

    python bench/kmeans_cpu.py --n 100000 1000000 --dim 32 --k 10 --threads 1 --rounds 7

Both start from the same k-means++ centers on the same float32 uniform points, with the same
thread limits (threadpoolctl: BLAS and OpenMP). A fit of ``--iters`` iterations and a fit of one
iteration are timed alternately, ``--rounds`` times each; the time per iteration is the
difference of their medians over the difference of their iteration counts, so seeding, input
checks and copies cancel. scikit-learn stops when the labels stop changing (even with
``tol=0``), so its iteration count is read from ``n_iter_``; coc runs with ``tol=None``.
The ratio printed is scikit-learn's time over coc's (above 1: coc is faster). Each line also
carries the machine (CPU model, cores, caches), coc's commit and the time it was taken: two
VMs of the same model name can differ in their caches, and with them in these ratios.

``product_ms`` is a floor of coc's path: one iteration's BLAS products alone (each of coc's
row tiles times ``-2 C^T``, in coc's tiles and thread blocks), timed in the same rounds. The
rest of coc's iteration is NumPy passes over the products; where ``sklearn_ms`` comes near
``product_ms``, no reordering of those passes reaches scikit-learn's fused loop.
``product_alone_ms`` times the same products back to back after the rounds: in the rounds
they follow scikit-learn's fit, whose idle threads may still spin on another core.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from coc.kernels import data
from coc.suite.envinfo import cpu_info, git_commit
from coc.kernels.distances import tile_rows
from coc.kernels._kmeans_host import host_threads, tile_rows_host
from coc.kernels.kmeans import kmeans
from coc.utils.timing import time_call, timestamp


def products_only(X, centers, pool):
    """One iteration's BLAS products alone, in coc's row tiles, one block of tiles a thread."""
    n, dim = X.shape
    k = centers.shape[0]
    rows = min(n, tile_rows_host(dim, k, X.itemsize, budget_rows=tile_rows(k, X.itemsize, xp=np)))
    minus_2ct = np.ascontiguousarray(-2 * centers.T)

    def block(edges):
        out = np.empty((rows, k), dtype=X.dtype)
        for start in range(edges[0], edges[1], rows):
            stop = min(start + rows, edges[1])
            np.matmul(X[start:stop], minus_2ct, out=out[: stop - start])

    with host_threads(X) as threads:
        per = rows * -(-n // (rows * threads))
        list(pool.map(block, [(start, min(start + per, n)) for start in range(0, n, per)]))


def per_iteration(n, dim, k, *, iters, rounds, dtype="float32", seed=0):
    """Seconds per Lloyd iteration of coc (numpy) and scikit-learn at ``n`` x ``dim``."""
    X = data.uniform(n, dim, xp=np, seed=seed, dtype=dtype)
    init = kmeans(X, k, xp=np, seed=seed, max_iter=1, tol=None).centers  # k-means++ centers
    pool = ThreadPoolExecutor(os.cpu_count() or 1)  # as many threads as the blocks ask for
    calls = {
        ("coc", iters): lambda: kmeans(X, k, xp=np, seed=seed, max_iter=iters, tol=None).n_iter,
        ("coc", 1): lambda: kmeans(X, k, xp=np, seed=seed, max_iter=1, tol=None).n_iter,
        ("sklearn", iters): lambda: KMeans(k, init=init, n_init=1, max_iter=iters, tol=0,
                                           algorithm="lloyd").fit(X).n_iter_,
        ("sklearn", 1): lambda: KMeans(k, init=init, n_init=1, max_iter=1, tol=0,
                                       algorithm="lloyd").fit(X).n_iter_,
        ("products", 1): lambda: products_only(X, init, pool),
    }
    times = {key: [] for key in calls}
    n_iter = {}
    for _ in range(rounds):
        for key, fn in calls.items():  # alternated, so a busy spell of the machine hits all of them
            t = time_call(fn, sync=lambda: None, warmup=0, repeats=1)
            times[key].append(t.median_s)
            n_iter[key] = t.result
    # the products once more, back to back: in the alternated rounds they follow scikit-learn's
    # fit, whose idle BLAS/OpenMP threads may still spin on another core for a while
    alone = [time_call(calls["products", 1], sync=lambda: None, warmup=0, repeats=1).median_s
             for _ in range(rounds)]
    pool.shutdown()
    out = {"products_alone": statistics.median(alone)}
    for engine in ("coc", "sklearn"):
        many, one = statistics.median(times[engine, iters]), statistics.median(times[engine, 1])
        out[engine] = (many - one) / max(1, n_iter[engine, iters] - n_iter[engine, 1])
        out[f"{engine}_n_iter"] = n_iter[engine, iters]
    out["products"] = statistics.median(times["products", 1])
    out["ratio"] = out["sklearn"] / out["coc"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", default="float32")
    args = p.parse_args(argv)
    machine = {"cpu": cpu_info(), "git_commit": git_commit(), "created_at": timestamp()}
    with threadpool_limits(limits=args.threads):
        for n in args.n:
            r = per_iteration(n, args.dim, args.k, iters=args.iters, rounds=args.rounds, dtype=args.dtype)
            print(json.dumps({"n": n, "dim": args.dim, "k": args.k, "threads": args.threads,
                              "coc_ms": round(r["coc"] * 1e3, 3), "sklearn_ms": round(r["sklearn"] * 1e3, 3),
                              "product_ms": round(r["products"] * 1e3, 3),
                              "product_alone_ms": round(r["products_alone"] * 1e3, 3),
                              "sklearn_n_iter": r["sklearn_n_iter"], "ratio": round(r["ratio"], 3),
                              **machine}),
                  flush=True)


if __name__ == "__main__":
    main()
