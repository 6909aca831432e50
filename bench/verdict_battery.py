"""The verdict's synthetic battery and real data sets, and its sensitivity to each constant.

The battery gathers the cases the tests draw (``tests/test_analyze.py``,
``tests/test_verdict*.py``), issue 24's larger unequal anisotropic clusters, and shapes the
held-back data sets are made of (many clusters of unequal size and spread, a branching
trajectory, a ring): each has a known answer (1 = no clusters, a continuum). The real data
sets ship with scikit-learn. Every case runs ``coc.analyze`` with its defaults except
``n_null`` (``--n-null``) and the case's own options (``cosine`` for the rays and the arc).

    python bench/verdict_battery.py --jobs 2 --out results/count/            # battery + real data
    python bench/verdict_battery.py --jobs 2 --sensitivity --out results/count/

``--sensitivity`` reruns the battery with each constant of
:data:`coc.verdict.decision.TUNED` at 0.75 and 1.25 times its value and writes the score of
each run (``sensitivity.md``); the KMeans scans, which no constant changes, are computed once
per case.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from coc.verdict import scenarios
from coc.utils.timing import Stopwatch

N_NULL = 5


def _blobs(std, seed=0):
    # The notebook's 10 blobs of 100 points in 32-d (coc.Backend.blobs), as the tests draw them.
    import coc

    backend = coc.get_backend("cpu")
    return backend.to_numpy(backend.blobs(10, 100, 32, std, seed=seed)[0])


def _scenario(key, i=0):
    order = list(scenarios.TIBSHIRANI) + list(scenarios.EXTRA)
    make = {**scenarios.TIBSHIRANI, **scenarios.EXTRA}[key][1]
    return make(np.random.default_rng([2001, order.index(key), i]))[0]


def _unequal_large(seed=0):
    """Issue 24: three anisotropic clusters of 100, 400 and 1500 points in 64-d."""
    rng = np.random.default_rng([24, seed])
    dim, sizes = 64, (100, 400, 1500)
    centers = np.linalg.qr(rng.standard_normal((dim, 3)))[0].T * 12.0 / np.sqrt(2)
    parts = []
    for c, n in zip(centers, sizes):
        Q = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
        scales = np.exp(rng.uniform(np.log(0.2), np.log(2.0), dim))
        parts.append(c + (rng.standard_normal((n, dim)) * scales) @ Q)
    return np.vstack(parts)


def _many_unequal(n_clusters=12, dim=30, seed=0):
    """Single-cell-like: clusters of 30 to 600 points (log-uniform), each with its own spread
    (0.5 to 2) and an anisotropic covariance, centres N(0, 6^2 I) in ``dim`` dimensions."""
    rng = np.random.default_rng([25, seed])
    sizes = np.exp(rng.uniform(np.log(30), np.log(600), n_clusters)).astype(int)
    parts = []
    for n in sizes:
        c = rng.normal(0, 6.0, dim)
        A = rng.standard_normal((dim, dim)) / np.sqrt(dim) * rng.uniform(0.5, 2.0)
        parts.append(c + rng.standard_normal((n, dim)) @ A)
    return np.vstack(parts)


def _tree(dim=50, seed=0):
    """A branching trajectory (a stem and two branches, 1500 points) in ``dim`` dimensions:
    a differentiation path, one continuum."""
    rng = np.random.default_rng([26, seed])
    a, b, c = (rng.standard_normal(dim) for _ in range(3))
    t = rng.random(1500)
    arm = rng.integers(0, 3, 1500)
    X = np.where((arm == 0)[:, None], t[:, None] * a,
                 a + t[:, None] * np.where((arm == 1)[:, None], b, c))
    return X + rng.normal(0, 0.05, X.shape)


def _ring(dim=10, seed=0):
    """A noisy circle (1000 points) in ``dim`` dimensions: a curved continuum."""
    rng = np.random.default_rng([27, seed])
    t = rng.uniform(0, 2 * np.pi, 1000)
    Q = np.linalg.qr(rng.standard_normal((dim, 2)))[0]
    return np.c_[np.cos(t), np.sin(t)] @ Q.T + rng.normal(0, 0.05, (1000, dim))


def _rays(n_per=120, n_dir=4, dim=16, seed=0):
    """tests/test_verdict.py: points on rays, the direction is the cluster (cosine)."""
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(n_dir, dim))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_dir), n_per)
    return (D[y] + rng.normal(0, 0.08, (len(y), dim))) * rng.uniform(0.2, 5, (len(y), 1))


def _arc():
    """tests/verdict/test_verdict_count.py: a noisy quarter circle in 384-d (cosine)."""
    return scenarios.noisy_arc()


def _outliers(n_far):
    rng = np.random.default_rng(3)
    X = np.vstack([rng.standard_normal((1000, 16)), 60 + rng.standard_normal((3, 16))])
    return X if n_far == 3 else np.vstack([X[:1000], 60 + rng.standard_normal((n_far, 16))])


def _swiss():
    from sklearn.datasets import make_swiss_roll

    return make_swiss_roll(1500, noise=0.5, random_state=0)[0]


#: name -> (truth, maker, analyze options). The first 18 are the battery of issue 24.
CASES = {
    "uniform 2000x32": (1, lambda: np.random.default_rng(0).random((2000, 32)), {}),
    "gaussian 2000x32": (1, lambda: np.random.default_rng(1).standard_normal((2000, 32)), {}),
    "blobs std 0.01": (10, lambda: _blobs(0.01), {}),
    "blobs std 0.3": (10, lambda: _blobs(0.3), {}),
    "blobs std 0.4": (10, lambda: _blobs(0.4), {}),
    "blobs std 0.5": (10, lambda: _blobs(0.5), {}),
    "swiss roll": (1, _swiss, {}),
    "skewed blob": (1, lambda: np.exp(np.random.default_rng(0).normal(0, 0.7, (1500, 8))), {}),
    "3 far outliers": (1, lambda: _outliers(3), {}),
    "1000 + 40 far": (2, lambda: _outliers(40), {}),
    "unequal 20/80/300": (3, lambda: _scenario("unequal"), dict(k_max=10)),
    "unequal 100/400/1500": (3, _unequal_large, {}),
    "curve 32-d": (1, lambda: _scenario("curve32"), dict(k_max=10)),
    "sheet 64-d": (1, lambda: _scenario("sheet64"), dict(k_max=10)),
    "curve 256-d": (1, lambda: _scenario("curve256"), dict(k_max=10)),
    "arc 384-d cosine": (1, _arc, dict(metric="cosine")),
    "rays cosine": (4, _rays, dict(metric="cosine", k_max=8)),
    "(d) draw 42": (4, lambda: _scenario("d", 42), dict(k_max=10, seed=42)),
    # Beyond issue 24's battery: the shapes of the held-back data sets.
    "12 unequal 30-d": (12, lambda: _many_unequal(12, 30), {}),
    "8 unequal 50-d": (8, lambda: _many_unequal(8, 50, seed=1), {}),
    "tree 50-d": (1, _tree, {}),
    "ring 10-d": (1, _ring, {}),
}


def _real(name):
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    load = {"digits": datasets.load_digits, "wine": datasets.load_wine, "iris": datasets.load_iris,
            "breast cancer": datasets.load_breast_cancer}[name]
    X = load().data.astype(np.float64)
    return X if name == "digits" else StandardScaler().fit_transform(X)


#: name -> accepted counts (see tests/test_real_data.py for the sources); None: only stability.
REAL = {"digits": range(8, 15), "wine": [3], "iris": [2], "breast cancer": None}


def _variants():
    """The sensitivity runs: none (as committed), then each tuned constant x0.75 and x1.25."""
    from coc.verdict import decision

    out = [("as committed", {})]
    for key in decision.TUNED:
        value = getattr(decision, key)
        for f in (0.75, 1.25):
            # An integer moves at least one step: down to the floor, up to the ceiling.
            moved = (math.floor(value * f) if f < 1 else math.ceil(value * f)) if isinstance(value, int) else value * f
            out.append((f"{key} x{f}", {key: moved}))
    return out


def _cached_scans():
    """Memoize the KMeans scan in this process: the constants change only the decision, so each
    variant of a case reuses the scans of the first (same data, ks, seed: same result)."""
    import hashlib

    from coc.verdict import decision

    real, cache = decision.cluster_scan, {}

    def scan(backend, X, ks, **kw):
        key = (hashlib.sha1(np.ascontiguousarray(backend.to_numpy(X)).tobytes()).hexdigest(), tuple(ks),
               tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = real(backend, X, ks, **kw)
        return cache[key]

    decision.cluster_scan = scan


def _one(job):
    """One case: its count under each variant of the constants (and Gap/pc on real data)."""
    name, real, variants, n_null, gap_pc_too = job

    if len(variants) > 1:
        _cached_scans()
    if real:
        X, options = _real(name), {}
    else:
        X, options = CASES[name][1](), dict(CASES[name][2])
    options.setdefault("n_null", n_null)
    out = []
    if real and variants == [{}] and gap_pc_too:
        # The paper's Gap/pc beside coc on the real data, over the same ks (2..20).
        from count_scenarios import gap_pc

        with threadpool_limits(limits=1):
            k_gap = gap_pc(X, seed=0, k_max=min(20, len(X) // 10))[0]
    for overrides in variants:
        watch = Stopwatch()
        a = analyze_with(X, options, overrides)
        k = 1 if a.verdict == "continuum" else int(a.n_clusters)
        out.append((k, bool(getattr(a, "n_clusters_is_lower_bound", False)), round(watch.elapsed_s, 1)))
    if real and variants == [{}] and gap_pc_too:
        out[0] += (k_gap,)
    return name, out


def run(names, *, real=False, variants=({},), n_null=N_NULL, jobs=1, gap_pc=False):
    """``{name: [(k, lower_bound, seconds), ...]}`` for each case (1 = continuum), one triple per
    variant (a dict of constants of :mod:`coc.verdict.decision` to set for that run)."""
    return dict(map_jobs(_one, [(name, real, list(variants), n_null, gap_pc) for name in names], jobs))


def map_jobs(fn, todo, jobs):
    """``[fn(job) for job in todo]``, on a pool of ``jobs`` processes when more than one."""
    if jobs == 1:
        return [fn(job) for job in todo]
    from multiprocessing import Pool

    with Pool(jobs) as pool:
        return pool.map(fn, todo, chunksize=1)


def analyze_with(X, options, overrides):
    """``coc.analyze(X, **options)`` on one thread, with the constants of
    :mod:`coc.verdict.decision` in ``overrides`` set for that call only."""
    from coc.verdict import analyze, decision

    saved = {key: getattr(decision, key) for key in overrides}
    for key, value in overrides.items():
        setattr(decision, key, value)
    try:
        with threadpool_limits(limits=1):
            return analyze(X, **options)
    finally:
        for key, value in saved.items():
            setattr(decision, key, value)


def score(results, variant=0):
    """How many cases of ``results`` name their true count in the given variant."""
    return sum(results[name][variant][0] == CASES[name][0] for name in results)


def _machine() -> str:
    """The CPU model and its cores, the system and NumPy/scikit-learn versions."""
    import os

    import sklearn

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()}, numpy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-null", type=int, default=N_NULL)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--sensitivity", action="store_true")
    p.add_argument("--tag", default="battery", help="the output files' stem")
    p.add_argument("--out", default="results/count/")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    if args.sensitivity:
        variants = _variants()
        watch = Stopwatch()
        res = run(CASES, variants=[v for _, v in variants], n_null=args.n_null, jobs=args.jobs)
        n = len(CASES)
        lines = ["| constant | value | x0.75 | x1.25 | cases that change |", "|---|---|---|---|---|"]
        from coc.verdict import decision

        for i in range(1, len(variants), 2):
            key = variants[i][0].split()[0]
            changed = sorted({name for name in res for v in (i, i + 1) if res[name][v][0] != res[name][0][0]})
            lines.append(f"| `{key}` | {getattr(decision, key):g} | {score(res, i)} of {n} | "
                         f"{score(res, i + 1)} of {n} | {', '.join(changed) or '-'} |")
        cmd = f"python bench/verdict_battery.py --jobs {args.jobs} --n-null {args.n_null} --sensitivity"
        text = "\n".join(lines)
        (out / "sensitivity.md").write_text(
            f"# The battery's score with each constant 25% lower and higher\n\n`{cmd}` on {machine} "
            f"({watch.elapsed_s:.0f} s). With every constant as committed: {score(res)} of {n} (the "
            f"cases of bench/verdict_battery.py). Integer constants move to the floor (x0.75) and the ceiling (x1.25).\n\n{text}\n")
        (out / "sensitivity.json").write_text(json.dumps(
            {"command": cmd, "machine": machine, "variants": [name for name, _ in variants],
             "counts": {name: [k for k, _, _ in v] for name, v in res.items()}}, indent=1) + "\n")
        print(text)
        return 0
    watch = Stopwatch()
    battery = run(CASES, n_null=args.n_null, jobs=args.jobs)
    real = run(REAL, real=True, n_null=args.n_null, jobs=args.jobs, gap_pc=True)
    rows = ["| case | truth | coc | right | seconds |", "|---|---|---|---|---|"]
    for name, ((k, lb, s),) in battery.items():
        truth = CASES[name][0]
        rows.append(f"| {name} | {truth} | {k}{'+' if lb else ''} | {'yes' if k == truth else '**no**'} | {s} |")
    rows += ["", "| real data | accepted | coc | Gap/pc (k 1..20) | coc seconds |", "|---|---|---|---|---|"]
    for name, ((k, lb, s, k_gap),) in real.items():
        ok = REAL[name]
        rows.append(f"| {name} | {'stable' if ok is None else f'{ok[0]}-{ok[-1]}' if len(ok) > 1 else ok[0]} | "
                    f"{k}{'+' if lb else ''} | {k_gap} | {s} |")
    cmd = f"python bench/verdict_battery.py --jobs {args.jobs} --n-null {args.n_null} --tag {args.tag}"
    text = "\n".join(rows)
    (out / f"{args.tag}.md").write_text(
        f"# The verdict's battery and real data\n\n`{cmd}` on {machine} ({watch.elapsed_s:.0f} s). "
        f"coc: the count (1 = continuum; + = a lower bound, the top of the scan). Battery score: "
        f"{score(battery)} of {len(CASES)}.\n\n{text}\n")
    (out / f"{args.tag}.json").write_text(json.dumps(
        {"command": cmd, "machine": machine, "battery": battery, "real": real}, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
