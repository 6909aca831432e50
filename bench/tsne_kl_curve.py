"""KL divergence against iterations and seconds, for coc's ``numpy`` t-SNE and openTSNE.

    python bench/tsne_kl_curve.py --n 100000 --out results/tsne/kl_curve.jsonl

One run of each engine at its defaults on the data of ``bench/tsne_vs_opentsne.py`` (10 blobs of
std 0.3 in 32-d, float32): every ``--every`` iterations the embedding is read and its exact KL
taken on the fixed subsample of ``coc.suite.quality.tsne_quality`` (``--kl subsample``, with
the subsample's own affinities, as the benchmarks' cells) or on all points (``--kl full``, the
affinities of all ``n``: a dense ``n x n``, so up to a few 1e4). The time spent reading it
is taken off the clock, so ``seconds`` is the engine's own time to that iteration (neighbors and
affinities included). The curve says how many iterations each engine needs to reach a given
KL: the evidence behind coc's default ``max_iter``. (On the subsample the KL bottoms out and
rises again while the full KL still falls: read the two together.) One line per engine, with its curve as
``[iteration, seconds, kl]`` triples, the load before and after, the machine and coc's commit.
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
from coc.kernels import tsne as T  # noqa: E402
from coc.suite import envinfo  # noqa: E402
from coc.suite.quality import KL_SUBSAMPLE, exact_affinities, kl_divergence, subsample  # noqa: E402

PERPLEXITY = 30.0


class Curve:
    """KL on a fixed subsample at each checkpoint, with the checkpoints' own time off the clock."""

    def __init__(self, X, full=False):
        self.rows = np.arange(X.shape[0]) if full else subsample(X.shape[0], KL_SUBSAMPLE)
        self.P = exact_affinities(X[self.rows], PERPLEXITY)
        self.points, self.paused = [], 0.0
        self.start = time.perf_counter()

    def __call__(self, iteration, Y):
        t = time.perf_counter()
        kl = kl_divergence(self.P, np.asarray(Y)[self.rows])
        self.points.append([iteration, round(t - self.start - self.paused, 3), round(kl, 5)])
        self.paused += time.perf_counter() - t


def run_coc(X, every, max_iter, full):
    curve, held = Curve(X, full), []
    descend = T._descend

    def hold(Y, *args, **kwargs):  # the descent updates Y in place: keep it to read
        held.append(Y)
        return descend(Y, *args, **kwargs)

    T._descend = hold
    try:
        T.tsne(X, xp=np, perplexity=PERPLEXITY, seed=0, max_iter=max_iter,
               progress=lambda i, m: curve(i, held[0]) if i % every == 0 else None)
    finally:
        T._descend = descend
    return curve.points


def run_opentsne(X, every, max_iter, full):
    from openTSNE import TSNE

    curve, calls = Curve(X, full), []

    def callback(iteration, error, embedding):  # openTSNE counts each phase from 0
        calls.append(iteration)
        curve(len(calls) * every, embedding)
        return False

    TSNE(perplexity=PERPLEXITY, negative_gradient_method="fft", n_jobs=os.cpu_count() or 1,
         random_state=0, verbose=False, n_iter=max_iter - 250, callbacks=callback,
         callbacks_every_iters=every).fit(X)
    return curve.points


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[5000])
    ap.add_argument("--every", type=int, default=50, help="a multiple of 50 (coc's progress step)")
    ap.add_argument("--max-iter", type=int, default=T.DEFAULT_MAX_ITER,
                    help="both engines' total iterations, 250 of them early exaggeration")
    ap.add_argument("--kl", choices=["subsample", "full"], default="subsample")
    ap.add_argument("--engines", nargs="+", default=["coc", "opentsne"], choices=["coc", "opentsne"])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.every % 50:
        ap.error("--every must be a multiple of 50")
    for n in args.n:
        X = data.blobs(10, n // 10, 32, 0.3, xp=np, seed=0, dtype="float32")[0]
        for engine in args.engines:
            load = os.getloadavg()
            points = (run_coc if engine == "coc" else run_opentsne)(X, args.every, args.max_iter,
                                                                    args.kl == "full")
            line = {"engine": engine, "n": n, "dim": 32, "max_iter": args.max_iter,
                    "curve": points, "kl": args.kl,
                    "kl_points": n if args.kl == "full" else min(n, KL_SUBSAMPLE), "loadavg_before": load,
                    "loadavg_after": os.getloadavg(), "machine": envinfo.cpu_info(),
                    "commit": envinfo.git_commit(), "created_at": envinfo.timestamp()}
            print(json.dumps(line), flush=True)
            if args.out is not None:
                with args.out.open("a") as f:
                    f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
