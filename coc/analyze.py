"""``coc analyze``: a calibrated verdict on a user's embeddings, clustered (how many) or continuum.

How ``coc analyze`` decides
---------------------------
A raw silhouette cannot answer the question alone: it is never zero, it moves with dimension
and sample size, and any non-Gaussian shape (a uniform box, a curved manifold) scores higher
than a Gaussian. So every statistic is computed twice, once on the data and once on *null
references*: data drawn to match the input but without clusters,

* ``gaussian``: a Gaussian with the data's mean and covariance;
* ``box``: uniform in the bounding box of the data's principal-component scores, rotated back
  (the reference of the gap statistic).

``--n-null`` draws of each are clustered by exactly the same procedure as the data (KMeans with
the same seeds and restarts, at every candidate k, on the same number of points).

The decision takes two steps, each against the stricter of the two references:

1. **Silhouette against its null.** For each k the data's silhouette is compared with the null
   draws' mean and spread: ``z_k = (s_k - mean_k) / sd_k``, the reference being the one with the
   higher mean at that k. If no k has ``z_k >= Z_SILHOUETTE`` *and* an excess
   ``s_k - mean_k >= MIN_EXCESS``, nothing distinguishes the data from structureless data of
   the same shape: **continuum** (a single Gaussian, a uniform box). Otherwise the number of
   clusters is the k with the highest raw silhouette among the significant ks (the notebook's
   finding: the right k scores highest even when every score is low), re-clustered with more
   restarts. One exception: when the kNN-graph Laplacian has a clear eigengap
   (``>= MIN_EIGENGAP``) after a significant k, that k is taken, since two close clusters
   merged into one can lift the silhouette of the k below the true one.
2. **Density gap, re-run on the nulls.** A curved continuous manifold (a swiss roll, a noisy
   circle) beats both references on silhouette, since it is far from Gaussian and from a box.
   What it lacks is empty space between the pieces KMeans cuts it into. At the chosen k each
   cluster is paired with the cluster it touches most in the data (most kNN-graph edges; a
   cluster touching none is paired with the cluster second-nearest to most of its points).
   The pair's points are projected on a plane: the line through the two centroids (one at
   t = 0, the other at t = 1) and the main direction of the points off that line, which
   follows a curved piece so that a bend is not mistaken for a dip. Each point's density in
   that plane comes from its distance to its 10th neighbor, and the ratio of the mean density
   near the boundary (``|t - 0.5| < 0.1``) to that near the centroids is pooled over pairs:
   about 0 for separated clusters, about 1 for adjacent pieces of a continuum. KMeans itself
   carves a dip into any data it splits (more so in high dimension), so the same ratio is
   measured on every null draw at the same k, and the data count as clustered only when
   their ratio lies below every null ratio and below ``GAP_FRACTION`` times the mean of the
   stricter null (the lower one). Otherwise: **continuum** (a manifold, or a non-Gaussian
   blob without gaps).

The gap statistic (Tibshirani, Walther and Hastie 2001; the 1-SE rule, with the box
reference) is reported as evidence but does not vote; the spectrum of the normalized Laplacian
of the k-nearest-neighbor graph only names k, as above. Alone, each fails on some of the cases coc is checked on: the
gap statistic calls a curved manifold clustered, and the kNN graph of heavily overlapping
blobs is connected, so its spectrum is smooth.

Scale: everything runs on at most ``--max-samples`` points drawn at random (without
replacement, seeded); the report says when it subsampled. KMeans and the silhouette run on the
backend; the small host-side statistics (projections, the kNN graph on at most
``MAX_GRAPH_SAMPLES`` points, eigenvalues) use NumPy/SciPy.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from coc.validation import CocError, check_n_samples

#: Defaults of the command line.
DEFAULT_K_MAX = 20
DEFAULT_N_NULL = 5
DEFAULT_MAX_SAMPLES = 3000
DEFAULT_N_INIT = 3
#: The best few significant ks are re-clustered with more restarts before choosing one.
N_REFINE = 4
REFINE_N_INIT = 10
#: Fewest points accepted (the loader's rule as well).
MIN_SAMPLES = 10
#: The kNN-graph spectrum uses at most this many points (a dense eigen-decomposition).
MAX_GRAPH_SAMPLES = 1500
#: The t-SNE of ``--plot`` uses at most this many points.
MAX_TSNE_SAMPLES = 3000

#: Decision thresholds (see the module docstring).
Z_SILHOUETTE = 4.0
MIN_EXCESS = 0.02
GAP_FRACTION = 0.65
#: An eigengap of the kNN-graph Laplacian this large names the number of clusters.
MIN_EIGENGAP = 0.15
#: The spread of a null's silhouette is estimated from few draws; never trust it below this.
MIN_NULL_SD = 0.004
NULL_KINDS = ("gaussian", "box")


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KRow:
    """The silhouette at one k, on the data and on each null reference."""

    k: int
    silhouette: float
    null_mean: dict
    null_sd: dict
    z: float
    excess: float
    significant: bool


@dataclass
class Analysis:
    """The verdict and the evidence behind it; ``labels`` and ``sample_index`` are NumPy."""

    verdict: str
    n_clusters: int | None
    reason: str
    config: dict
    rows: list[KRow]
    density_gap: dict | None
    gap_statistic: dict
    laplacian: dict
    null_silhouettes: dict = field(repr=False, default_factory=dict)
    labels: np.ndarray | None = field(repr=False, default=None)
    sample_index: np.ndarray | None = field(repr=False, default=None)
    weak: bool = False
    elapsed_s: float = 0.0

    def to_json(self) -> dict:
        """A JSON-ready dict: ``verdict``, ``n_clusters``, ``reason`` and the evidence."""
        return {
            "verdict": self.verdict,
            "n_clusters": self.n_clusters,
            "weak_evidence": self.weak,
            "reason": self.reason,
            "config": self.config,
            "silhouette": [dataclasses.asdict(r) for r in self.rows],
            "density_gap": self.density_gap,
            "gap_statistic": self.gap_statistic,
            "laplacian": self.laplacian,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def report(self) -> str:
        """A readable text report."""
        c = self.config
        head = f"verdict: {self.verdict}"
        if self.n_clusters is not None:
            head += f", {self.n_clusters} clusters"
        if self.weak:
            head += " (weak evidence)"
        lines = [head, f"why: {self.reason}", ""]
        sub = (
            f"{c['n_used']} of {c['n_samples']} points, subsampled at random (seed {c['seed']})"
            if c["n_used"] < c["n_samples"] else f"all {c['n_samples']} points"
        )
        lines.append(
            f"data: {c['n_samples']} x {c['dim']}; statistics on {sub}; backend {c['backend']}; "
            f"{c['n_null']} null draws of each reference ({', '.join(NULL_KINDS)})"
        )
        lines += ["", "silhouette by k (KMeans), against null references (mean +- sd):",
                  f"{'k':>4} {'data':>8} {'gaussian':>17} {'box':>17} {'z':>7}  "]
        for r in self.rows:
            nulls = "  ".join(f"{r.null_mean[kind]:8.4f}+-{r.null_sd[kind]:.4f}" for kind in NULL_KINDS)
            mark = " *" if r.significant else ""
            if self.n_clusters == r.k:
                mark += "  <- chosen"
            lines.append(f"{r.k:>4} {r.silhouette:8.4f}  {nulls} {r.z:7.1f}{mark}")
        lines.append(f"  * z >= {Z_SILHOUETTE:g} and excess >= {MIN_EXCESS:g} over the stricter reference")
        g = self.density_gap
        lines.append("")
        if g is None:
            lines.append("density gap: not needed (no k beats the null references)")
        else:
            nulls = ", ".join(f"{kind} {np.mean(v):.3f} (min {np.min(v):.3f})" for kind, v in g["null"].items())
            lines.append(
                f"density gap at k={g['k']}: boundary/centroid density ratio {g['ratio']:.3f} "
                f"over {g['n_pairs']} neighboring pairs; nulls: {nulls}; "
                f"{'a gap (clusters)' if g['separated'] else 'no gap beyond what splitting gives (continuum)'}"
            )
        gs = self.gap_statistic
        lines.append(
            f"gap statistic (1-SE rule, box reference): k = {gs['k']}"
            + (" (no structure)" if gs["k"] == 1 else "")
        )
        lap = self.laplacian
        lines.append(
            f"kNN-graph Laplacian ({lap['n_points']} points, {lap['n_neighbors']} neighbors): "
            f"largest eigengap after {lap['k']} eigenvalues (gap {lap['eigengap']:.3f}); "
            f"{lap['n_components']} connected component(s)"
        )
        lines.append(f"time: {self.elapsed_s:.1f} s")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------
def subsample(n_samples: int, max_samples: int, seed) -> np.ndarray | None:
    """Seeded random indices of at most ``max_samples`` rows, sorted; None when all fit."""
    if n_samples <= max_samples:
        return None
    rng = np.random.default_rng([seed, 1])
    return np.sort(rng.choice(n_samples, size=max_samples, replace=False))


def null_references(X: np.ndarray, n_null: int, seed) -> dict:
    """Draw reference data without clusters, matched to ``X``.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    n_null : int
        Draws of each reference.
    seed : int

    Returns
    -------
    dict
        ``{"gaussian": [...], "box": [...]}``, each a list of ``n_null`` float64 arrays shaped
        like ``X``: a Gaussian with the data's mean and covariance, and points uniform in the
        bounding box of the data's principal-component scores, rotated back.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    mean = X.mean(axis=0)
    Xc = X - mean
    # The SVD gives the principal axes and the scale of each at once (n >= d or not).
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    scale = s / np.sqrt(max(n - 1, 1))
    scores = Xc @ Vt.T
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    out = {kind: [] for kind in NULL_KINDS}
    for i in range(n_null):
        rng = np.random.default_rng([seed, 2, i])
        out["gaussian"].append(mean + (rng.standard_normal((n, len(s))) * scale) @ Vt)
        out["box"].append(mean + rng.uniform(lo, hi, size=(n, len(s))) @ Vt)
    return out


