"""The decision of ``coc analyze``: its constants, its rule, and :func:`analyze`.

How ``coc analyze`` decides (the derivation, and why each piece is there: docs/verdict.md)
----------------------------------------------------------------------------------------
Every statistic is computed on the data and on ``--n-null`` draws of two *null references*,
data matched to the input without clusters (``gaussian``: the data's mean and covariance;
``box``: uniform in the box of the principal-component scores), clustered by the same KMeans
at every candidate k; each test is against the stricter reference.

1. **Detection.** Some k's silhouette must stand ``Z_SILHOUETTE`` null sds and ``MIN_EXCESS``
   above the null mean, with no KMeans cluster under :func:`min_cluster_size` (a few far
   outliers). Otherwise: **continuum**.
2. **Candidate count** (:func:`coc.verdict.count.choose_k`) among the ks ``Z_COUNT`` sds out:
   the gap statistic's maximum unless its silhouette excess is under ``GAP_AGREEMENT`` of the
   best excess, then the best excess's k.
3. **Separation** (:func:`coc.verdict.count.density_gap_test`): between neighboring clusters
   the boundary/centroid density ratio must lie below every null draw's (split at that k) and
   ``GAP_FRACTION`` of the stricter null's mean (or below all but one and
   ``GAP_FRACTION_WITH_GAP`` of it where the gap's 1-SE rule names that k). When it does
   not, the clusters are pieces: every two that touch are merged unless the density between
   them is lower than the weakest link that holds any null draw together
   (:func:`coc.verdict.count.merge_pieces`, no constant), and the merged groups take the same
   test at their number. Neither passes: **continuum** (a curved manifold).
4. **Thin manifolds** (:func:`coc.verdict.count.thin_manifold_test`): data that fill locally
   at most ``THIN_DIMENSION`` of their signal dimensions (a curve, a sheet) must show the gap
   along the manifold as well, or they are a **continuum**.

Otherwise **clustered**, with that many groups; a count at the top of the scan is flagged
``n_clusters_is_lower_bound``. The Laplacian spectrum is evidence only. Scale: a seeded
subsample of ``--max-samples`` points, at most ``MAX_COMPONENTS`` principal components;
``cosine`` analyzes the unit rows (:mod:`coc.verdict.space`); points that are all one are a
continuum with that reason.
"""
from __future__ import annotations

import contextlib
import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from coc.backends import Backend, get_backend
from coc.backends.base import METRICS
from coc.utils.timing import Stopwatch
from coc.utils.validation import CocError, check_n_samples, check_seed, check_X
from coc.verdict.count import COUNT_REASONS, choose_k, separation, thin_manifold_test
from coc.verdict.result import Analysis, KRow
from coc.verdict.space import assign_all, check_metric_input, metric_space, n_distinct_rows, project
from coc.verdict.stats import (NULL_KINDS, cluster_scan, gap_statistic, laplacian_spectrum,
                               null_references, subsample)

#: Defaults of the command line.
DEFAULT_BACKEND = "sklearn"
#: The backend ops an analysis runs (the --plot picture adds ``tsne``).
ANALYSIS_OPS = ("kmeans", "silhouette")
DEFAULT_K_MAX = 20
DEFAULT_N_NULL = 5
DEFAULT_MAX_SAMPLES = 3000
DEFAULT_N_INIT = 3
#: The chosen k is re-clustered with more restarts for the labels.
REFINE_N_INIT = 10
#: Fewest points accepted (the loader's rule as well).
MIN_SAMPLES = 10
#: The kNN-graph spectrum uses at most this many points (a dense eigen-decomposition).
MAX_GRAPH_SAMPLES = 1500
#: Wider data are analyzed on this many principal components of the subsample (see
#: :func:`coc.verdict.space.project`): KMeans and the silhouette cost grows with the width,
#: and k <= 20 clusters differ in at most 19 directions.
MAX_COMPONENTS = 128

