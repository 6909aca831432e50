"""The notebook's experiment: uniform points against Gaussian blobs of growing spread.

For each scenario the data are drawn once (seeded), clustered by KMeans at each k, scored by
the silhouette, and embedded by t-SNE for a picture. This module only composes the backend's
operations; the numbers come from :mod:`coc.backends`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from coc.backends.base import generation_bytes
from coc.utils.validation import CocError, check_dim, check_n_clusters, check_n_samples, check_perplexity, check_std

#: The notebook's settings.
DEFAULT_STDS = (0.01, 0.3, 0.4, 0.5)
DEFAULT_KS = (2, 10, 20)
N_CENTERS = 10


@dataclass(frozen=True)
class ExperimentRow:
    """One (scenario, k) cell of the experiment."""

    scenario: str
    k: int
    silhouette: float
    inertia: float
    n_iter: int


@dataclass
class ExperimentResult:
    """Everything the experiment measured; ``embeddings`` and ``true_labels`` are NumPy."""

    config: dict
    rows: list[ExperimentRow]
    embeddings: dict = field(default_factory=dict)
    true_labels: dict = field(default_factory=dict)

    def best_k(self) -> dict:
        """The k with the highest silhouette, per scenario."""
        best = {}
        for r in self.rows:
            if r.scenario not in best or r.silhouette > best[r.scenario].silhouette:
                best[r.scenario] = r
        return {s: r.k for s, r in best.items()}

    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(r.scenario for r in self.rows))

    def to_dict(self) -> dict:
        """``config``, ``best_k`` and ``rows`` (one dict per (scenario, k)), JSON-ready."""
        return {
            "config": self.config,
            "best_k": self.best_k(),
            "rows": [dataclasses.asdict(r) for r in self.rows],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON document (the content of ``experiment.json``)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def table_markdown(self) -> str:
        """The silhouette table: one row per scenario, one column per k, and the best k."""
        ks = self.config["ks"]
        score = {(r.scenario, r.k): r.silhouette for r in self.rows}
        best = self.best_k()
        lines = [
            "| scenario | " + " | ".join(f"k={k}" for k in ks) + " | best k |",
            "|---|" + "---:|" * len(ks) + "---:|",
        ]
        for s in self.scenarios():
            cells = " | ".join(f"{score[s, k]:.4f}" for k in ks)
            lines.append(f"| {s} | {cells} | {best[s]} |")
        return "\n".join(lines)


def scenario_names(stds=DEFAULT_STDS) -> list[str]:
    return ["uniform"] + [f"blobs-{std:g}" for std in stds]


def run_experiment(
    backend,
    *,
    n_samples: int = 1000,
    dim: int = 32,
    ks=DEFAULT_KS,
    stds=DEFAULT_STDS,
    n_centers: int = N_CENTERS,
    seed: int = 0,
    perplexity: float = 30.0,
    tsne: bool = True,
    progress: bool = False,
) -> ExperimentResult:
    """Run the notebook's experiment on ``backend``.

    Parameters
    ----------
    backend : coc.Backend
    n_samples, dim : int
        Size of each scenario's data. Blobs get ``n_samples // n_centers`` points per center.
    ks : sequence of int
        Numbers of clusters for KMeans.
    stds : sequence of float
        Spreads of the blob scenarios (one scenario each, after ``uniform``).
    seed : int
        Seeds the data (the same centers and noise for every blob scenario, so only the
        spread changes), KMeans and t-SNE.
    perplexity : float
        t-SNE perplexity.
    tsne : bool
        Compute the t-SNE embeddings (for the picture).
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    ExperimentResult
    """
    n_samples = check_n_samples(n_samples)
    dim = check_dim(dim)
    # t-SNE runs in float32 on some backends (scikit-learn's): its bound is the one to keep
    stds = [check_std(s, dim=dim, dtype="float32" if tsne else backend.default_dtype) for s in stds]
    ks = sorted({check_n_clusters(k, n_samples) for k in ks})
    if not ks:
        raise CocError("give at least one k")
    n_per_center = n_samples // n_centers
    if n_per_center < 1:
        raise CocError(f"n_samples ({n_samples}) must be at least the number of centers ({n_centers})")
    if tsne:
        check_perplexity(perplexity, min(n_samples, n_per_center * n_centers))
    # Before the first draw: one scenario's data, and t-SNE's neighbor lists and joint
    # probabilities (an index and a value a pair, the pairs of both directions), a floor of
    # what the run holds at once; a size far beyond it is one error now, not a MemoryError
    # (or the system's out-of-memory killer) minutes in.
    need = generation_bytes(n_samples, dim, backend.default_dtype)
    if tsne:
        need += n_samples * int(3 * perplexity) * 2 * (8 + 8)
    backend.check_fits(need, what=f"coc experiment at {n_samples} x {dim}")

    config = dict(
        backend=backend.name, n_samples=n_samples, dim=dim, ks=ks, stds=stds, n_centers=n_centers,
        n_per_center=n_per_center, seed=seed, perplexity=perplexity,
    )
    result = ExperimentResult(config=config, rows=[])
    names = scenario_names(stds)
    steps = len(names) * (len(ks) + int(tsne))
    bar = _progress(steps, enabled=progress)
    for name, std in zip(names, [None] + stds):
        if std is None:
            X, y = backend.uniform(n_samples, dim, seed=seed), None
        else:
            X, y = backend.blobs(n_centers, n_per_center, dim, std, seed=seed)
        for k in ks:
            bar.set_description(f"{name} k={k}")
            km = backend.kmeans_result(X, k, seed=seed)
            s = backend.silhouette(X, km.labels)
            result.rows.append(ExperimentRow(name, k, s, km.inertia, km.n_iter))
            bar.update()
        if tsne:
            bar.set_description(f"{name} t-SNE")
            result.embeddings[name] = backend.to_numpy(backend.tsne(X, perplexity=perplexity, seed=seed))
            result.true_labels[name] = None if y is None else backend.to_numpy(y)
            bar.update()
    bar.close()
    return result


def plot_tsne(result: ExperimentResult):
    """One t-SNE panel per scenario, colored by true blob, titled with its best k.

    Returns a matplotlib Figure, made without pyplot (no backend is chosen, nothing global).
    """
    from matplotlib.figure import Figure

    names = [s for s in result.scenarios() if s in result.embeddings]
    best = result.best_k()
    fig = Figure(figsize=(3.6 * len(names), 3.9))
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names):
        Y, y = result.embeddings[name], result.true_labels[name]
        if y is None:
            ax.scatter(Y[:, 0], Y[:, 1], s=3, c="0.4", linewidths=0)
        else:
            ax.scatter(Y[:, 0], Y[:, 1], s=3, c=y, cmap="tab10", linewidths=0)
        ax.set_title(f"{name}\nbest k = {best[name]}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    c = result.config
    fig.suptitle(
        f"t-SNE (perplexity {c['perplexity']:g}) of {c['n_samples']} x {c['dim']} points, "
        f"colored by true blob; backend {c['backend']}, seed {c['seed']}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def report_markdown(result: ExperimentResult) -> str:
    c = result.config
    return (
        "# coc experiment\n\n"
        f"Backend `{c['backend']}`, {c['n_samples']} points in {c['dim']} dimensions, seed {c['seed']}; "
        f"blobs: {c['n_centers']} centers uniform in [0,1]^{c['dim']}, {c['n_per_center']} points each. "
        "KMeans silhouette by scenario and k:\n\n"
        f"{result.table_markdown()}\n\n"
        "![t-SNE of each scenario](tsne.png)\n"
    )


def _progress(total, *, enabled):
    return tqdm(total=total, disable=not enabled, unit="step", leave=False)