def cluster_scan(backend, X, ks, *, seed=0, n_init=DEFAULT_N_INIT) -> dict:
    """KMeans at each k, its silhouette and log inertia.

    Parameters
    ----------
    backend : coc.Backend
    X : backend array of shape (n_samples, dim)
    ks : sequence of int
    seed, n_init : int
        The KMeans seed and restarts; the same for the data and every null draw.

    Returns
    -------
    dict
        ``silhouette`` and ``log_inertia`` (lists aligned with ``ks``), ``log_inertia_1`` (the
        total sum of squares, k = 1), ``labels`` (host int arrays, one per k).
    """
    xp = backend.xp
    centered = X - xp.mean(X, axis=0)
    total = float(backend.to_numpy(xp.sum(centered * centered)))
    sil, logw, labels = [], [], []
    for k in ks:
        km = backend.kmeans_result(X, k, seed=seed, n_init=n_init)
        lab = km.labels
        sil.append(backend.silhouette(X, lab) if _n_distinct(backend, lab) >= 2 else 0.0)
        logw.append(float(np.log(max(km.inertia, 1e-300))))
        labels.append(backend.to_numpy(lab).astype(np.int64))
    return {"silhouette": sil, "log_inertia": logw, "log_inertia_1": float(np.log(max(total, 1e-300))),
            "labels": labels}


