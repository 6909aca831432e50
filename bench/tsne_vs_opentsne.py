"""coc's ``numpy`` t-SNE against openTSNE, each at its own defaults: time to the KL it reaches.

    python bench/tsne_vs_opentsne.py --n 5000 100000 --out results/tsne/vs_opentsne.jsonl

Data: 10 Gaussian blobs of std 0.3 in 32-d (``coc.kernels.data.blobs``), float32. Quality: exact
KL(P || Q) and 10-NN preservation on a fixed subsample (``coc.suite.quality.tsne_quality``), the
same for both engines. The engines alternate within one run (``--rounds`` times each, coc
first in odd rounds, openTSNE first in even ones) so that both meet the same load; each line
carries ``os.getloadavg()`` before and after, the machine (``coc.suite.envinfo``) and coc's commit.

* ``coc``: ``coc.kernels.tsne.tsne(X, xp=numpy, seed=0)``: its defaults (``--coc-kw`` JSON
  overrides them for experiments, and is recorded), neighbors by ``--neighbors`` (default
  ``auto``: exact on small data, faiss above); the time spent finding them is recorded apart
  as ``knn_s`` (it is included in ``time_s``), and their recall against exact on
  ``coc.kernels.tsne.INFO_SAMPLE`` evenly spaced rows as ``knn_recall`` (outside the clock).
* ``opentsne``: ``openTSNE.TSNE(negative_gradient_method="fft", n_jobs=cores,
  random_state=0)``, otherwise its defaults (750 iterations, its own approximate neighbors).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coc.kernels import data  # noqa: E402
from coc.suite import envinfo  # noqa: E402
from coc.kernels import tsne as T  # noqa: E402
from coc.suite.quality import knn_recall, tsne_quality  # noqa: E402

PERPLEXITY = 30.0


def run_coc(X, *, neighbors, coc_kw):
    iters = []
    info = {"clock": time.perf_counter}
    kw = {"progress": lambda i, m: iters.append(i), **coc_kw}
    t = time.perf_counter()
    Y = T.tsne(X, xp=np, perplexity=PERPLEXITY, seed=0, neighbors=neighbors, info=info, **kw)
    seconds = time.perf_counter() - t
    recall = knn_recall(X, info["knn_sample_rows"], np.asarray(info["knn_sample"]))  # outside the clock
    return Y, seconds, {"knn_s": round(info["knn_seconds"], 3), "iterations": iters[-1],
                        "neighbors": info["neighbors"], "knn_recall": round(recall, 4)}


def run_opentsne(X):
    from openTSNE import TSNE

    est = TSNE(perplexity=PERPLEXITY, negative_gradient_method="fft", n_jobs=os.cpu_count() or 1,
               random_state=0, verbose=False)
    t = time.perf_counter()
    Y = est.fit(X)
    seconds = time.perf_counter() - t
    return np.asarray(Y), seconds, {"iterations": est.early_exaggeration_iter + est.n_iter,
                                    "neighbors": f"openTSNE {est.neighbors} (approximate unless n < 1000)"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[5000])
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--engines", nargs="+", default=["coc", "opentsne"], choices=["coc", "opentsne"])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--neighbors", default="auto", help="coc's kNN engine (coc.kernels.neighbors)")
    ap.add_argument("--coc-kw", type=json.loads, default={})
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    machine = envinfo.cpu_info()
    commit = envinfo.git_commit()
    for n in args.n:
        X = data.blobs(10, n // 10, args.dim, 0.3, xp=np, seed=0, dtype="float32")[0]
        for r in range(args.rounds):
            engines = args.engines if r % 2 == 0 else args.engines[::-1]
            for engine in engines:
                load_before = os.getloadavg()
                if engine == "coc":
                    Y, seconds, extra = run_coc(X, neighbors=args.neighbors, coc_kw=args.coc_kw)
                    extra["coc_kw"] = args.coc_kw
                else:
                    Y, seconds, extra = run_opentsne(X)
                q = tsne_quality(X, Y, perplexity=PERPLEXITY)
                line = {"engine": engine, "n": n, "dim": args.dim, "round": r, "time_s": round(seconds, 3),
                        "kl": round(q["kl"], 5), "knn_preservation": round(q["knn_preservation"], 4),
                        "kl_subsample": q["kl_subsample"], **extra,
                        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                        "machine": machine, "commit": commit, "created_at": envinfo.timestamp()}
                print(json.dumps(line), flush=True)
                if args.out is not None:
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    with args.out.open("a") as f:
                        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