#: The decision's constants (the module docstring says the rule; docs/verdict.md where each
#: value comes from; results/count/sensitivity.md the battery's score with each 25% off).
#: Detection: 4 null sds. Over 19 candidate ks, a one-sided normal tail of 3e-5 per k keeps the
#: chance that some k of structureless data passes under 0.1%.
Z_SILHOUETTE = 4.0
#: ... and 0.02 in silhouette units: the run-to-run spread of a silhouette on fixed data
#: (KMeans restarts), below which a z from 3-5 null draws is noise over a tiny sd.
MIN_EXCESS = 0.02
# (A null's silhouette sd from 3-5 draws can come out near 0, so z is read against at least
# MIN_EXCESS / Z_SILHOUETTE: not a constant of its own, since below it MIN_EXCESS alone decides.)
#: The count's candidates: 3 sds, the detection's threshold without its correction for 19
#: ks (once the data are shown clustered, estimation needs no multiple-test margin).
Z_COUNT = 3.0
#: A cluster under 0.5% of the points (1 in 200) and under 5 points (the least a density from
#: a 10th neighbor can be read for) is outliers split off, not a cluster.
MIN_CLUSTER_FRACTION = 0.005
MIN_CLUSTER_POINTS = 5
#: Separation: a pooled ratio under 0.65 of the stricter null's mean. The nulls' pooled ratios
#: spread about 0.15 around means of 0.6-0.8 (results/count/ battery runs): 0.65 x mean is
#: about two of those spreads below it.
GAP_FRACTION = 0.65
#: ... or under 0.85 of it and all nulls but one where the gap statistic's 1-SE rule names the
#: same k: one spread below the mean, admitted because two estimators agree (tuned on the
#: overlapping clusters of Tibshirani et al.'s scenario (d), draws 42, 47 and 48).
GAP_FRACTION_WITH_GAP = 0.85
#: The count takes the gap's k when its silhouette excess is at least 0.7 of the best excess
#: (tuned on the 50 draws of results/count/: the gap over-counts anisotropic clusters, where its
#: excess falls well below the best, and the excess merges close clusters in 10-d).
GAP_AGREEMENT = 0.7
#: Thin manifolds: a manifold needs 2 signal components to bend in; a noisy sheet fills about
#: 2-3 dimensions locally, Gaussian clusters all of theirs (3.5: halfway between a sheet with
#: noise and the 4-d of scenario (d)'s clusters; see coc.verdict.manifold).
MIN_SIGNAL_DIMENSION = 2
THIN_DIMENSION = 3.5
#: The constants above, by name, for bench/verdict_battery.py --sensitivity.
TUNED = ("Z_SILHOUETTE", "MIN_EXCESS", "Z_COUNT", "MIN_CLUSTER_FRACTION",
         "MIN_CLUSTER_POINTS", "GAP_FRACTION", "GAP_FRACTION_WITH_GAP", "GAP_AGREEMENT",
         "MIN_SIGNAL_DIMENSION", "THIN_DIMENSION")


@dataclass(frozen=True)
class Settings:
    """The checked options of one analysis."""

    ks: tuple
    n_null: int
    seed: int
    n_init: int
    metric: str
    max_samples: int
    progress: bool
    #: The precision KMeans and the silhouette run in: float32 input stays float32.
    dtype: str


