"""Structural variants of the verdict's rule on the battery, the real data and 50 draws each of
scenarios (c) and (d): which cases each variant turns wrong.

A variant sets constants of :mod:`coc.verdict.decision` to values that switch a step off
(``GAP_FRACTION_WITH_GAP = 0``: no second pooled test; ``GAP_AGREEMENT = 0``: always the gap's
k, ``1e9``: always the best excess's; ``Z_COUNT = Z_SILHOUETTE``: one z for both). The KMeans
scans are computed once per case and shared by its variants.

    python bench/verdict_variants.py --jobs 2 --out results/count/
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from coc.utils.timing import Stopwatch
from verdict_battery import CASES, _cached_scans, _machine, _real, analyze_with, map_jobs

VARIANTS = {
    "as committed": {},
    "Z_COUNT = Z_SILHOUETTE (4)": {"Z_COUNT": 4.0},
    "no second pooled test (GAP_FRACTION_WITH_GAP = 0)": {"GAP_FRACTION_WITH_GAP": 0.0},
    "always the gap's k (GAP_AGREEMENT = 0)": {"GAP_AGREEMENT": 0.0},
    "always the best excess's k (GAP_AGREEMENT = 1e9)": {"GAP_AGREEMENT": 1e9},
    "GAP_FRACTION = 0.6": {"GAP_FRACTION": 0.6},
}
#: The real data's accepted counts; breast cancer: any, at each of 8 seeds (stability).
ACCEPTED = {"digits": range(8, 15), "wine": [3], "iris": [2]}


def _data(spec):
    name, kind, arg, seed = spec
    from coc.verdict import scenarios

    if kind == "battery":
        return CASES[name][1](), dict(CASES[name][2])
    if kind == "real":
        return _real(name), dict(seed=seed)
    order = list(scenarios.TIBSHIRANI) + list(scenarios.EXTRA)
    make = {**scenarios.TIBSHIRANI, **scenarios.EXTRA}[arg[0]][1]
    return make(np.random.default_rng([2001, order.index(arg[0]), arg[1]]))[0], dict(k_max=10, seed=seed)


def _one(spec):
    _cached_scans()
    X, options = _data(spec)
    options.setdefault("n_null", 5)
    out = {}
    for name, overrides in VARIANTS.items():
        a = analyze_with(X, options, overrides)
        out[name] = 1 if a.verdict == "continuum" else int(a.n_clusters)
    return spec, out


def _group(spec):
    name, kind, arg, _ = spec
    return {"battery": "battery", "real": "real data"}.get(kind) or f"scenario ({arg[0]}), 50 draws"


def _right(spec, k):
    name, kind, arg, _ = spec
    if kind == "battery":
        return k == CASES[name][0]
    if kind == "real":
        return k in ACCEPTED[name]
    return k == 4


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="results/count/")
    args = p.parse_args(argv)
    specs = [(name, "battery", None, None) for name in CASES]
    specs += [(name, "real", None, 0) for name in ACCEPTED]
    specs += [("breast cancer", "real", None, seed) for seed in range(8)]
    specs += [(f"({c}) draw {i}", "scenario", (c, i), i) for c in ("c", "d") for i in range(50)]
    watch = Stopwatch()
    res = map_jobs(_one, specs, args.jobs)
    groups = list(dict.fromkeys(_group(s) for s, _ in res))
    lines = ["| variant | " + " | ".join(groups) + " | breast cancer, seeds 0-7 | wrong |",
             "|---|" + "---|" * (len(groups) + 2)]
    for v in VARIANTS:
        cells = []
        for g in groups:
            mine = [(s, r[v]) for s, r in res if _group(s) == g and s[0] != "breast cancer"]
            cells.append(f"{sum(_right(s, k) for s, k in mine)} of {len(mine)}")
        bc = [r[v] for s, r in res if s[0] == "breast cancer"]
        wrong = [f"{s[0]}: {r[v]}" for s, r in res if s[0] != "breast cancer" and not _right(s, r[v])]
        lines.append(f"| {v} | " + " | ".join(cells) + f" | {' '.join(map(str, bc))} | {', '.join(wrong) or '-'} |")
    cmd = f"python bench/verdict_variants.py --jobs {args.jobs}"
    text = "\n".join(lines)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "variants.md").write_text(
        f"# The rule with a step switched off\n\n`{cmd}` on {_machine()} ({watch.elapsed_s:.0f} s). "
        f"Counts: 1 = continuum. (d) draw 42 is in the battery and in scenario (d). Breast cancer's "
        f"accepted answer is any verdict, the same at every seed.\n\n{text}\n")
    (out / "variants.json").write_text(json.dumps(
        {"command": cmd, "machine": _machine(), "variants": VARIANTS,
         "results": [[list(map(str, s)), r] for s, r in res]}, indent=1, default=str) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
