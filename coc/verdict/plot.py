"""The figure of ``coc analyze --plot``: silhouette against k with the nulls' bands, and a t-SNE.

Each panel takes an ``ax=``; :func:`plot_analysis` returns a new Figure. Nothing here chooses
matplotlib's backend (the command line does).
"""
from __future__ import annotations

import contextlib

import numpy as np
from threadpoolctl import threadpool_limits

from coc.verdict.result import Analysis
from coc.verdict.space import metric_space, n_distinct_rows
from coc.verdict.stats import subsample

#: The t-SNE of ``--plot`` uses at most this many points.
MAX_TSNE_SAMPLES = 3000
#: t-SNE needs two distinct points: on identical ones scikit-learn's PCA start divides by zero and crashes.
MIN_TSNE_DISTINCT = 2


def plot_silhouette(result: Analysis, *, ax):
    """The data's silhouette against k, each null reference's mean and +-2 sd band."""
    ks = [r.k for r in result.rows]
    if not ks:
        ax.text(0.5, 0.5, "no k to try:\n" + result.reason, ha="center", va="center",
                fontsize=9, wrap=True, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return ax
    ax.plot(ks, [r.silhouette for r in result.rows], "o-", color="k", label="data", zorder=3)
    for kind, color in zip(result.config["null_kinds"], ("tab:blue", "tab:orange")):
        mean = np.array([r.null_mean[kind] for r in result.rows])
        sd = np.array([r.null_sd[kind] for r in result.rows])
        ax.plot(ks, mean, "--", color=color, label=f"null: {kind} (mean, ±2 sd)")
        ax.fill_between(ks, mean - 2 * sd, mean + 2 * sd, color=color, alpha=0.25, linewidth=0)
    if result.n_clusters is not None:
        ax.axvline(result.n_clusters, color="tab:green", linestyle=":", label=f"chosen k = {result.n_clusters}")
    ax.set_xlabel("k (KMeans clusters)")
    ax.set_ylabel(f"silhouette ({result.config['metric']})")
    ax.set_xticks(ks if len(ks) <= 20 else ks[::2])
    ax.legend(fontsize=8)
    ax.set_title("silhouette against data without clusters", fontsize=10)
    return ax


def plot_tsne(result: Analysis, X, *, backend, seed: int = 0, ax):
    """A t-SNE of the analyzed points colored by the chosen clusters.

    ``X`` is the subsample the statistics ran on. With fewer than
    :data:`MIN_TSNE_DISTINCT` distinct points as the metric sees them (for cosine: distinct
    directions) there is nothing to embed (and scikit-learn's t-SNE crashes on identical
    points): the panel says so instead.
    """
    X = np.asarray(X)
    idx = subsample(len(X), MAX_TSNE_SAMPLES, seed)
    Xt = X if idx is None else X[idx]
    ax.set_xticks([])
    ax.set_yticks([])
    n_distinct = n_distinct_rows(metric_space(Xt, result.config["metric"]))
    if n_distinct < MIN_TSNE_DISTINCT:
        ax.text(0.5, 0.5, f"no t-SNE: {n_distinct} distinct point(s)", ha="center", va="center",
                transform=ax.transAxes)
        return ax
    perplexity = float(min(30.0, (len(Xt) - 1) / 3))
    # As in the analysis: on a busy CPU, OpenMP threads spinning against each other make a
    # small t-SNE many times slower than one thread does.
    with contextlib.nullcontext() if backend.is_gpu else threadpool_limits(limits=1):
        Y = backend.to_numpy(backend.tsne(backend.asarray(Xt, dtype=backend.default_dtype), perplexity=perplexity,
                                          seed=seed, init="pca", metric=result.config["metric"], check_input=False))
    if result.labels is None:
        ax.scatter(Y[:, 0], Y[:, 1], s=3, c="0.4", linewidths=0)
    else:
        lab = result.labels if idx is None else result.labels[idx]
        ax.scatter(Y[:, 0], Y[:, 1], s=3, c=lab, cmap="tab20", linewidths=0)
    n_total = result.config["n_samples"]
    shown = f"{len(Xt)} of {n_total} points" if len(Xt) < n_total else f"{len(Xt)} points"
    ax.set_title(f"t-SNE ({shown}), colored by chosen cluster" if result.labels is not None
                 else f"t-SNE ({shown})", fontsize=10)
    return ax


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
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4))
    ax, ax2 = fig.subplots(1, 2)
    plot_silhouette(result, ax=ax)
    plot_tsne(result, X, backend=backend, seed=seed, ax=ax2)
    verdict = result.verdict + (f", {result.n_clusters} clusters" if result.n_clusters else "")
    fig.suptitle(f"coc analyze: {verdict}" + (" (weak evidence)" if result.weak_evidence else ""), fontsize=11)
    fig.tight_layout()
    return fig
