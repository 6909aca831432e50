"""Time coc's three ``numpy`` kernels at fixed sizes, for before/after comparisons of a change.

    PYTHONPATH=<checkout> python bench/numpy_kernels.py --threads 1

prints one JSON line per kernel (median of ``--repeats`` timed calls after one warm-up):
silhouette 20,000 x 32 (10 blobs), t-SNE 5,000 x 32 with 500 iterations, KMeans 30,000 x 32
(uniform, k = 10, scikit-learn's defaults), all float32. Run it alternately on two checkouts
(``git archive REV | tar -x -C DIR``) on the same machine, so both see the same load.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from threadpoolctl import threadpool_limits

from coc.kernels import data
from coc.kernels.kmeans import kmeans
from coc.kernels.silhouette import silhouette_score
from coc.kernels.tsne import tsne
from coc.utils.timing import time_call


def cases():
    X_sil, y_sil = data.blobs(10, 2000, 32, 0.3, xp=np, seed=0, dtype="float32")
    X_tsne, _ = data.blobs(10, 500, 32, 0.3, xp=np, seed=0, dtype="float32")
    X_km = data.uniform(30000, 32, xp=np, seed=0, dtype="float32")
    return {
        "silhouette 20000x32": lambda: silhouette_score(X_sil, y_sil, xp=np),
        "tsne 5000x32 500it": lambda: tsne(X_tsne, xp=np, max_iter=500),
        "kmeans 30000x32 k10": lambda: kmeans(X_km, 10, xp=np, seed=0).n_iter,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", default=None, help="run only the kernels whose name contains this")
    args = p.parse_args(argv)
    with threadpool_limits(limits=args.threads):
        for name, fn in cases().items():
            if args.only and args.only not in name:
                continue
            t = time_call(fn, sync=lambda: None, warmup=1, repeats=args.repeats)
            extra = {"n_iter": t.result} if name.startswith("kmeans") else {}
            print(json.dumps({"kernel": name, "median_s": round(t.median_s, 4), **extra}), flush=True)


if __name__ == "__main__":
    main()
