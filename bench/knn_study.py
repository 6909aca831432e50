"""Which approximate k-nearest-neighbor engine coc's t-SNE should use, by measurement.

    python bench/knn_study.py --n 100000 1000000 --dim 32 128 --engines hnswlib pynndescent annoy faiss \
        --cap 600 --out results/knn/study.jsonl
    python bench/knn_study.py --digits --out results/knn/study.jsonl
    python bench/knn_study.py --crossover 5000 10000 20000 40000 --dim 32 --out results/knn/crossover.jsonl
    python bench/knn_study.py --tsne 5000 --dim 32 --out results/knn/tsne_quality.jsonl
    python bench/knn_study.py --tsne 100000 --tsne-neighbors auto --dim 32 --out results/knn/tsne_quality.jsonl
    python bench/knn_study.py --table results/knn/study.jsonl results/knn/crossover.jsonl

Each (engine, data) run is one subprocess, so that its peak memory (``ru_maxrss``) is its own
and a run past ``--cap`` seconds can be killed (recorded as ``"capped"``). The data is coc's
benchmark blobs (10 Gaussian blobs of std 0.3 in [0, 1]^dim, float32, seed 0), or
scikit-learn's digits (``--digits``). Every engine is asked for the ``k = 3 * perplexity = 90``
nearest other points of every point (the t-SNE graph: build and query of all points, timed
together), with 2 threads. Recall is the share of the exact ``k`` neighbors found, over
``--sample`` query points whose exact neighbors are computed by brute force outside the clock.
Install size is the bytes of the installed files of the engine's distributions and of the
dependencies it brings beyond coc's own (numba and llvmlite for pynndescent).

``--crossover`` times coc's exact tiled kNN (``neighbors="exact"``) against the approximate
engine at the given sizes, one run each, on the same blobs: where ``auto`` switches.
``--tsne`` runs coc's numpy t-SNE (1000 iterations, perplexity 30) on the blobs with exact and
with hnswlib neighbors and scores both embeddings as the benchmark does (``coc.suite.quality``:
10-NN preservation, exact KL on 2000 points, kNN recall) plus scikit-learn's trustworthiness
(10 neighbors) on all points; with the t-SNE's time and its kNN stage's.
Every line carries the machine (CPU model, cores) and ``os.getloadavg()`` before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

K = 90
THREADS = 2
#: distributions each engine installs beyond coc's own dependencies
DISTS = {"hnswlib": ["hnswlib"], "pynndescent": ["pynndescent", "numba", "llvmlite"],
         "annoy": ["annoy"], "faiss": ["faiss-cpu"], "coc-hnswlib": ["hnswlib"],
         "coc-faiss": ["faiss-cpu"]}


def install_bytes(engine):
    """Bytes of the installed files of the engine's distributions (missing ones count 0)."""
    from importlib import metadata

    total = 0
    for name in DISTS[engine]:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for f in dist.files or ():
            try:
                total += os.path.getsize(dist.locate_file(f))
            except OSError:
                pass
    return total


def make_data(name, n, dim):
    if name == "digits":
        from sklearn.datasets import load_digits

        return load_digits().data.astype(np.float32)
    from coc.kernels import data

    per = -(-n // 10)
    return data.blobs(10, per, dim, 0.3, xp=np, seed=0, dtype="float32")[0][:n]


def exact_of_sample(X, queries, k):
    """Indices (len(queries), k) of each query's k nearest other rows, by brute force in tiles."""
    Q = X[queries].astype(np.float64)
    best_d = np.full((len(queries), 0), np.inf)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    q_sq = (Q * Q).sum(1)
    for start in range(0, len(X), 50_000):
        B = X[start:start + 50_000].astype(np.float64)
        D = q_sq[:, None] - 2 * Q @ B.T + (B * B).sum(1)[None, :]
        own = (queries >= start) & (queries < start + len(B))
        D[np.nonzero(own)[0], queries[own] - start] = np.inf
        d = np.concatenate([best_d, D], axis=1)
        i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(B)), D.shape)], axis=1)
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        best_d, best_i = np.take_along_axis(d, part, 1), np.take_along_axis(i, part, 1)
    return best_i