def analyze(
    X,
    *,
    backend: str | Backend = DEFAULT_BACKEND,
    metric: str = "euclidean",
    k_max: int | None = None,
    n_null: int = DEFAULT_N_NULL,
    seed: int = 0,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    n_init: int = DEFAULT_N_INIT,
    progress: bool = False,
) -> Analysis:
    """Decide whether ``X`` forms clusters (and how many) or a continuum.

    The options are those of ``coc analyze``. ``X`` is checked once, here (a finite 2-D
    numeric array whose squared distances do not overflow); every backend call inside runs
    with ``check_input=False``.

    Parameters
    ----------
    X : array of shape (n_samples, dim)
        The embeddings, on the host or on the backend's device.
    backend : str or coc.Backend
        Runs KMeans and the silhouette (default ``sklearn``; ``cpu`` is its alias).
    metric : {"euclidean", "cosine"}
        The distance between points. For ``cosine`` every statistic runs on the rows scaled
        to unit length, and the null references are drawn to match those unit rows and
        projected back onto the sphere (see the module docstring); an all-zero row is an error.
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
        With ``labels_``, one label per row of ``X`` (the chosen clustering of the subsample,
        extended by the nearest centre in the metric; -1 for a continuum), and ``notes``
        saying where the data allowed less than asked (fewer ks).

    Raises
    ------
    CocError
        Input that is not a finite 2-D numeric array of at least ``MIN_SAMPLES`` rows, values
        whose squared distances overflow, a bad option, or a zero row with ``cosine``.
    """
    watch = Stopwatch()
    if not isinstance(backend, Backend):
        backend = get_backend(backend, ops=ANALYSIS_OPS)
    if metric not in METRICS:
        raise CocError(f"--metric must be one of {', '.join(METRICS)}, got {metric!r}")
    Xh = np.asarray(backend.to_numpy(X))
    if Xh.ndim != 2:
        raise CocError(f"embeddings must be 2-D (n_samples, dim), got shape {Xh.shape}")
    n, d = Xh.shape
    if n < MIN_SAMPLES:
        raise CocError(f"{n} points; coc analyze needs at least {MIN_SAMPLES}")
    # The one check of the input: every backend call below skips its own.
    Xh = check_X(Xh, xp=np, min_samples=MIN_SAMPLES)
    check_metric_input(Xh, metric)
    n_null = check_n_samples(n_null, minimum=2, name="--n-null")
    max_samples = check_n_samples(max_samples, minimum=MIN_SAMPLES, name="--max-samples")
    n_init = check_n_samples(n_init, minimum=1, name="n_init")
    seed = check_seed(seed, name="--seed")
    if seed is None:
        raise CocError("--seed must be an integer (the verdict is reproducible)")
    if k_max is not None and (isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or k_max < 2):
        raise CocError(f"--k-max must be an integer >= 2, got {k_max!r}")

    idx = subsample(n, max_samples, seed)
    Xs = metric_space(Xh if idx is None else Xh[idx], metric)
    m = Xs.shape[0]
    # What the statistics see: the metric's space, on its leading axes when it is wide.
    W, kept = (Xs, None) if d <= MAX_COMPONENTS else project(Xs, metric, MAX_COMPONENTS)
    n_distinct = n_distinct_rows(W)
    dtype = "float32" if Xh.dtype == np.float32 else backend.default_dtype
    settings = Settings(ks=(), n_null=n_null, seed=seed, n_init=n_init, metric=metric,
                        max_samples=max_samples, progress=progress, dtype=dtype)
    if n_distinct == 1:
        result = _identical(Xh, m, backend, settings, sample_index=idx)
        result.elapsed_s = watch.elapsed_s
        return result
    asked = max(2, min(DEFAULT_K_MAX, m // 10)) if k_max is None else int(k_max)
    # KMeans cannot make more clusters than there are distinct points (scikit-learn warns
    # at every call), and a silhouette needs fewer clusters than points.
    k_cap = min(m - 1, n_distinct)
    notes = []
    if asked > k_cap:
        why = (f"the data hold only {n_distinct} distinct points" if n_distinct <= m - 1
               else f"{m} points are analyzed and k must stay below that")
        notes.append((f"--k-max {asked} is more than these data allow" if k_max is not None
                      else "fewer candidate ks than usual") + f": k stops at {k_cap} ({why})")
    settings = dataclasses.replace(settings, ks=tuple(range(2, min(asked, k_cap) + 1)))
    # Each KMeans and silhouette call here is small; on a busy CPU the native thread pools
    # (OpenMP, BLAS) then spin against each other and run many times slower than one thread.
    context = contextlib.nullcontext() if backend.is_gpu else threadpool_limits(limits=1)
    with context, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = _run(W, backend, settings, n_samples=n, dim=d, sample_index=idx)
    result.config.update(n_components=None if kept is None else W.shape[1], variance_kept=kept)
    _pass_on(caught, notes)
    result.notes = notes
    result.labels_ = (np.full(n, -1, dtype=np.int64) if result.labels is None else
                      assign_all(Xh, Xs, result.labels, result.n_clusters, metric=metric, sample_index=idx))
    result.elapsed_s = watch.elapsed_s
    return result


def _identical(Xh, m, backend, settings: Settings, *, sample_index) -> Analysis:
    """The verdict on points that are all one: nothing to cluster."""
    what = "point in the same direction" if settings.metric == "cosine" else "are identical"
    reason = (f"all {m} {'analyzed ' if sample_index is not None else ''}points {what}: "
              f"one distinct point, nothing to cluster")
    return Analysis(verdict="continuum", n_clusters=None, reason=reason,
                    config=_config(backend, settings, n_samples=len(Xh), dim=Xh.shape[1], n_used=m,
                                   sample_index=sample_index),
                    rows=[], density_gap=None, gap_statistic=None, laplacian=None,
                    labels_=np.full(len(Xh), -1, dtype=np.int64), sample_index=sample_index)


def _config(backend, settings: Settings, *, n_samples, dim, n_used, sample_index) -> dict:
    return dict(backend=backend.name, n_samples=n_samples, dim=dim, n_used=n_used,
                subsampled=sample_index is not None, ks=list(settings.ks), n_null=settings.n_null,
                null_kinds=list(NULL_KINDS), seed=settings.seed, n_init=settings.n_init,
                metric=settings.metric, max_samples=settings.max_samples, dtype=str(settings.dtype),
                z_silhouette=Z_SILHOUETTE, min_excess=MIN_EXCESS, gap_fraction=GAP_FRACTION,
                z_count=Z_COUNT, min_cluster_size=min_cluster_size(n_used),
                gap_fraction_with_gap=GAP_FRACTION_WITH_GAP,
                gap_agreement=GAP_AGREEMENT, thin_dimension=THIN_DIMENSION)


def _pass_on(caught, notes) -> None:
    """One note for KMeans' convergence warnings; every other warning re-issued as it came."""
    n_conv = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            n_conv += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if n_conv:
        notes.append(f"KMeans warned {n_conv} time(s) that it found fewer distinct clusters than asked "
                     f"or did not converge")


def _run(Xs, backend, settings: Settings, *, n_samples, dim, sample_index) -> Analysis:
    ks = list(settings.ks)
    k_max = ks[-1]
    n_null, seed = settings.n_null, settings.seed
    m = Xs.shape[0]
    nulls = null_references(Xs, n_null, seed)
    if settings.metric == "cosine":
        # Drawn to match the unit rows, then put back on the sphere the metric sees.
        nulls = {kind: [metric_space(Y, "cosine") for Y in draws] for kind, draws in nulls.items()}
    datasets = [("data", 0, Xs)] + [(kind, i, Y) for kind in NULL_KINDS for i, Y in enumerate(nulls[kind])]
    bar = _progress(len(datasets), enabled=settings.progress)
    scans = {}
    for name, i, Y in datasets:
        bar.set_description(f"{name} {i}" if name != "data" else "data")
        scans[name, i] = cluster_scan(backend, backend.asarray(Y, dtype=settings.dtype), ks,
                                      seed=seed, n_init=settings.n_init, metric=settings.metric)
        bar.update()
    bar.close()

    data = scans["data", 0]
    null_sil = {kind: np.array([scans[kind, i]["silhouette"] for i in range(n_null)]) for kind in NULL_KINDS}
    min_size = min_cluster_size(m)
    rows = []
    for j, k in enumerate(ks):
        mean = {kind: float(null_sil[kind][:, j].mean()) for kind in NULL_KINDS}
        sd = {kind: float(null_sil[kind][:, j].std(ddof=1)) for kind in NULL_KINDS}
        strict = max(NULL_KINDS, key=lambda kind: mean[kind])
        excess = data["silhouette"][j] - mean[strict]
        z = excess / max(sd[strict], MIN_EXCESS / Z_SILHOUETTE)
        smallest = int(np.bincount(data["labels"][j], minlength=k).min())
        rows.append(KRow(k, float(data["silhouette"][j]), mean, sd, float(z), float(excess),
                         bool(z >= Z_SILHOUETTE and excess >= MIN_EXCESS and smallest >= min_size),
                         smallest))

    # Gap statistic over k = 1..k_max, the box being Tibshirani's reference.
    gs = gap_statistic(
        [data["log_inertia_1"]] + data["log_inertia"],
        [[scans["box", i]["log_inertia_1"]] + scans["box", i]["log_inertia"] for i in range(n_null)],
    )
    gs["k"] = ([1] + ks)[gs.pop("index")]
    gs["ks"] = [1] + ks

    graph_idx = subsample(m, MAX_GRAPH_SAMPLES, seed)
    lap = laplacian_spectrum(Xs if graph_idx is None else Xs[graph_idx], n_eigs=k_max + 1)

    decision = _decide(Xs, backend, settings, rows, scans, nulls, gs)
    config = _config(backend, settings, n_samples=n_samples, dim=dim, n_used=m, sample_index=sample_index)
    return Analysis(config=config, rows=rows, gap_statistic=gs, laplacian=lap,
                    sample_index=sample_index, **decision)


def _decide(Xs, backend, settings: Settings, rows, scans, nulls, gap) -> dict:
    """The rule: continuum, or clustered and how many (see the module docstring)."""
    ks = list(settings.ks)
    seed, metric = settings.seed, settings.metric
    data = scans["data", 0]
    significant = [r for r in rows if r.significant]
    min_size = min_cluster_size(Xs.shape[0])
    if not significant:
        best = max(rows, key=lambda r: r.z)
        why = (f"its smallest cluster has {best.smallest} points, under {min_size}: outliers split off, "
               f"not a cluster" if best.smallest < min_size else
               f"z = {best.z:.1f} < {Z_SILHOUETTE:g} or excess < {MIN_EXCESS:g}")
        reason = (
            f"no k's silhouette stands out from data without clusters (best: k={best.k}, "
            f"{best.silhouette:.4f} against a null mean of {best.silhouette - best.excess:.4f}, "
            f"z = {best.z:.1f}; {why})"
        )
        return dict(verdict="continuum", n_clusters=None, reason=reason, density_gap=None)

    candidates = [r for r in rows if r.z >= Z_COUNT and r.excess >= MIN_EXCESS and r.smallest >= min_size]
    chosen, how = choose_k(candidates, gap, agreement=GAP_AGREEMENT)
    # The labels: the lower inertia of the scan's KMeans and one with more restarts. KMeans'
    # own objective, not the silhouette: its optimum is what every seed's restarts find (on
    # breast cancer the silhouette preferred a local optimum that only some seeds reach).
    Xb = backend.asarray(Xs, dtype=settings.dtype)
    j = ks.index(chosen.k)
    km = backend.kmeans_result(Xb, chosen.k, seed=seed, n_init=REFINE_N_INIT, metric=metric, check_input=False)
    labels = backend.to_numpy(km.labels).astype(np.int64)
    if np.log(max(float(km.inertia), 1e-300)) > data["log_inertia"][j]:
        labels = data["labels"][j]
    count, gap_info, merged = separation(Xs, labels, chosen.k, scans, nulls, gap, min_size=min_size,
                                         fraction=GAP_FRACTION, fraction_with_gap=GAP_FRACTION_WITH_GAP)
    gap_info.update(count_rule=how)
    if count is None:
        first = gap_info.get("chosen", gap_info)
        reason = (
            f"the silhouette beats data without clusters (k={chosen.k}, z = {chosen.z:.1f}), but "
            f"there is no empty space between neighboring clusters beyond what splitting "
            f"structureless data gives (ratio {first['ratio']:.3f}, stricter null mean "
            f"{first['null_mean']:.3f})"
        )
        n = gap_info["merge"]["n_groups"]
        reason += (f", nor between the {n} groups left once the pieces no low-density gap separates are "
                   f"merged (ratio {gap_info['ratio']:.3f}, stricter null mean {gap_info['null_mean']:.3f})"
                   if "chosen" in gap_info else
                   f", and merging the pieces no low-density gap separates leaves {n} group(s)")
        reason += ": a continuous, non-Gaussian shape such as a curved manifold"
        return dict(verdict="continuum", n_clusters=None, reason=reason, density_gap=gap_info)
    labels = merged if merged is not None else labels
    jc = ks.index(count)
    split_nulls = {kind: [(Y, scans[kind, i]["labels"][jc]) for i, Y in enumerate(nulls[kind])]
                   for kind in NULL_KINDS}
    thin = thin_manifold_test(Xs, labels, split_nulls, seed=seed, min_signal=MIN_SIGNAL_DIMENSION,
                              max_local=THIN_DIMENSION, fraction=GAP_FRACTION)
    gap_info["manifold"] = thin
    if thin is not None and not thin["separated"]:
        reason = (
            f"the silhouette beats data without clusters (k={chosen.k}, z = {chosen.z:.1f}) and the "
            f"pieces look apart in a plane, but the data fill about {thin['local_dimension']:.1f} of "
            f"their {thin['signal_dimension']} signal dimensions locally (a thin manifold) and along it "
            f"there is no low-density gap beyond what splitting structureless data gives (ratio "
            f"{thin['ratio']:.3f}, stricter null mean {thin['null_mean']:.3f}): a curve or sheet, a continuum"
        )
        return dict(verdict="continuum", n_clusters=None, reason=reason, density_gap=gap_info)
    ratio, null_mean = gap_info["ratio"], gap_info["null_mean"]
    weak = bool(chosen.z < 2 * Z_SILHOUETTE or ratio > 0.5 * null_mean)
    if merged is None:
        reason = f"k={chosen.k} {COUNT_REASONS[how]} (silhouette {chosen.silhouette:.4f}, excess " \
                 f"{chosen.excess:.4f}, z = {chosen.z:.1f}), and neighboring clusters are"
    else:
        m = gap_info["merge"]
        reason = (f"the silhouette beats data without clusters (k={chosen.k}, z = {chosen.z:.1f}); of those "
                  f"{chosen.k} pieces, the ones no low-density gap separates (a link of at least "
                  f"{m['threshold']:.3f}, the weakest that holds every null draw together) are merged "
                  f"into {count} groups, and the groups are")
    reason += (f" separated by low density (ratio {ratio:.3f}, below {gap_info['test']}: "
               f"nulls >= {gap_info['null_min']:.3f})")
    # At the top of the scan the count may be cut short: say so rather than stop silently.
    lower_bound = count == ks[-1]
    if lower_bound:
        reason += f"; k = {count} is the top of the scan, so there may be more clusters (raise --k-max)"
    if weak:
        reason += "; the evidence is weaker than for well-separated clusters"
    return dict(verdict="clustered", n_clusters=count, reason=reason, density_gap=gap_info,
                labels=labels, weak_evidence=weak, n_clusters_is_lower_bound=lower_bound)


def min_cluster_size(n_points: int) -> int:
    """Fewest points of a cluster, among ``n_points`` analyzed (smaller: outliers)."""
    return max(MIN_CLUSTER_POINTS, int(np.ceil(MIN_CLUSTER_FRACTION * n_points)))


def _progress(total, *, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="dataset", leave=False)
