"""Where one coc t-SNE run on NumPy spends its time, stage by stage.

    python bench/tsne_profile.py --n 100000 --out results/tsne/profile.jsonl

One run of ``coc.kernels.tsne.tsne`` at its defaults on 10 blobs of std 0.3 in 32-d (float32,
the sweep's data), each stage's function wrapped to add up its wall time and calls: the
neighbors (``knn``), the affinities and their symmetrization, and in the descent the
attraction (``_attractive_parts``, all parts of one iteration) and the FFT repulsion. A line
of ``--out`` per run, with the load before and after, the machine and coc's commit.

The repulsion runs beside the attraction's parts on their threads
(``coc.kernels.tsne.OVERLAP_REPULSION``), so the two stages' seconds overlap and may add up
to more than the descent's; ``--sequential`` runs the repulsion apart, after the parts.
"""
from __future__ import annotations

import argparse
import collections
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

STAGES = ("knn", "_affinities", "_symmetrize", "_descend", "_attractive_parts", "_repulsive_fft")


def profile(n: int, seed: int = 0) -> dict:
    """Seconds and calls of each of :data:`STAGES` in one run, and the run's total."""
    seconds, calls = collections.defaultdict(float), collections.Counter()
    saved = {name: getattr(T, name) for name in STAGES}

    def timed(name, f):
        def g(*args, **kwargs):
            start = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - start
                calls[name] += 1
        return g

    X = data.blobs(10, n // 10, 32, 0.3, xp=np, seed=seed, dtype="float32")[0]
    for name, f in saved.items():
        setattr(T, name, timed(name, f))
    try:
        start = time.perf_counter()
        T.tsne(X, xp=np, seed=seed, info={})
        total = time.perf_counter() - start
    finally:
        for name, f in saved.items():
            setattr(T, name, f)
    return {"total_s": round(total, 2),
            "stages": {name: {"s": round(seconds[name], 2), "calls": calls[name],
                              "ms_per_call": round(1e3 * seconds[name] / max(calls[name], 1), 2)}
                       for name in STAGES}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[100000])
    p.add_argument("--out", default="results/tsne/profile.jsonl")
    p.add_argument("--sequential", action="store_true",
                   help="the repulsion apart from the attraction, not beside it")
    args = p.parse_args(argv)
    T.OVERLAP_REPULSION = not args.sequential
    for n in args.n:
        load = os.getloadavg()
        line = {"n": n, "dim": 32, **profile(n), "overlap": T.OVERLAP_REPULSION,
                "loadavg_before": load, "loadavg_after": os.getloadavg(),
                "machine": envinfo.cpu_info(), "commit": envinfo.git_commit(),
                "created_at": envinfo.timestamp()}
        print(json.dumps(line))
        with open(args.out, "a") as f:
            f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