def gap_statistic(log_w_data, log_w_null) -> dict:
    """Tibshirani, Walther and Hastie's gap statistic with the 1-SE rule.

    Parameters
    ----------
    log_w_data : sequence of float, length m
        log within-cluster sum of squares of the data at k = ks[0] .. ks[m-1], ks[0] == 1.
    log_w_null : array of shape (n_null, m)
        The same for each reference draw.

    Returns
    -------
    dict
        ``gap``, ``s`` (the standard error with the simulation term, s_k), and ``index``: the
        smallest index i with gap[i] >= gap[i+1] - s[i+1] (the last index if none).
    """
    log_w_null = np.asarray(log_w_null, dtype=float)
    B = log_w_null.shape[0]
    gap = log_w_null.mean(axis=0) - np.asarray(log_w_data, dtype=float)
    s = log_w_null.std(axis=0) * np.sqrt(1 + 1 / B)
    index = len(gap) - 1
    for i in range(len(gap) - 1):
        if gap[i] >= gap[i + 1] - s[i + 1]:
            index = i
            break
    return {"gap": gap.tolist(), "s": s.tolist(), "index": int(index)}


def density_gap_ratio(X: np.ndarray, labels: np.ndarray, *, n_neighbors: int = 10) -> tuple[float, int]:
    """How empty the space between neighboring clusters is.

    Each cluster's neighbor is the cluster second-nearest (by centroid) to most of its points.
    The points of each neighboring pair are projected on a plane: the line through the two
    centroids (scaled so that one is at t = 0 and the other at t = 1) and the main direction
    of the points off that line. Each point's density in that plane is estimated from the
    distance to its ``n_neighbors``-th neighbor; the ratio compares the mean density of the
    points near the boundary (``|t - 0.5| < 0.1``) with that of the points near the centroids
    (``|t| < 0.1`` or ``|t - 1| < 0.1``). The second axis is there for curved shapes: a curve
    crosses the boundary slab obliquely, so counting points along the line alone would show
    a dip that is not there, while its density along the curve is unchanged.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
    labels : np.ndarray of shape (n_samples,)
    n_neighbors : int

    Returns
    -------
    ratio : float
        Near 1 (or more) for adjacent pieces of a continuum, near 0 for separated clusters;
        pairs are pooled by their number of points.
    n_pairs : int
    """
    from scipy.spatial import cKDTree

    ids, labels = np.unique(labels, return_inverse=True)
    k = len(ids)
    if k < 2:
        return float("nan"), 0
    counts = np.bincount(labels, minlength=k)
    centers = np.zeros((k, X.shape[1]))
    np.add.at(centers, labels, X)
    centers /= counts[:, None]
    pairs = _neighbor_pairs(X, labels, centers, n_neighbors=n_neighbors)
    total = weight = 0.0
    for i, j in sorted(pairs):
        v = centers[j] - centers[i]
        length = float(np.sqrt(v @ v))
        P = X[(labels == i) | (labels == j)] - centers[i]
        if length <= 0 or len(P) <= n_neighbors + 1:
            continue
        u = v / length
        t = P @ u / length
        R = P - np.outer(P @ u, u)
        R -= R.mean(axis=0)
        w = _top_direction(R)
        Y = np.column_stack([t, R @ w / length])
        r = cKDTree(Y).query(Y, k=n_neighbors + 1)[0][:, -1]
        density = 1.0 / np.maximum(r, 1e-12) ** 2
        core = (np.abs(t) < 0.1) | (np.abs(t - 1) < 0.1)
        boundary = np.abs(t - 0.5) < 0.1
        if not core.any():
            continue
        ratio = density[boundary].sum() / max(boundary.sum(), 1) / density[core].mean()
        total += ratio * len(P)
        weight += len(P)
    return (float(total / weight) if weight else float("nan")), len(pairs)


