"""The verdict of ``coc analyze``: clustered (how many) or continuum.

============ ==============================================================
module       holds
============ ==============================================================
stats        subsample, null references, KMeans scan, gap statistic,
             density gap, kNN-graph Laplacian spectrum
decision     the decision's constants and rule, and :func:`analyze`
result       :class:`Analysis`: the verdict, its evidence, report and JSON
plot         the figure (panels take ``ax=``)
cli          ``coc analyze FILE``
============ ==============================================================

How the decision is taken is told in :mod:`coc.verdict.decision`.
"""
from coc.verdict.decision import analyze
from coc.verdict.result import Analysis, KRow

__all__ = ["Analysis", "KRow", "analyze"]
