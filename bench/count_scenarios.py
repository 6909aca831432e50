"""How often ``coc analyze`` names the right number of clusters, beside the gap statistic.

Draws the five simulations of Tibshirani, Walther and Hastie (2001, section 6) and issue 13's
cases (:mod:`coc.verdict.scenarios`) with fixed seeds, and estimates the number of clusters of every
draw three ways:

* **coc**: ``coc.analyze`` with its defaults except ``k_max`` (10, the paper's range) and
  ``n_null`` (``--n-null``); a continuum counts as k = 1;
* **Gap/pc**: the gap statistic as the paper computes it, written here independently of coc:
  ``--n-ref`` (default 20) reference sets uniform over the box aligned with the data's principal
  components, k from 1 to 10, scikit-learn's KMeans with ``--n-init`` restarts, the 1-SE rule
  (the smallest k with Gap(k) >= Gap(k+1) - s(k+1));
* **silhouette max**: the k in 2..10 with the highest silhouette of those same KMeans fits.

Writes ``count.md`` and ``count.json`` in ``--out`` and prints the table::

    python bench/count_scenarios.py --draws 50 --out results/count/
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

import coc
from coc.verdict import scenarios
from coc.utils.timing import Stopwatch
from coc.verdict import analyze
from coc.verdict.decision import DEFAULT_N_NULL

K_MAX = 10
METHODS = ("coc", "Gap/pc", "silhouette max")


def gap_pc(X, *, n_ref=20, n_init=5, seed=0, k_max=K_MAX):
    """The gap statistic with the principal-component box reference and the 1-SE rule.

    Returns
    -------
    k_gap : int
        The paper's estimate, in 1..k_max (10 by default, the paper's range).
    k_sil : int
        The k in 2..k_max with the highest silhouette of the same KMeans fits on the data.
    """
    ks = range(1, k_max + 1)

    def log_w(Y):
        out, labels = [], {}
        for k in ks:
            if k == 1:
                out.append(np.log(((Y - Y.mean(0)) ** 2).sum()))
                continue
            km = KMeans(k, n_init=n_init, random_state=seed).fit(Y)
            out.append(np.log(km.inertia_))
            labels[k] = km.labels_
        return np.array(out), labels

    rng = np.random.default_rng([seed, 7])
    Xc = X - X.mean(0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    Z = Xc @ Vt.T
    lo, hi = Z.min(0), Z.max(0)
    data, labels = log_w(X)
    ref = np.array([log_w(rng.uniform(lo, hi, Z.shape) @ Vt)[0] for _ in range(n_ref)])
    gap = ref.mean(0) - data
    s = ref.std(0) * np.sqrt(1 + 1 / n_ref)
    k_gap = k_max
    for i in range(k_max - 1):
        if gap[i] >= gap[i + 1] - s[i + 1]:
            k_gap = i + 1
            break
    sil = {k: silhouette_score(X, labels[k]) for k in range(2, k_max + 1)}
    return k_gap, max(sil, key=sil.get)


def coc_count(X, backend, *, n_null, seed):
    a = analyze(X, backend=backend, k_max=K_MAX, n_null=n_null, seed=seed)
    return 1 if a.verdict == "continuum" else int(a.n_clusters)


def _draws(job):
    """Draws ``start .. stop - 1`` of one case: the three estimates of each."""
    case_no, key, start, stop, n_null, n_ref, n_init = job
    make = {**scenarios.TIBSHIRANI, **scenarios.EXTRA}[key][1]
    backend = coc.get_backend("cpu")
    est = {m: [] for m in METHODS}
    with threadpool_limits(limits=1):
        for i in range(start, stop):
            X, truth = make(np.random.default_rng([2001, case_no, i]))
            est["coc"].append(coc_count(X, backend, n_null=n_null, seed=i))
            k_gap, k_sil = gap_pc(X, n_ref=n_ref, n_init=n_init, seed=i)
            est["Gap/pc"].append(k_gap)
            est["silhouette max"].append(k_sil)
    print(f"{key}: draws {start}..{stop - 1} done", file=sys.stderr, flush=True)
    return key, truth, X.shape, est


def run(draws, *, extra_draws, n_null, n_ref, n_init, jobs=1, chunk=10):
    """Every case in chunks of ``chunk`` draws; a draw's seeds depend only on its case and index."""
    keys = list(scenarios.TIBSHIRANI) + list(scenarios.EXTRA)
    todo = []
    for no, key in enumerate(keys):
        n = draws if key in scenarios.TIBSHIRANI else extra_draws
        todo += [(no, key, a, min(a + chunk, n), n_null, n_ref, n_init) for a in range(0, n, chunk)]
    watch = Stopwatch()
    if jobs == 1:
        parts = [_draws(job) for job in todo]
    else:
        from multiprocessing import Pool

        with Pool(jobs) as pool:
            parts = pool.map(_draws, todo, chunksize=1)
    out = []
    for key in keys:
        mine = [p for p in parts if p[0] == key]
        if not mine:
            continue
        truth, shape = mine[0][1], mine[0][2]
        est = {m: [k for p in mine for k in p[3][m]] for m in METHODS}
        out.append({"case": key, "title": {**scenarios.TIBSHIRANI, **scenarios.EXTRA}[key][0],
                    "truth": truth, "n_samples": int(shape[0]), "dim": int(shape[1]),
                    "draws": len(est["coc"]), "estimates": est,
                    "right": {m: sum(k == truth for k in est[m]) for m in METHODS}})
    return out, watch.elapsed_s