def _neighbor_pairs(X, labels, centers, *, n_neighbors):
    """Each cluster paired with the cluster it touches most in the data.

    Touching is counted by the edges of the kNN graph between the two clusters, so that on a
    folded manifold (a swiss roll) a piece is paired with the next piece along the sheet, not
    with the piece across the fold that happens to have a nearer centroid. A cluster with no
    edge to any other (well separated) is paired with the cluster second-nearest to most of
    its points.
    """
    from sklearn.neighbors import NearestNeighbors

    k = len(centers)
    nn = NearestNeighbors(n_neighbors=min(n_neighbors, len(X) - 1)).fit(X)
    neighbors = nn.kneighbors(return_distance=False)
    edges = np.zeros((k, k), dtype=np.int64)
    np.add.at(edges, (np.repeat(labels, neighbors.shape[1]), labels[neighbors].ravel()), 1)
    edges = edges + edges.T
    np.fill_diagonal(edges, 0)
    D = _sq_dist(X, centers)
    D[np.arange(len(X)), labels] = np.inf
    second = np.zeros((k, k), dtype=np.int64)
    np.add.at(second, (labels, D.argmin(axis=1)), 1)
    second = second + second.T
    np.fill_diagonal(second, -1)
    pairs = set()
    for i in range(k):
        j = int(edges[i].argmax()) if edges[i].max() > 0 else int(second[i].argmax())
        pairs.add((min(i, j), max(i, j)))
    return pairs


