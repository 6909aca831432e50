"""``coc phase``: the transition from clusters to continuum, as one picture.

The notebook's blobs (10 centers uniform in [0, 1]^32, 100 points each) are drawn at a sweep
of spreads, the same centers and noise at every spread (one seed), and each is put through
:func:`coc.analyze`. The figure shows the raw silhouette at the true k, the band of
the null references at that k, and the verdict at each spread.
"""
from __future__ import annotations

import sys

import numpy as np

from coc import __version__
from coc.io.checkpoint import Checkpoint
from coc.utils.timing import Stopwatch
from coc.utils.validation import CocError, check_std
from coc.verdict.decision import DEFAULT_N_NULL, analyze
from coc.verdict.stats import NULL_KINDS

#: The notebook's size.
N_CENTERS = 10
N_PER_CENTER = 100
DIM = 32
#: 0.01, then 0.1 to 1.5 in steps of 0.1.
DEFAULT_STDS = (0.01,) + tuple(round(0.1 * i, 2) for i in range(1, 16))


def run_phase(backend, *, stds=DEFAULT_STDS, seed: int = 0, n_null: int | None = None,
              progress: bool = False, checkpoint=None) -> dict:
    """Analyze the notebook's blobs at each spread.

    Parameters
    ----------
    backend : coc.Backend
    stds : sequence of float
    seed : int
        Seeds the blobs (the same centers and noise at every spread) and the analysis.
    n_null : int or None
        Null draws of each reference (default: :data:`coc.verdict.decision.DEFAULT_N_NULL`).
    progress : bool
    checkpoint : coc.io.checkpoint.Checkpoint or None
        Where each finished spread is kept, and the spreads an interrupted run of the same
        configuration finished are taken from (:func:`phase_checkpoint`).

    Returns
    -------
    dict
        ``config`` and ``rows``: per spread, ``std``, ``verdict``, ``n_clusters``, ``weak``,
        ``silhouette_true_k`` and each null's mean and sd at the true k, ``density_gap_ratio``.
    """
    from tqdm.auto import tqdm

    stds = [check_std(s, dim=DIM, dtype=backend.default_dtype) for s in stds]
    if not stds:
        raise CocError("give at least one std")
    n_null = DEFAULT_N_NULL if n_null is None else n_null
    rows = []
    watch = Stopwatch()
    kept = 0 if checkpoint is None else sum(repr(s) in checkpoint.done for s in stds)
    if kept:
        print(f"coc phase: resuming: {kept} of {len(stds)} spreads from an interrupted run "
              f"({checkpoint.path})", file=sys.stderr)
    for std in tqdm(stds, disable=not progress, unit="std", leave=False):
        if checkpoint is not None and repr(std) in checkpoint.done:
            rows.append(checkpoint.done[repr(std)])
            continue
        X, _y = backend.blobs(N_CENTERS, N_PER_CENTER, DIM, std, seed=seed)
        a = analyze(X, backend=backend, n_null=n_null, seed=seed)
        row_k = next(r for r in a.rows if r.k == N_CENTERS)
        rows.append({
            "std": std,
            "verdict": a.verdict,
            "n_clusters": a.n_clusters,
            "weak_evidence": a.weak_evidence,
            "silhouette_true_k": row_k.silhouette,
            "null_mean": row_k.null_mean,
            "null_sd": row_k.null_sd,
            "z_true_k": row_k.z,
            "density_gap_ratio": None if a.density_gap is None else a.density_gap["ratio"],
            "reason": a.reason,
        })
        if checkpoint is not None:
            checkpoint.put(repr(std), rows[-1])
    config = dict(backend=backend.name, n_centers=N_CENTERS, n_per_center=N_PER_CENTER, dim=DIM,
                  true_k=N_CENTERS, stds=stds, seed=seed, n_null=n_null, null_kinds=list(NULL_KINDS),
                  elapsed_s=round(watch.elapsed_s, 2))
    return {"config": config, "rows": rows}


def phase_checkpoint(folder, backend, *, seed: int, n_null: int | None):
    """The :class:`coc.io.checkpoint.Checkpoint` of :func:`run_phase` in ``folder``.

    A spread's row depends on the backend, the seed, the null draws and coc's version alone,
    so these are its configuration.

    Parameters
    ----------
    folder : path
        The output folder (``--out``).
    backend : coc.Backend
    seed : int
    n_null : int or None

    Returns
    -------
    coc.io.checkpoint.Checkpoint
    """
    return Checkpoint(folder, "phase", dict(backend=backend.name, seed=seed, n_null=n_null,
                                            version=__version__))


def plot_phase(phase: dict, *, ax=None):
    """Silhouette at the true k against spread, with the null band and the verdicts.

    Draws on ``ax`` when given, else on a new Figure; returns the Figure.
    """
    from matplotlib.figure import Figure

    rows = phase["rows"]
    c = phase["config"]
    std = np.array([r["std"] for r in rows])
    if ax is None:
        fig = Figure(figsize=(9, 5))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for kind, color in zip(NULL_KINDS, ("tab:blue", "tab:orange")):
        mean = np.array([r["null_mean"][kind] for r in rows])
        sd = np.array([r["null_sd"][kind] for r in rows])
        ax.plot(std, mean, "--", color=color, linewidth=1, label=f"null: {kind} (mean, ±2 sd)")
        ax.fill_between(std, mean - 2 * sd, mean + 2 * sd, color=color, alpha=0.25, linewidth=0)
    sil = np.array([r["silhouette_true_k"] for r in rows])
    ax.plot(std, sil, "-", color="k", linewidth=1, zorder=2)
    styles = {
        "right": dict(marker="o", color="tab:green", label=f"clustered, k = {c['true_k']}"),
        "weak": dict(marker="o", color="yellowgreen", label=f"clustered, k = {c['true_k']} (weak evidence)"),
        "wrong": dict(marker="s", color="tab:purple", label="clustered, another k"),
        "continuum": dict(marker="X", color="tab:red", label="continuum"),
    }
    seen = set()
    for r, s in zip(rows, sil):
        if r["verdict"] == "continuum":
            kind = "continuum"
        elif r["n_clusters"] != c["true_k"]:
            kind = "wrong"
        else:
            kind = "weak" if r["weak_evidence"] else "right"
        style = dict(styles[kind])
        label = style.pop("label")
        label = label if kind not in seen else None
        seen.add(kind)
        ax.scatter([r["std"]], [s], s=60, zorder=3, label=label, edgecolors="k", linewidths=0.5, **style)
        if kind == "wrong":
            ax.annotate(f"k={r['n_clusters']}", (r["std"], s), textcoords="offset points", xytext=(0, 8),
                        ha="center", fontsize=8)
    ax.set_yscale("symlog", linthresh=0.05)
    ax.set_xlabel("std of each blob")
    ax.set_ylabel(f"silhouette at the true k = {c['true_k']} (symlog)")
    ax.set_title(
        f"From clusters to continuum: {c['n_centers']} blobs x {c['n_per_center']} points in "
        f"{c['dim']} dimensions\n(centers uniform in [0,1]^{c['dim']}); backend {c['backend']}, "
        f"seed {c['seed']}, {c['n_null']} null draws of each reference",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
