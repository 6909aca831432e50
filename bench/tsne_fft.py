"""Time per call of t-SNE's FFT repulsion against the box count and n, on NumPy.

    python bench/tsne_fft.py --n 100000 1000000 --boxes 50 144 288 576 \\
        --baseline 47f35bf --out results/tsne/fft_table

Points: 10 Gaussian clusters spread over a square of side ``boxes``, so that openTSNE's rule
(boxes of side at most 1) gives that many boxes a side. Per cell, interleaved in each of
``--repeats`` rounds (the best round is kept):

* ``miss_ms``: ``repulsive_fft`` with the kernel spectra computed (a new grid);
* ``hit_ms``: the same call with the spectra taken from the cache (an unchanged grid);
* ``spectra_ms``: ``kernel_spectra`` alone; ``fft_ms``: the charges' transforms alone (the
  same calls on a grid of the same shape); ``points_ms`` = ``hit_ms - fft_ms``, the part
  linear in n (weights, scatter, gather);
* ``baseline_ms``: the implementation at commit ``--baseline`` (read by ``git show``), where given.

Writes ``OUT.jsonl`` (one line per cell, with ``os.getloadavg()``, the machine from
``coc.suite.envinfo`` and coc's commit) and ``OUT.md`` (the table).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coc.suite import envinfo  # noqa: E402
from coc.kernels import _tsne_fft as F  # noqa: E402


def points(n, boxes, seed=0):
    g = np.random.default_rng(seed)
    centers = g.uniform(-0.3 * boxes, 0.3 * boxes, (10, 2))
    Y = np.clip(centers[g.integers(0, 10, n)] + g.normal(0, boxes / 40, (n, 2)), -boxes / 2, boxes / 2)
    Y[:2] = [[-boxes / 2, -boxes / 2], [boxes / 2, boxes / 2]]  # the span, exactly
    return Y.astype(np.float32)


def baseline_module(commit):
    src = subprocess.run(["git", "show", f"{commit}:coc/kernels/tsne.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    mod = types.ModuleType("tsne_baseline")
    exec(compile(src, f"tsne@{commit}", "exec"), mod.__dict__)
    return mod


def charges_fft(N):
    import scipy.fft as sf

    m = 2 * N
    c = np.zeros((3, N, m), np.float32)
    c[:, :, :N] = 1.0

    def run():
        s = sf.fft(sf.rfft(c, axis=2, workers=-1), n=m, axis=1, workers=-1)
        sf.irfft(sf.ifft(s, axis=1, workers=-1)[:, :N], n=m, axis=2, workers=-1)
    return run


def best_ms(fn, rounds):
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return round(1e3 * min(out), 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--boxes", type=int, nargs="+", default=[50, 144, 288, 576])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default=None, help="a commit whose coc/kernels/tsne.py to time too")
    ap.add_argument("--out", type=Path, default=None, help="OUT.jsonl and OUT.md")
    args = ap.parse_args(argv)
    base = baseline_module(args.baseline) if args.baseline else None
    machine, commit = envinfo.cpu_info(), envinfo.git_commit()
    rows = []
    for n in args.n:
        for boxes in args.boxes:
            Y = points(n, boxes)
            nb = F.box_count(float(np.ptp(Y, axis=0).max()))
            N = nb * F._N_NODES
            cache = {}
            F.repulsive_fft(Y, xp=np, n_boxes=nb, cache=cache)  # warm-up, fills the cache
            box = cache["key"][1]
            load = os.getloadavg()
            cells = {
                "miss_ms": lambda: F.repulsive_fft(Y, xp=np, n_boxes=nb),
                "hit_ms": lambda: F.repulsive_fft(Y, xp=np, n_boxes=nb, cache=cache),
                "spectra_ms": lambda: F.kernel_spectra(N, box / F._N_NODES, xp=np, dtype=np.float32),
                "fft_ms": charges_fft(N),
            }
            if base is not None:
                cells["baseline_ms"] = lambda: base._repulsive_fft(Y, xp=np, n_boxes=nb)
            times = {k: [] for k in cells}
            for _ in range(args.repeats):  # interleaved: every variant meets the same load
                for k, fn in cells.items():
                    times[k].append(best_ms(fn, 1))
            row = {"n": n, "boxes": nb, "nodes_a_side": N, **{k: min(v) for k, v in times.items()}}
            row["points_ms"] = round(row["hit_ms"] - row["fft_ms"], 2)
            row.update(loadavg_before=load, loadavg_after=os.getloadavg(), machine=machine,
                       commit=commit, baseline=args.baseline, created_at=envinfo.timestamp())
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.with_suffix(".jsonl").open("w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        cols = ["n", "boxes", "miss_ms", "hit_ms", "spectra_ms", "fft_ms", "points_ms"]
        cols += ["baseline_ms"] if base is not None else []
        lines = [f"FFT repulsion, ms per call (best of {args.repeats}, interleaved), "
                 f"{machine['model']}, {machine['logical_cores']} logical cores, commit {commit}"
                 + (f", baseline {args.baseline}" if base is not None else ""), "",
                 "| " + " | ".join(cols) + " | loadavg (1 min) |",
                 "|" + "---|" * (len(cols) + 1)]
        for r in rows:
            lines.append("| " + " | ".join(str(r[c]) for c in cols) + f" | {r['loadavg_before'][0]:.1f} |")
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