def run_engine(engine, X, k, seed):
    """All points' k nearest other points by ``engine``: indices (n, k)."""
    n, dim = X.shape
    if engine == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=n, M=16, ef_construction=200, random_seed=seed)
        index.add_items(X, num_threads=THREADS)
        index.set_ef(max(2 * k, 100))
        idx, _ = index.knn_query(X, k=k + 1, num_threads=THREADS)
    elif engine == "pynndescent":
        from pynndescent import NNDescent

        idx, _ = NNDescent(X, n_neighbors=k + 1, random_state=seed, n_jobs=THREADS).neighbor_graph
    elif engine == "annoy":
        from concurrent.futures import ThreadPoolExecutor

        from annoy import AnnoyIndex

        index = AnnoyIndex(dim, "euclidean")
        index.set_seed(seed)
        for i in range(n):
            index.add_item(i, X[i])
        index.build(50, n_jobs=THREADS)  # openTSNE's 50 trees
        with ThreadPoolExecutor(THREADS) as pool:
            idx = np.array(list(pool.map(lambda i: index.get_nns_by_item(i, k + 1), range(n),
                                         chunksize=1000)))
    elif engine == "faiss":
        import faiss

        faiss.omp_set_num_threads(THREADS)
        index = faiss.IndexHNSWFlat(dim, 32)
        index.hnsw.efConstruction = 80
        index.add(X)
        index.hnsw.efSearch = max(2 * k, 100)
        _, idx = index.search(X, k + 1)
    elif engine in ("exact", "coc-hnswlib", "coc-faiss"):
        # coc's own stage, as t-SNE runs it (coc-faiss: the inverted file, nprobe raised until
        # a sample's recall is 0.98; coc-hnswlib: graph built on one thread, for a seeded
        # graph; queries on THREADS)
        from coc.kernels.neighbors import knn

        return knn(X, k, xp=np, method=engine.removeprefix("coc-"), seed=seed, n_threads=THREADS)[1]
    else:
        raise SystemExit(f"unknown engine {engine}")
    return drop_self(np.asarray(idx, dtype=np.int64), k)


def drop_self(idx, k):
    """The k first columns of each row other than the row itself (engines list it first,
    mostly; a duplicate point may come before it)."""
    own = idx == np.arange(len(idx))[:, None]
    keep = np.where(own.any(axis=1, keepdims=True), ~own, np.arange(idx.shape[1]) < k)
    return idx[keep].reshape(len(idx), -1)[:, :k] if keep.sum(1).min() >= k else idx[:, :k]


def worker(args):
    X = make_data(args.data, args.n, args.dim)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    idx = run_engine(args.engine, X, K, seed=0)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    g = np.random.default_rng(1)
    queries = np.sort(g.choice(len(X), size=min(args.sample, len(X)), replace=False))
    truth = exact_of_sample(X, queries, K)
    found = idx[queries]
    recall = float(np.mean([len(np.intersect1d(a, b)) / K for a, b in zip(found, truth)]))
    print(json.dumps({"seconds": seconds, "recall": recall, "peak_rss_bytes": peak,
                      "data_rss_bytes": rss0}))


def machine():
    from coc.suite.envinfo import cpu_info, git_commit

    cpu = cpu_info()
    return {"cpu": cpu["model"], "physical_cores": cpu["physical_cores"],
            "logical_cores": cpu["logical_cores"], "git_commit": git_commit()}