def table(rows) -> str:
    lines = ["| case | truth | method | " + " | ".join(str(k) for k in range(1, K_MAX + 1)) + " | right |",
             "|---|---|---|" + "---|" * K_MAX + "---|"]
    for r in rows:
        for m in METHODS:
            c = Counter(r["estimates"][m])
            cells = " | ".join(
                (f"**{c[k]}**" if k == r["truth"] else str(c[k])) if c[k] else "" for k in range(1, K_MAX + 1))
            head = f"({r['case']}) {r['title']}" if m == METHODS[0] else ""
            truth = ("1 (none)" if r["truth"] == 1 else str(r["truth"])) if m == METHODS[0] else ""
            lines.append(f"| {head} | {truth} | {m} | {cells} | {r['right'][m]} of {r['draws']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=50, help="draws of each of the paper's five scenarios")
    p.add_argument("--extra-draws", type=int, default=None,
                   help="draws of each of issue 13's cases (default: --draws / 5, at least 1)")
    p.add_argument("--n-null", type=int, default=DEFAULT_N_NULL,
                   help="coc's null draws of each reference")
    p.add_argument("--n-ref", type=int, default=20, help="Gap/pc reference sets")
    p.add_argument("--n-init", type=int, default=5, help="Gap/pc KMeans restarts")
    p.add_argument("--jobs", type=int, default=1, help="cases run in this many processes")
    p.add_argument("--out", default="results/count/")
    args = p.parse_args(argv)
    extra = args.extra_draws if args.extra_draws is not None else max(1, args.draws // 5)
    rows, elapsed = run(args.draws, extra_draws=extra, n_null=args.n_null, n_ref=args.n_ref,
                        n_init=args.n_init, jobs=args.jobs)
    text = table(rows)
    cmd = (f"python bench/count_scenarios.py --draws {args.draws} --extra-draws {extra} "
           f"--n-null {args.n_null} --n-ref {args.n_ref} --n-init {args.n_init} --jobs {args.jobs} "
           f"--out {args.out}")
    from verdict_battery import _machine

    md = (f"# How often the number of clusters is right\n\n`{cmd}` on {_machine()} ({elapsed:.0f} s). Cell: how many "
          f"draws gave that k (1 = no clusters; coc's continuum counts as 1); the truth in bold.\n\n"
          f"{text}\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "count.md").write_text(md)
    (out / "count.json").write_text(json.dumps(
        {"command": cmd, "machine": _machine(), "elapsed_s": round(elapsed, 1), "k_max": K_MAX, "rows": rows}, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
