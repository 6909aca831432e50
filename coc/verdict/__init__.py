"""The verdict of ``coc analyze``: clustered (how many) or continuum.

============ ==============================================================
module       holds
============ ==============================================================
stats        subsample, null references, KMeans scan, gap statistic,
             density gap, kNN-graph Laplacian spectrum
decision     the decision's constants and rule, and :func:`analyze`
result       :class:`Analysis`: the verdict, its evidence, report and JSON
plot         the figure (panels take ``ax=``)
count,       the separation tests behind the count; the thin-manifold test;
manifold,    the metric's space (cosine rows, projection of wide data)
space
experiment   the notebook's experiment (``coc experiment``)
phase        the verdict as blob spread grows (``coc phase``)
scenarios    data with a known number of clusters (Tibshirani et al. 2001 and more)
============ ==============================================================

How the decision is taken is told in :mod:`coc.verdict.decision`; the commands are in
:mod:`coc.cli`.
"""
from coc.verdict.decision import analyze
from coc.verdict.result import Analysis, KRow

__all__ = ["Analysis", "KRow", "analyze"]
