"""The regression gate of ``coc compare A B --fail-above RATIO``.

A is the reference run, B the candidate. Every cell that finished (``ok``) in A is looked up
in B by its full identity (backend, op, n_samples, dim, k, dtype, max_iter: the same
backend, the same work), and fails the gate when, in B:

* it is missing, or ``failed`` or ``skipped``;
* it got slower: B's median time / A's median time > RATIO;
* its answer got worse beyond a tolerance (:data:`TOLERANCES`; quality as recorded by
  :mod:`coc.suite.quality`, compared where both runs have the number):

  ==================== ===================================================
  ``inertia_per_point`` KMeans: up by more than 1 % (relative)
  ``ari``               KMeans on blobs: down by more than 0.02
  ``silhouette``        changed by more than 1e-3 (either way: it is exact)
  ``knn_preservation``  t-SNE 10-NN preservation: down by more than 0.05
  ``kl``                t-SNE exact KL on the subsample: up by more than 10 %
  ==================== ===================================================

  or B's quality could not be measured (``quality["error"]``).

Cells only in B, and cells not ``ok`` in A, are not gated.
"""
from __future__ import annotations

from dataclasses import dataclass

from coc.suite.cells import cell_key
from coc.utils.validation import check_ratio

#: quality key -> (direction that is worse, tolerance, relative?)
TOLERANCES = {
    "inertia_per_point": ("up", 0.01, True),
    "ari": ("down", 0.02, False),
    "silhouette": ("both", 1e-3, False),
    "knn_preservation": ("down", 0.05, False),
    "kl": ("up", 0.10, True),
}


@dataclass(frozen=True)
class Failure:
    """A cell that fails the gate, and why (one line)."""

    cell: str
    why: str

    def line(self) -> str:
        return f"{self.cell}: {self.why}"


def cell_label(rec: dict) -> str:
    """``numpy kmeans n=1000 d=32 k=10 float32 max_iter=30``: a cell, for a person."""
    text = f"{rec.get('backend')} {rec.get('op')} n={rec.get('n_samples')} d={rec.get('dim')}"
    if rec.get("k") is not None:
        text += f" k={rec['k']}"
    text += f" {rec.get('dtype')}"
    if rec.get("max_iter") is not None:
        text += f" max_iter={rec['max_iter']}"
    return text


def quality_regressions(qa, qb) -> list:
    """What got worse from quality dict ``qa`` (A) to ``qb`` (B), beyond :data:`TOLERANCES`."""
    qa, qb = qa or {}, qb or {}
    if qb.get("error"):
        return [f"quality could not be measured ({qb['error']})"]
    out = []
    for key, (worse, tol, relative) in TOLERANCES.items():
        va, vb = qa.get(key), qb.get(key)
        if va is None or vb is None:
            continue
        change = vb - va
        if relative:
            change = change / abs(va) if va else (0.0 if vb == va else float("inf"))
        bad = {"up": change > tol, "down": -change > tol, "both": abs(change) > tol}[worse]
        if bad:
            size = f"{change:+.1%}" if relative else f"{change:+.3g}"
            limit = f"{tol:.0%}" if relative else f"{tol:g}"
            out.append(f"{key} {va:.6g} -> {vb:.6g} ({size}, tolerance {limit})")
    return out


def gate(a, b, *, fail_above: float) -> list:
    """The cells of run ``a`` (records) that regressed in run ``b``.

    Parameters
    ----------
    a, b : list of dict
        Records of the reference and the candidate run (one per cell).
    fail_above : float
        Largest allowed slowdown, B's median time / A's.

    Returns
    -------
    list of Failure
        In A's order; empty when B passes.

    Raises
    ------
    CocError
        ``fail_above`` is not a finite ratio > 0.
    """
    fail_above = check_ratio(fail_above, name="fail_above")
    in_b = {cell_key(r): r for r in b}
    failures = []
    for ra in a:
        if ra.get("status") != "ok" or not ra.get("median_s"):
            continue
        label = cell_label(ra)
        rb = in_b.get(cell_key(ra))
        if rb is None:
            failures.append(Failure(label, "missing in B (ok in A)"))
            continue
        if rb.get("status") != "ok" or not rb.get("median_s"):
            reason = f": {rb.get('reason')}" if rb.get("reason") else ""
            failures.append(Failure(label, f"{rb.get('status')} in B (ok in A){reason}"))
            continue
        ratio = rb["median_s"] / ra["median_s"]
        if ratio > fail_above:
            failures.append(Failure(label, f"slower: B/A median time {ratio:.2f} > {fail_above:g} "
                                           f"({ra['median_s']:.4g} s -> {rb['median_s']:.4g} s)"))
        for why in quality_regressions(ra.get("quality"), rb.get("quality")):
            failures.append(Failure(label, f"worse answer: {why}"))
    return failures
