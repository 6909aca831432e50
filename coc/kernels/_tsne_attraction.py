"""t-SNE's attraction: ``sum_j P_ij q_ij (y_i - y_j)`` over the sparse pairs of ``P``.

:func:`attractive` is the plain form, one pass over all pairs (CuPy, and the tests'
reference). On NumPy, :func:`split` cuts the sorted pairs once, before the descent, into parts at
row boundaries and each part into chunks, and :func:`attractive_parts` sums them, each part on a
thread (NumPy's gathers and ufuncs release the GIL), the parts in a fixed order: the same
embedding whatever the core count. Why the chunks and their layout: docs/tsne.md.
"""
from __future__ import annotations

#: On NumPy the attraction's pairs are cut into this many parts at row boundaries, summed in a
#: fixed order on up to as many threads (NumPy's gathers and ufuncs release the GIL): the same
#: embedding whatever the core count. At 1e5 points (7.3e6 pairs) on 2 cores one call took
#: 62 ms against 121 ms on one thread (bench/tsne_attraction.py, results/tsne/attraction.jsonl).
ATTRACTION_PARTS = 4
#: ... and each part is worked through in chunks of about this many pairs, into one force array
#: a part. Far larger chunks stream every temporary through memory; far smaller ones pay NumPy's
#: per-call cost (bench/tsne_attraction.py --chunks: at 1e5 the fastest was 2**19, results/tsne/).
ATTRACTION_CHUNK = 1 << 19


def attractive(Y, rows, cols, vals, *, xp):
    """``sum_j P_ij q_ij (y_i - y_j)`` with ``q = 1 / (1 + |y_i - y_j|^2)``, over the pairs of P.

    The form for CuPy (and the reference of the tests); NumPy runs :func:`attractive_parts`.
    """
    n = Y.shape[0]
    # one coordinate at a time: 1-D gathers and scatters are the fast ones. ufunc.at, not
    # bincount: cupy.bincount reads max(index) back to the host on every call.
    dx = xp.take(Y[:, 0], rows)
    dx -= xp.take(Y[:, 0], cols)
    dy = xp.take(Y[:, 1], rows)
    dy -= xp.take(Y[:, 1], cols)
    w = dx * dx
    w += dy * dy
    w += 1
    xp.divide(vals, w, out=w)
    F = xp.zeros((2, n), dtype=Y.dtype)
    for d, f in enumerate((dx, dy)):
        f *= w
        xp.add.at(F[d], rows, f)
        f *= -1  # cupy has no float subtract.at: CUDA has no atomicSub on floats
        xp.add.at(F[d], cols, f)
    return F.T


def split(rows, cols, vals, *, xp, n_parts=None, chunk=None):
    """The sorted pairs cut at row boundaries into up to ``n_parts`` (default
    :data:`ATTRACTION_PARTS`) parts of about equal size, each a list of chunks of about ``chunk``
    (default :data:`ATTRACTION_CHUNK`) pairs, for :func:`attractive_parts` (NumPy).

    A chunk is ``(cols, vals, run_rows, run_starts, run_lengths)``: its pairs' columns as intp
    (an int32 index costs ``take`` a conversion, 2.4x its time at 7e6 pairs), their weights, and
    the runs of equal rows (each row once, where its run starts in the chunk, its length).
    """
    run_rows, starts = _row_runs(rows, xp=xp)
    ends = xp.append(starts[1:], rows.size)
    run_rows, lengths, cols = run_rows.astype(xp.intp), ends - starts, cols.astype(xp.intp)

    def spans(a, b, pieces):  # runs a:b cut at run starts into up to `pieces`, equal in pairs
        at = xp.searchsorted(starts, xp.linspace(starts[a], ends[b - 1], pieces + 1))
        cuts = sorted({int(c) for c in at} | {a, b})
        return [(c, d, int(starts[c]), int(ends[d - 1])) for c, d in zip(cuts[:-1], cuts[1:])]

    chunk = chunk or ATTRACTION_CHUNK
    return [[(cols[lo:hi], vals[lo:hi], run_rows[c:d], starts[c:d] - lo, lengths[c:d])
             for c, d, lo, hi in spans(a, b, max(1, round((part_hi - part_lo) / chunk)))]
            for a, b, part_lo, part_hi in spans(0, starts.size, n_parts or ATTRACTION_PARTS)]


def attractive_parts(Y, parts, *, xp, pool=None):
    """:func:`attractive` over :func:`split`: each part on a thread of ``pool``, its chunks
    summed in order into one array, the parts' arrays summed in their order (NumPy)."""
    Yt = xp.ascontiguousarray(Y.T)
    n_map = pool.map if pool is not None else map
    F = None
    for f in n_map(lambda chunks: _attractive_chunks(Yt, chunks, xp=xp), parts):
        F = f if F is None else F + f
    return F.T


def _attractive_chunks(Yt, chunks, *, xp):
    """:func:`attractive` summed over one part's chunks, ``Yt`` the embedding transposed: the
    rows' gather is a ``repeat`` of each run's row, and their scatter a segmented sum."""
    F = xp.zeros_like(Yt)
    for cols, vals, run_rows, run_starts, run_lengths in chunks:
        dx = xp.repeat(Yt[0].take(run_rows), run_lengths)
        dx -= Yt[0].take(cols)
        dy = xp.repeat(Yt[1].take(run_rows), run_lengths)
        dy -= Yt[1].take(cols)
        w = dx * dx
        w += dy * dy
        w += 1
        xp.divide(vals, w, out=w)
        for d, f in enumerate((dx, dy)):
            f *= w
            F[d][run_rows] += xp.add.reduceat(f, run_starts)
            xp.subtract.at(F[d], cols, f)
    return F


def _row_runs(rows, *, xp):
    """The distinct values of the sorted ``rows`` and where each one's run starts (NumPy)."""
    starts = xp.flatnonzero(xp.concatenate([xp.ones(1, dtype=bool), rows[1:] != rows[:-1]]))
    return rows[starts], starts