def measure(engine, data_name, n, dim, cap, sample, out, extra=None):
    line = {"engine": engine, "data": data_name, "n": n, "dim": dim, "k": K, "threads": THREADS,
            "install_bytes": install_bytes(engine) if engine in DISTS else 0,
            "loadavg_before": os.getloadavg(), **(extra or {})}
    cmd = [sys.executable, __file__, "--worker", "--engine", engine, "--data", data_name,
           "--n", str(n), "--dim", str(dim), "--sample", str(sample)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap)
        if proc.returncode == 0:
            line.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            line["error"] = proc.stderr.strip().splitlines()[-1:] or [f"rc {proc.returncode}"]
    except subprocess.TimeoutExpired:
        line["capped"] = cap
    line["loadavg_after"] = os.getloadavg()
    line.update(machine())
    with open(out, "a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


def tsne_quality_line(n, dim, neighbors, out):
    from sklearn.manifold import trustworthiness

    from coc.kernels.tsne import tsne
    from coc.suite.quality import knn_recall, tsne_quality

    X = make_data("blobs", n, dim)
    info = {"clock": time.perf_counter}
    line = {"study": "tsne", "neighbors": neighbors, "n": n, "dim": dim,
            "loadavg_before": os.getloadavg()}
    t0 = time.perf_counter()
    Y = tsne(X, xp=np, perplexity=30.0, seed=0, neighbors=neighbors, info=info)
    line["tsne_seconds"] = time.perf_counter() - t0
    line.update(engine=info["neighbors"], knn_seconds=info["knn_seconds"],
                knn_recall=knn_recall(X, info["knn_sample_rows"], info["knn_sample"]),
                **tsne_quality(X, Y, perplexity=30.0))
    if n <= 20_000:
        line["trustworthiness"] = float(trustworthiness(X, Y, n_neighbors=10))
    line["loadavg_after"] = os.getloadavg()
    line.update(machine())
    with open(out, "a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


def tune_hnswlib(n, dim, out, graphs=((16, 200), (32, 200)), efs=(180, 300, 500),
                 build_threads=None):
    """hnswlib's recall and times for a few graphs (M, ef_construction; built on
    ``build_threads``, default THREADS) and search breadths ef, on one data set: one build per
    graph, the queries timed per ef (on THREADS)."""
    import hnswlib

    X = make_data("blobs", n, dim)
    queries = np.sort(np.random.default_rng(1).choice(n, size=2000, replace=False))
    truth = exact_of_sample(X, queries, K)
    build_threads = build_threads or THREADS
    for M, efc in graphs:
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=n, M=M, ef_construction=efc, random_seed=0)
        index.add_items(X, num_threads=build_threads)
        build = time.perf_counter() - t0
        for ef in efs:
            index.set_ef(ef)
            t0 = time.perf_counter()
            idx, _ = index.knn_query(X, k=K + 1, num_threads=THREADS)
            query = time.perf_counter() - t0
            found = drop_self(np.asarray(idx, dtype=np.int64)[queries], K)
            rec = float(np.mean([len(np.intersect1d(a, b)) / K for a, b in zip(found, truth)]))
            line = {"study": "hnswlib-tuning", "n": n, "dim": dim, "M": M, "ef_construction": efc,
                    "ef": ef, "build_threads": build_threads, "build_seconds": build,
                    "query_seconds": query, "recall": rec,
                    "loadavg_before": load0, "loadavg_after": os.getloadavg(), **machine()}
            with open(out, "a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps(line), flush=True)


def table(paths):
    """A markdown table of the study's lines (the last line of each engine and data wins)."""
    rows = {}
    for path in paths:
        with open(path) as f:
            for text in f:
                d = json.loads(text)
                if d.get("study") == "tsne":
                    continue
                rows[(d.get("study", ""), d["data"], d["n"], d["dim"], d["engine"])] = d
    print("| data | n | dim | engine | build+query s | recall@90 | peak RSS MiB | of which data MiB "
          "| install MiB | load avg before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (study, name, n, dim, engine), d in sorted(rows.items()):
        if "capped" in d:
            secs, rec = f"> {d['capped']:.0f} (capped)", "-"
        elif "error" in d:
            secs, rec = "error", "-"
        else:
            secs, rec = f"{d['seconds']:.1f}", f"{d['recall']:.4f}"
        mib = (lambda b: f"{b / 2**20:.0f}" if b else "-")
        print(f"| {name}{' (crossover)' if study else ''} | {n} | {dim} | {engine} | {secs} | {rec} "
              f"| {mib(d.get('peak_rss_bytes'))} | {mib(d.get('data_rss_bytes'))} "
              f"| {d['install_bytes'] / 2**20:.1f} | {d['loadavg_before'][0]:.1f} / {d['loadavg_after'][0]:.1f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[100_000])
    p.add_argument("--dim", type=int, nargs="+", default=[32])
    p.add_argument("--engines", nargs="+", default=["hnswlib", "pynndescent", "annoy", "faiss"])
    p.add_argument("--digits", action="store_true", help="scikit-learn's digits (1797 x 64) only")
    p.add_argument("--crossover", type=int, nargs="*", help="time exact against --engines[0] at these n")
    p.add_argument("--tsne", type=int, nargs="*", help="t-SNE quality, exact against hnswlib kNN, at these n")
    p.add_argument("--tune", action="store_true", help="hnswlib's recall for a few M and ef")
    p.add_argument("--graphs", nargs="+", default=["16:200", "32:200"],
                   help="with --tune: the graphs, as M:ef_construction")
    p.add_argument("--efs", type=int, nargs="+", default=[180, 300, 500], help="with --tune: ef")
    p.add_argument("--build-threads", type=int, default=None,
                   help="with --tune: threads of the build (coc's stage builds on 1)")
    p.add_argument("--table", nargs="*", help="print a markdown table of these JSON-lines files")
    p.add_argument("--tsne-neighbors", nargs="+", default=["exact", "hnswlib"],
                   help="the neighbors engines of --tsne (auto, exact, faiss, hnswlib)")
    p.add_argument("--cap", type=float, default=600, help="seconds before a run is killed")
    p.add_argument("--sample", type=int, default=2000, help="query points checked against exact")
    p.add_argument("--out", default="results/knn/study.jsonl")
    # one run, in its own process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--data", default="blobs", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.n, args.dim = args.n[0], args.dim[0]
        return worker(args)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    if args.digits:
        for engine in args.engines:
            measure(engine, "digits", 1797, 64, args.cap, 1797, args.out)
        return
    if args.table:
        return table(args.table)
    if args.tune:
        for dim in args.dim:
            tune_hnswlib(args.n[0], dim, args.out, efs=args.efs, build_threads=args.build_threads,
                         graphs=[tuple(int(v) for v in g.split(":")) for g in args.graphs])
        return
    if args.tsne:
        for n in args.tsne:
            for neighbors in args.tsne_neighbors:
                tsne_quality_line(n, args.dim[0], neighbors, args.out)
        return
    if args.crossover:
        for n in args.crossover:
            for dim in args.dim:
                for engine in ("exact", args.engines[0]):
                    measure(engine, "blobs", n, dim, args.cap, min(args.sample, 500), args.out,
                            {"study": "crossover"})
        return
    for n in args.n:
        for dim in args.dim:
            for engine in args.engines:
                measure(engine, "blobs", n, dim, args.cap, args.sample, args.out)


if __name__ == "__main__":
    main()
