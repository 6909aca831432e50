"""The verdict as a record: :class:`Analysis`, its text report and its JSON."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np


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
    #: Points in the smallest KMeans cluster of the data at this k.
    smallest: int = 0


@dataclass
class Analysis:
    """The verdict and the evidence behind it.

    Attributes
    ----------
    verdict : {"clustered", "continuum"}
    n_clusters : int or None
        None for a continuum.
    reason : str
        One sentence: why this verdict.
    config : dict
        What ran: sizes, options, thresholds.
    rows : list of KRow
        The silhouette against the nulls at each candidate k (empty when the data leave no k
        to try, e.g. all points identical).
    density_gap, gap_statistic, laplacian : dict or None
        The evidence of each statistic (None where it was not computed).
    labels : np.ndarray or None
        The chosen clustering of the analyzed points (the subsample, aligned with
        ``sample_index``); None for a continuum.
    labels_ : np.ndarray
        One label per input row: the chosen cluster (0 .. n_clusters-1), rows outside the
        subsample taking their nearest centre; -1 ("no cluster") everywhere for a continuum.
    sample_index : np.ndarray or None
        The rows the statistics ran on; None when all rows were used.
    weak_evidence : bool
        Clustered, but by a smaller margin than well-separated clusters give.
    n_clusters_is_lower_bound : bool
        Every piece of the scan's largest k is its own cluster: there may be more clusters
        than the scan could show (a larger ``k_max`` would tell).
    notes : list of str
        What the analysis changed from what was asked (a capped ``k_max``, ...).
    elapsed_s : float
    """

    verdict: str
    n_clusters: int | None
    reason: str
    config: dict
    rows: list[KRow]
    density_gap: dict | None
    gap_statistic: dict | None
    laplacian: dict | None
    labels: np.ndarray | None = field(repr=False, default=None)
    labels_: np.ndarray | None = field(repr=False, default=None)
    sample_index: np.ndarray | None = field(repr=False, default=None)
    weak_evidence: bool = False
    n_clusters_is_lower_bound: bool = False
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def weak(self) -> bool:
        """The former name of :attr:`weak_evidence`."""
        return self.weak_evidence

    def to_dict(self, *, labels: bool = True) -> dict:
        """A JSON-ready dict: ``verdict``, ``n_clusters``, ``reason``, the evidence and, with
        ``labels=True``, ``labels`` (one integer per input row, -1 for no cluster)."""
        out = {
            "verdict": self.verdict,
            "n_clusters": self.n_clusters,
            "n_clusters_is_lower_bound": self.n_clusters_is_lower_bound,
            "weak_evidence": self.weak_evidence,
            "reason": self.reason,
            "notes": list(self.notes),
            "config": self.config,
            "silhouette": [dataclasses.asdict(r) for r in self.rows],
            "density_gap": self.density_gap,
            "gap_statistic": self.gap_statistic,
            "laplacian": self.laplacian,
            "elapsed_s": round(self.elapsed_s, 3),
        }
        if labels and self.labels_ is not None:
            out["labels"] = self.labels_.tolist()
        return out

    def to_json(self, *, labels: bool = True, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(labels=labels), indent=indent)

    def report(self) -> str:
        """A readable text report."""
        c = self.config
        kinds = c["null_kinds"]
        head = f"verdict: {self.verdict}"
        if self.n_clusters is not None:
            head += f", {self.n_clusters}{' or more' if self.n_clusters_is_lower_bound else ''} clusters"
        if self.weak_evidence:
            head += " (weak evidence)"
        lines = [head, f"why: {self.reason}"]
        lines += [f"note: {note}" for note in self.notes]
        lines.append("")
        sub = (
            f"{c['n_used']} of {c['n_samples']} points, subsampled at random (seed {c['seed']})"
            if c["n_used"] < c["n_samples"] else f"all {c['n_samples']} points"
        )
        lines.append(
            f"data: {c['n_samples']} x {c['dim']}; statistics on {sub}; backend {c['backend']}; "
            f"metric {c['metric']}; {c['n_null']} null draws of each reference ({', '.join(kinds)})"
        )
        if c.get("n_components") is not None:
            lines.append(f"projected on {c['n_components']} principal components "
                         f"({100 * c['variance_kept']:.1f}% of the variance)")
        if self.rows:
            lines += ["", "silhouette by k (KMeans), against null references (mean +- sd):",
                      f"{'k':>4} {'data':>8} " + " ".join(f"{kind:>17}" for kind in kinds) + f" {'z':>7}  "]
            for r in self.rows:
                nulls = "  ".join(f"{r.null_mean[kind]:8.4f}+-{r.null_sd[kind]:.4f}" for kind in kinds)
                mark = " *" if r.significant else ""
                if r.smallest < c.get("min_cluster_size", 0):
                    mark += f" (a cluster of {r.smallest})"
                if self.n_clusters == r.k:
                    mark += "  <- chosen"
                lines.append(f"{r.k:>4} {r.silhouette:8.4f}  {nulls} {r.z:7.1f}{mark}")
            lines.append(f"  * z >= {c['z_silhouette']:g} and excess >= {c['min_excess']:g} "
                         f"over the stricter reference, and no cluster under "
                         f"{c.get('min_cluster_size', 0)} points")
        g = self.density_gap
        lines.append("")
        if g is None and not self.rows:
            pass
        elif g is None:
            lines.append("density gap: not needed (no k beats the null references)")
        else:
            nulls = ", ".join(f"{kind} {np.mean(v):.3f} (min {np.min(v):.3f})" for kind, v in g["null"].items())
            lines.append(
                f"density gap at k={g['k']}: boundary/centroid density ratio {g['ratio']:.3f} "
                f"over {g['n_pairs']} neighboring pairs; nulls: {nulls}; "
                f"{'a gap (clusters)' if g['separated'] else 'no gap beyond what splitting gives (continuum)'}"
            )
            merge = g.get("merge")
            if merge is not None:
                lines.append(
                    f"merging: of {merge['n_pieces']} pieces, those joined by a link of density ratio >= "
                    f"{merge['threshold']:.3f} (the weakest link that holds every null draw together) "
                    f"form {merge['n_groups']} group(s); {merge['n_gaps']} of {len(merge['links'])} links are gaps"
                )
            thin = g.get("manifold")
            if thin is not None:
                lines.append(
                    f"thin manifold ({thin['local_dimension']:.1f} of {thin['signal_dimension']} signal "
                    f"dimensions filled locally): density ratio along it {thin['ratio']:.3f}, stricter null "
                    f"mean {thin['null_mean']:.3f}; {'a gap' if thin['separated'] else 'no gap (continuum)'}"
                )
        gs = self.gap_statistic
        if gs is not None:
            lines.append(
                f"gap statistic (1-SE rule, box reference): k = {gs['k']}"
                + (" (no structure)" if gs["k"] == 1 else "")
            )
        lap = self.laplacian
        if lap is not None:
            lines.append(
                f"kNN-graph Laplacian ({lap['n_points']} points, {lap['n_neighbors']} neighbors): "
                f"largest eigengap after {lap['k']} eigenvalues (gap {lap['eigengap']:.3f}); "
                f"{lap['n_components']} connected component(s)"
            )
        lines.append(f"time: {self.elapsed_s:.1f} s")
        return "\n".join(lines)
