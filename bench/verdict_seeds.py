"""The verdict on scikit-learn's real data sets at several seeds: how much it moves with them.

The seed draws the null references and seeds KMeans; a verdict near one of the rule's
thresholds can flip with it. For each data set and seed this records the verdict, the count,
the pooled density ratio of step 3 at the candidate k and the stricter null's mean there, so
that a flip shows which of the two moved.

    python bench/verdict_seeds.py --seeds 8 --jobs 2 --out results/count/
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from coc.utils.timing import Stopwatch
from verdict_battery import REAL, _machine, _real, analyze_with, map_jobs


def _one(job):
    name, seed = job
    a = analyze_with(_real(name), dict(seed=seed), {})
    gap = a.density_gap or {}
    first = gap.get("chosen", gap)
    return {"data": name, "seed": seed, "verdict": a.verdict, "n_clusters": a.n_clusters,
            "k": first.get("k"), "ratio": first.get("ratio"), "null_mean": first.get("null_mean"),
            "test": gap.get("test")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="results/count/")
    args = p.parse_args(argv)
    todo = [(name, seed) for name in REAL for seed in range(args.seeds)]
    watch = Stopwatch()
    rows = map_jobs(_one, todo, args.jobs)
    lines = ["| data | seed | verdict | k tested | pooled ratio | stricter null mean | ratio / mean |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        what = "continuum" if r["verdict"] == "continuum" else f"clustered, {r['n_clusters']}"
        rel = "-" if r["ratio"] is None else f"{r['ratio'] / r['null_mean']:.2f}"
        fmt = (lambda v: "-" if v is None else f"{v:.3f}")
        lines.append(f"| {r['data']} | {r['seed']} | {what} | {r['k'] or '-'} | {fmt(r['ratio'])} | "
                     f"{fmt(r['null_mean'])} | {rel} |")
    cmd = f"python bench/verdict_seeds.py --seeds {args.seeds} --jobs {args.jobs}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    (out / "seeds.md").write_text(
        f"# The verdict on real data at {args.seeds} seeds\n\n`{cmd}` on {_machine()} "
        f"({watch.elapsed_s:.0f} s). Each run is `coc.analyze` at its defaults but the seed. "
        f"k tested: the candidate k of step 3 (the ratio and null mean are those of its first "
        f"test; a separated count below it comes from merging pieces). Separated: ratio under "
        f"GAP_FRACTION (0.65) x the mean and under every null draw (docs/verdict.md).\n\n{text}\n")
    (out / "seeds.json").write_text(json.dumps({"command": cmd, "machine": _machine(), "rows": rows},
                                               indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