def _top_direction(R: np.ndarray) -> np.ndarray:
    """The unit direction of largest variance of the rows of ``R`` (a few power iterations)."""
    C = R.T @ R
    w = np.linalg.eigh(C)[1][:, -1] if C.shape[0] <= 256 else _power(C)
    return w


def _power(C, n_iter=50):
    w = np.random.default_rng(0).standard_normal(C.shape[0])
    for _ in range(n_iter):
        w = C @ w
        w /= np.linalg.norm(w) or 1.0
    return w


def laplacian_spectrum(X: np.ndarray, *, n_neighbors: int = 10, n_eigs: int = 21) -> dict:
    """Smallest eigenvalues of the symmetric normalized Laplacian of the kNN graph.

    Parameters
    ----------
    X : np.ndarray of shape (n_samples, dim)
        Already subsampled: the decomposition is dense.
    n_neighbors : int
    n_eigs : int

    Returns
    -------
    dict
        ``eigenvalues`` (ascending), ``k`` (the count before the largest eigengap among the
        first ``n_eigs``), ``eigengap`` and ``n_components`` of the graph.
    """
    from scipy.sparse.csgraph import connected_components, laplacian
    from sklearn.neighbors import kneighbors_graph

    n = X.shape[0]
    n_neighbors = min(n_neighbors, n - 1)
    A = kneighbors_graph(X, n_neighbors, mode="connectivity", include_self=False)
    A = A.maximum(A.T)
    n_components = int(connected_components(A, directed=False)[0])
    L = laplacian(A.astype(float), normed=True).toarray()
    eigs = np.linalg.eigvalsh(L)[: min(n_eigs, n)]
    gaps = np.diff(eigs)
    k = int(gaps.argmax()) + 1
    return {"eigenvalues": [round(float(e), 6) for e in eigs], "k": k, "eigengap": float(gaps.max()),
            "n_components": n_components, "n_points": n, "n_neighbors": n_neighbors}


# ---------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------
def analyze(
    X,
    *,
    backend,
    k_max: int | None = None,
    n_null: int = DEFAULT_N_NULL,
    seed: int = 0,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    n_init: int = DEFAULT_N_INIT,
    progress: bool = False,
) -> Analysis:
    """Decide whether ``X`` forms clusters (and how many) or a continuum.

    Parameters
    ----------
    X : array of shape (n_samples, dim)
        The embeddings, on the host or on the backend's device.
    backend : coc.Backend
        Runs KMeans and the silhouette.
    k_max : int or None
        Largest candidate k (default ``min(20, n_used // 10)``); candidates are 2..k_max.
    n_null : int
        Draws of each null reference.
    seed : int
        Seeds the subsample, the null draws and KMeans: same input and seed, same result.
    max_samples : int
        Statistics run on a random subsample of at most this many points.
    n_init : int
        KMeans restarts, the same on the data and the nulls.
    progress : bool
        A progress bar on stderr.

    Returns
    -------
    Analysis
    """
    t0 = time.perf_counter()
    Xh = np.asarray(backend.to_numpy(X))
    if Xh.ndim != 2:
        raise CocError(f"embeddings must be 2-D (n_samples, dim), got shape {Xh.shape}")
    n, d = Xh.shape
    if n < MIN_SAMPLES:
        raise CocError(f"{n} points; coc analyze needs at least {MIN_SAMPLES}")
    n_null = check_n_samples(n_null, minimum=2, name="--n-null")
    max_samples = check_n_samples(max_samples, minimum=MIN_SAMPLES, name="--max-samples")
    idx = subsample(n, max_samples, seed)
    Xs = Xh if idx is None else Xh[idx]
    Xs = np.asarray(Xs, dtype=np.float64)
    m = Xs.shape[0]
    k_cap = m - 1
    if k_max is None:
        k_max = max(2, min(DEFAULT_K_MAX, m // 10))
    elif not isinstance(k_max, int) or k_max < 2:
        raise CocError(f"--k-max must be an integer >= 2, got {k_max!r}")
    k_max = min(k_max, k_cap)
    ks = list(range(2, k_max + 1))

    if backend.is_gpu:
        return _analyze(Xs, backend, n, d, idx, ks, k_max, n_null, seed, max_samples, n_init, progress, t0)
    # Each KMeans and silhouette call here is small; on a busy CPU the native thread pools
    # (OpenMP, BLAS) then spin against each other and run many times slower than one thread.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _analyze(Xs, backend, n, d, idx, ks, k_max, n_null, seed, max_samples, n_init, progress, t0)


def _analyze(Xs, backend, n, d, idx, ks, k_max, n_null, seed, max_samples, n_init, progress, t0):
    m = Xs.shape[0]
    nulls = null_references(Xs, n_null, seed)
    datasets = [("data", 0, Xs)] + [(kind, i, Y) for kind in NULL_KINDS for i, Y in enumerate(nulls[kind])]
    bar = _progress(len(datasets), enabled=progress)
    scans = {}
    for name, i, Y in datasets:
        bar.set_description(f"{name} {i}" if name != "data" else "data")
        scans[name, i] = cluster_scan(backend, backend.asarray(Y, dtype=backend.default_dtype), ks,
                                      seed=seed, n_init=n_init)
        bar.update()
    bar.close()

    data = scans["data", 0]
    null_sil = {kind: np.array([scans[kind, i]["silhouette"] for i in range(n_null)]) for kind in NULL_KINDS}
    rows = []
    for j, k in enumerate(ks):
        mean = {kind: float(null_sil[kind][:, j].mean()) for kind in NULL_KINDS}
        sd = {kind: float(null_sil[kind][:, j].std(ddof=1)) for kind in NULL_KINDS}
        strict = max(NULL_KINDS, key=lambda kind: mean[kind])
        excess = data["silhouette"][j] - mean[strict]
        z = excess / max(sd[strict], MIN_NULL_SD)
        rows.append(KRow(k, float(data["silhouette"][j]), mean, sd, float(z), float(excess),
                         bool(z >= Z_SILHOUETTE and excess >= MIN_EXCESS)))

    # Gap statistic over k = 1..k_max, the box being Tibshirani's reference.
    gs = gap_statistic(
        [data["log_inertia_1"]] + data["log_inertia"],
        [[scans["box", i]["log_inertia_1"]] + scans["box", i]["log_inertia"] for i in range(n_null)],
    )
    gs["k"] = ([1] + ks)[gs.pop("index")]
    gs["ks"] = [1] + ks

    graph_idx = subsample(m, MAX_GRAPH_SAMPLES, seed)
    lap = laplacian_spectrum(Xs if graph_idx is None else Xs[graph_idx], n_eigs=k_max + 1)

    significant = [r for r in rows if r.significant]
    gap_info = None
    labels = None
    weak = False
    if not significant:
        best = max(rows, key=lambda r: r.z)
        verdict, n_clusters = "continuum", None
        reason = (
            f"no k's silhouette stands out from data without clusters (best: k={best.k}, "
            f"{best.silhouette:.4f} against a null mean of {best.silhouette - best.excess:.4f}, "
            f"z = {best.z:.1f} < {Z_SILHOUETTE:g} or excess < {MIN_EXCESS:g})"
        )
    else:
        # A KMeans run with few restarts may merge two true clusters at the right k and so
        # score below a wrong k: the best candidates are re-clustered with more restarts.
        top = sorted(significant, key=lambda r: -r.silhouette)[:N_REFINE]
        Xb = backend.asarray(Xs, dtype=backend.default_dtype)
        refined = {}
        for r in top:
            km = backend.kmeans_result(Xb, r.k, seed=seed, n_init=REFINE_N_INIT)
            s = backend.silhouette(Xb, km.labels) if _n_distinct(backend, km.labels) >= 2 else 0.0
            refined[r.k] = (max(s, r.silhouette), backend.to_numpy(km.labels).astype(np.int64)
                            if s >= r.silhouette else data["labels"][ks.index(r.k)])
        chosen = max(top, key=lambda r: refined[r.k][0])
        # Clusters separated by empty space leave exactly that many near-zero eigenvalues in
        # the kNN-graph Laplacian; when that eigengap is clear and its k is significant, it
        # outranks a silhouette that two close clusters merged into one can inflate.
        by_k = {r.k: r for r in significant}
        if lap["eigengap"] >= MIN_EIGENGAP and lap["k"] in by_k and lap["k"] != chosen.k:
            r = by_k[lap["k"]]
            if r.k not in refined:
                km = backend.kmeans_result(Xb, r.k, seed=seed, n_init=REFINE_N_INIT)
                refined[r.k] = (r.silhouette, backend.to_numpy(km.labels).astype(np.int64))
            chosen = r
        j = ks.index(chosen.k)
        ratio, n_pairs = density_gap_ratio(Xs, refined[chosen.k][1])
        null_ratio = {kind: [density_gap_ratio(Y, scans[kind, i]["labels"][j])[0]
                             for i, Y in enumerate(nulls[kind])] for kind in NULL_KINDS}
        all_null = np.concatenate([null_ratio[kind] for kind in NULL_KINDS])
        # The stricter reference is the one whose splits look most like a gap (lower mean).
        null_mean = min(float(np.nanmean(null_ratio[kind])) for kind in NULL_KINDS)
        separated = bool(ratio < np.nanmin(all_null) and ratio < GAP_FRACTION * null_mean)
        gap_info = {"k": chosen.k, "ratio": ratio, "n_pairs": n_pairs, "null": null_ratio,
                    "separated": separated}
        if separated:
            verdict, n_clusters = "clustered", chosen.k
            labels = refined[chosen.k][1]
            weak = chosen.z < 2 * Z_SILHOUETTE or ratio > 0.5 * null_mean
            reason = (
                f"the silhouette at k={chosen.k} ({chosen.silhouette:.4f}) is the highest of the ks "
                f"that beat data without clusters (z = {chosen.z:.1f}), and neighboring clusters are "
                f"separated by low density (ratio {ratio:.3f}, nulls >= {np.nanmin(all_null):.3f})"
            )
            if weak:
                reason += "; the evidence is weaker than for well-separated clusters"
        else:
            verdict, n_clusters = "continuum", None
            reason = (
                f"the silhouette beats data without clusters (k={chosen.k}, z = {chosen.z:.1f}), but "
                f"there is no empty space between neighboring clusters beyond what splitting "
                f"structureless data gives (ratio {ratio:.3f}, stricter null mean {null_mean:.3f}, "
                f"min {np.nanmin(all_null):.3f}): a continuous, non-Gaussian shape such as a curved manifold"
            )

    config = dict(backend=backend.name, n_samples=n, dim=d, n_used=m, subsampled=idx is not None,
                  ks=ks, n_null=n_null, null_kinds=list(NULL_KINDS), seed=seed, n_init=n_init,
                  max_samples=max_samples, z_silhouette=Z_SILHOUETTE, min_excess=MIN_EXCESS,
                  gap_fraction=GAP_FRACTION)
    return Analysis(
        verdict=verdict, n_clusters=n_clusters, reason=reason, config=config, rows=rows,
        density_gap=gap_info, gap_statistic=gs, laplacian=lap,
        null_silhouettes={kind: v.tolist() for kind, v in null_sil.items()},
        labels=labels, sample_index=idx, weak=weak, elapsed_s=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _n_distinct(backend, labels) -> int:
    return int(backend.xp.unique(labels).shape[0])


def _sq_dist(A, B):
    D = (A * A).sum(1)[:, None] - 2 * A @ B.T + (B * B).sum(1)[None, :]
    return np.maximum(D, 0)


def _progress(total, *, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="dataset", leave=False)


# ---------------------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------------------
def plot_analysis(result: Analysis, X, *, backend, seed: int = 0):
    """Silhouette against k with each null's band, and a t-SNE of the data colored by cluster.

    Parameters
    ----------
    result : Analysis
    X : np.ndarray
        The analyzed points (the subsample the statistics ran on).
    backend : coc.Backend
        Runs the t-SNE (on at most :data:`MAX_TSNE_SAMPLES` points).
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    ks = [r.k for r in result.rows]
    ax.plot(ks, [r.silhouette for r in result.rows], "o-", color="k", label="data", zorder=3)
    for kind, color in zip(NULL_KINDS, ("tab:blue", "tab:orange")):
        mean = np.array([r.null_mean[kind] for r in result.rows])
        sd = np.array([r.null_sd[kind] for r in result.rows])
        ax.plot(ks, mean, "--", color=color, label=f"null: {kind} (mean, ±2 sd)")
        ax.fill_between(ks, mean - 2 * sd, mean + 2 * sd, color=color, alpha=0.25, linewidth=0)
    if result.n_clusters is not None:
        ax.axvline(result.n_clusters, color="tab:green", linestyle=":", label=f"chosen k = {result.n_clusters}")
    ax.set_xlabel("k (KMeans clusters)")
    ax.set_ylabel("silhouette")
    ax.set_xticks(ks if len(ks) <= 20 else ks[::2])
    ax.legend(fontsize=8)
    ax.set_title("silhouette against data without clusters", fontsize=10)

    idx = subsample(len(X), MAX_TSNE_SAMPLES, seed)
    Xt = X if idx is None else X[idx]
    perplexity = float(min(30.0, (len(Xt) - 1) / 3))
    Y = backend.to_numpy(backend.tsne(backend.asarray(Xt, dtype=backend.default_dtype),
                                      perplexity=perplexity, seed=seed))
    if result.labels is None:
        ax2.scatter(Y[:, 0], Y[:, 1], s=3, c="0.4", linewidths=0)
    else:
        lab = result.labels if idx is None else result.labels[idx]
        ax2.scatter(Y[:, 0], Y[:, 1], s=3, c=lab, cmap="tab20", linewidths=0)
    ax2.set_xticks([])
    ax2.set_yticks([])
    shown = f"{len(Xt)} of {result.config['n_samples']} points" if len(Xt) < result.config["n_samples"] else \
        f"{len(Xt)} points"
    ax2.set_title(f"t-SNE ({shown}), colored by chosen cluster" if result.labels is not None
                  else f"t-SNE ({shown})", fontsize=10)
    verdict = result.verdict + (f", {result.n_clusters} clusters" if result.n_clusters else "")
    fig.suptitle(f"coc analyze: {verdict}" + (" (weak evidence)" if result.weak else ""), fontsize=11)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
def add_arguments(p):
    p.add_argument("file", metavar="FILE", help="embeddings: .npy, .npz, .csv, .tsv or .parquet (one row per point)")
    p.add_argument("--backend", default="cpu", help="backend name or alias (default: cpu)")
    p.add_argument("--key", default=None, help="the array of an .npz, or the column of a .parquet")
    p.add_argument("--k-max", type=int, default=None,
                   help=f"largest k tried (default: min({DEFAULT_K_MAX}, points // 10))")
    p.add_argument("--seed", type=int, default=0, help="seed of subsample, nulls and KMeans (default: 0)")
    p.add_argument("--n-null", type=int, default=DEFAULT_N_NULL,
                   help=f"null draws of each reference (default: {DEFAULT_N_NULL})")
    p.add_argument("--max-samples", type=int, default=DEFAULT_MAX_SAMPLES,
                   help=f"statistics run on a random subsample of at most this many points "
                        f"(default: {DEFAULT_MAX_SAMPLES})")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of the report")
    p.add_argument("--plot", metavar="FILE", default=None, help="write a figure (.png, .pdf, .svg)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    from pathlib import Path

    from coc._io import atomic_save_figure, check_writable_dir
    from coc.backends import get_backend
    from coc.loaders import load_embeddings

    if args.plot is not None:
        plot = Path(args.plot)
        if plot.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise CocError(f"--plot {plot}: use a .png, .pdf or .svg file name")
        check_writable_dir(plot.parent)
    if args.k_max is not None and args.k_max < 2:
        raise CocError(f"--k-max must be >= 2, got {args.k_max}")
    backend = get_backend(args.backend)
    X = load_embeddings(args.file, key=args.key, min_points=MIN_SAMPLES)
    result = analyze(
        X, backend=backend, k_max=args.k_max, n_null=args.n_null, seed=args.seed,
        max_samples=args.max_samples, progress=not args.no_progress and not args.json and sys.stderr.isatty(),
    )
    if args.plot is not None:
        used = X if result.sample_index is None else X[result.sample_index]
        fig = plot_analysis(result, np.asarray(used, dtype=np.float64), backend=backend, seed=args.seed)
        atomic_save_figure(fig, plot, dpi=110)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.report())
    if args.plot is not None:
        print(f"wrote {plot}", file=sys.stderr)
    return 0
