"""The KMeans assignment step on NumPy, in row tiles held in the cache, on the BLAS's threads.

:func:`coc.kernels.kmeans._assign` is the one code path of NumPy and CuPy; this is NumPy's
faster twin of it, used by :mod:`coc.kernels.kmeans` when ``xp`` is NumPy. Per tile of rows:

1. one BLAS product of the tile with ``-2 C^T`` (the fast orientation for few centers),
   written (k, rows) while ``|c|^2`` is added, in a single pass, and its minimum over the k
   contiguous rows;
2. on a first call, the labels: the one-hot where a row equals its minimum, and the label
   as the one-hot's product with 0..k-1 (NumPy's ``argmin`` along a short axis costs tens of
   nanoseconds a row); a row with a tie, rare, takes ``argmin``'s lowest index. The cluster
   sums (float64) are the one-hot's product with the tile;
3. given the last call's :class:`Assignment`, only a test: a point keeps its label unless
   another center is strictly nearer. Its distance to its own center is one gather from
   the tile's distances, at the position the last call kept for it (``code``), compared
   with the minimum, into a mask over the block.

After its tiles, each block relabels the points that moved (after the first iterations a
percent or two of them) a tile's worth at a time: it reads their rows again, labels them as
a first call labels a tile, and updates the sums by one product of the change, +1 where a
point came and -1 where it left (the products in X's dtype, added into float64 sums). Each
NumPy call has a fixed cost of microseconds, and on two threads the calls also take turns at
the GIL, so this is done once a block rather than once a tile, and the work per tile is kept
to five calls (seven where the squared distances are asked for).

Threads: as many as the BLAS may use (:func:`host_threads`; ``threadpoolctl`` limits are
honoured), each over its own contiguous block of rows, the BLAS held to one thread meanwhile.
NumPy's products and ufuncs release the GIL, so the blocks run side by side (1.4x to 1.6x
faster on two cores at 1e6 x 32); small inputs stay on one thread, where handing work to the
pool costs more than it saves.
"""
from __future__ import annotations

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

#: Bytes per row tile of X (16,384 rows of 32 float32). Measured on a 2-core EPYC VM
#: (bench/kmeans_cpu.py, 512 KiB of L2 a core, 32 MiB of L3) with the first threaded version
#: of this module, per iteration at 1e6 x 32 against scikit-learn: 2 MiB tiles ran 0.8-0.9x
#: on one thread and 0.7-0.8x on two, where 512 KiB tiles ran 0.7x and 0.5x; 4 and 8 MiB
#: gained nothing clear. On a later 2-core EPYC VM (1 MiB of L2 a core), commit 3e061c5's
#: kernel, a steady iteration at 1e6 x 32 (a scratch A/B in one session, two threads / one):
#: 0.5 MiB 13.7 / 18.2 ms, 1 MiB 10.1 / 15.9, 2 MiB 9.4 / 15.3, 4 MiB 9.7 / 16.1.
HOST_TILE_BYTES = 2**21
#: X smaller than this (bytes) is assigned on one thread.
PARALLEL_BYTES = 2**23


def tile_rows_host(dim: int, k: int, itemsize: int, *, budget_rows: int) -> int:
    """Rows per tile so that the tile and its distances fit :data:`HOST_TILE_BYTES`."""
    return int(max(256, min(budget_rows, HOST_TILE_BYTES // (max(dim, k) * itemsize))))


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@functools.cache
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    # keyed by the process too: a forked child inherits the pool but none of its threads
    return ThreadPoolExecutor(threads, thread_name_prefix="coc-kmeans")


@contextlib.contextmanager
def host_threads(X):
    """Threads for :func:`assign_host` on ``X``: the BLAS's own count, or 1 for a small ``X``.

    While the context is open and the count is above 1, the BLAS is held to one thread, so
    that the blocks' products do not each start a team of their own.
    """
    threads = 1
    if X.nbytes >= PARALLEL_BYTES:
        blas = _controller().select(user_api="blas")
        threads = max([lib["num_threads"] for lib in blas.info()] or [1])
    if threads <= 1:
        yield 1
        return
    with _controller().limit(limits=1, user_api="blas"):
        yield threads


class Assignment(NamedTuple):
    """What :func:`assign_host` found; given back to it as ``previous`` on the next call.

    Attributes
    ----------
    labels : np.ndarray of int32
        Nearest center of each point (half the bytes of int64 to read and write each
        iteration; widened by the caller).
    min_sq : np.ndarray of X's dtype
        Squared distance to it (or, with ``squared=False``, the minimum of ``|c|^2 - 2 x.c``).
    sums : np.ndarray of shape (k, dim), float64, or None
        Cluster sums (with ``sums=True``).
    counts : np.ndarray of shape (k,), int64, or None
        Cluster sizes (with ``sums=True``).
    n_moved : int
        The points whose label changed (all of them on a first call).
    code : np.ndarray of int32 (int64 where k * rows reaches 2**31)
        Each point's position in its tile's (k, rows) distances at its label:
        ``label * rows + row in the tile``.
    rows : int
        The rows per tile that ``code`` counts in; a next call must tile the same way.
    """

    labels: np.ndarray
    min_sq: np.ndarray
    sums: np.ndarray | None
    counts: np.ndarray | None
    n_moved: int
    code: np.ndarray
    rows: int


def assign_host(X, x_sq, centers, *, rows, sums=False, previous=None, squared=True,
                threads=1) -> Assignment:
    """Nearest center of each point, its squared distance and (optionally) the cluster sums.

    Parameters
    ----------
    X : np.ndarray of shape (n, dim)
        Float32 or float64 points; float32 stays float32 throughout.
    x_sq : np.ndarray of shape (n,)
        Squared norms of the rows of ``X``.
    centers : np.ndarray of shape (k, dim)
    rows : int
        Rows per tile (:func:`tile_rows_host`).
    sums : bool
        Also return the cluster sums (float64) and counts (int64).
    squared : bool
        Return the squared distances; without, the minima of ``|c|^2 - 2 x.c`` (``|x|^2``
        left out, a pass saved where only the labels and sums are wanted).
    previous : Assignment or None
        The last call's result, with the same ``rows`` (and ``sums`` if this call has it).
        Its labels and code are then updated in place and returned: a point keeps its label
        unless another center is strictly nearer (on an exact tie it keeps it, where a fresh
        call takes the lowest index), and the sums are updated by the points that changed
        cluster.
    threads : int
        Blocks of rows run side by side (:func:`host_threads`).

    Returns
    -------
    Assignment
    """
    n = X.shape[0]
    k = centers.shape[0]
    rows = min(rows, n)  # buffers no larger than X: small inputs are many calls of little work
    if previous is None:
        code_dtype = np.int32 if k * rows < 2**31 else np.intp
        labels, code = np.empty(n, dtype=np.int32), np.empty(n, dtype=code_dtype)
    else:
        if previous.rows != rows:
            raise ValueError(f"previous was tiled in {previous.rows} rows, this call in {rows}")
        labels, code = previous.labels, previous.code
    min_sq = np.empty(n, dtype=X.dtype)
    block = _assign_block(X, x_sq if squared else None, centers, labels, code, min_sq,
                          rows=rows, sums=sums, fresh=previous is None)
    # blocks of whole tiles, one a thread (a tile more for the first blocks); every tile
    # starts at a multiple of ``rows``, so a point's row in its tile is its index mod rows
    per = rows * -(-n // (rows * threads))
    edges = [(start, min(start + per, n)) for start in range(0, n, per)]
    parts = list(_pool(threads, os.getpid()).map(block, edges)) if len(edges) > 1 else [block(edges[0])]
    n_moved = n if previous is None else sum(part[2] for part in parts)
    if not sums:
        return Assignment(labels, min_sq, None, None, n_moved, code, rows)
    totals = sum(part[0] for part in parts)
    if previous is None:
        return Assignment(labels, min_sq, totals, np.bincount(labels, minlength=k), n_moved, code,
                          rows)
    counts = previous.counts + sum(part[1] for part in parts)
    return Assignment(labels, min_sq, previous.sums + totals, counts, n_moved, code, rows)


def _assign_block(X, x_sq, centers, labels, code, min_sq, *, rows, sums, fresh):
    """The work of one thread, as a function of its (start, stop) rows.

    It writes ``labels`` and ``code`` (afresh, or in place where a point moved) and
    ``min_sq`` (squared distances, or without ``x_sq`` the minima of ``|c|^2 - 2 x.c``), and
    returns the block's share of the sums: the float64 totals of its points (``fresh``) or
    their change by its moved points, the change of the counts (None when ``fresh``), and how
    many moved.
    """
    k, dim = centers.shape
    dt = X.dtype
    minus_2ct = np.ascontiguousarray(-2 * centers.T)
    c_sq = np.einsum("ij,ij->i", centers, centers)
    index_and_ones = np.stack([np.arange(k, dtype=dt), np.ones(k, dtype=dt)])
    center_index = np.arange(k, dtype=np.int32)[:, None]

    def run(edges):
        block_start, block_stop = edges
        products = np.empty((rows, k), dtype=dt)
        G_buf = np.empty((k, rows), dtype=dt)
        equal_buf = np.empty((k, rows), dtype=bool)
        onehot_buf = np.empty((k, rows), dtype=dt)

        def distances(points, best):
            """The (k, m) ``|c|^2 - 2 x.c`` of the rows ``points``; their minimum into ``best``."""
            m = points.shape[0]
            G = G_buf[:, :m]
            np.add(np.matmul(points, minus_2ct, out=products[:m]).T, c_sq[:, None], out=G)
            np.min(G, axis=0, out=best)
            return G

        def label(G, best, lab):
            """Each column's label into ``lab``; returns their one-hot (k, m)."""
            m = G.shape[1]
            _labels_from_minimum(G, best, lab, onehot_buf[:, :m], equal_buf[:, :m], index_and_ones)
            return onehot_buf[:, :m]

        totals = np.zeros((k, dim)) if sums else None
        if fresh:
            column = np.arange(rows, dtype=np.int32)
        else:
            G_flat, at_old = G_buf.reshape(-1), np.empty(rows, dtype=dt)
            nearer = np.empty(block_stop - block_start, dtype=bool)
        for start in range(block_start, block_stop, rows):
            stop = min(start + rows, block_stop)
            m = stop - start
            best = min_sq[start:stop]
            G = distances(X[start:stop], best)
            if fresh:
                lab = labels[start:stop]
                onehot = label(G, best, lab)
                np.add(np.multiply(lab, rows, out=code[start:stop], dtype=code.dtype), column[:m],
                       out=code[start:stop])
                if sums:
                    totals += onehot @ X[start:stop]
            else:
                # the distance to the point's center against the minimum: only where another
                # center is strictly nearer did the point move ("clip": the codes are valid,
                # and NumPy buffers ``out`` in the default mode)
                np.take(G_flat, code[start:stop], out=at_old[:m], mode="clip")
                np.greater(at_old[:m], best, out=nearer[start - block_start:stop - block_start])
            if x_sq is not None:  # |x|^2, the same for every center: added to the minimum only
                best += x_sq[start:stop]
                np.maximum(best, 0, out=best)
        if fresh:
            return totals, None, block_stop - block_start
        # the moved points, a tile's worth at a time: their rows read again, labelled as a
        # tile's are, and the sums changed by one product (+1 where a point came, -1 where it
        # left). A point found nearest its own center again (its rows' product can round an
        # ulp apart from its tile's) stays and is not counted.
        counts = np.zeros(k, dtype=np.int64) if sums else None
        moved = np.flatnonzero(nearer)
        moved += block_start
        n_moved = 0
        best, to = np.empty(rows, dtype=dt), np.empty(rows, dtype=np.int32)
        for first in range(0, moved.size, rows):
            idx = moved[first:first + rows]
            m = idx.size
            points = np.take(X, idx, axis=0)
            onehot = label(distances(points, best[:m]), best[:m], to[:m])
            came = labels[idx]
            n_moved += m - np.count_nonzero(to[:m] == came)
            labels[idx] = to[:m]
            code[idx] = to[:m].astype(code.dtype, copy=False) * rows + idx % rows
            if sums:
                onehot -= np.equal(center_index, came)
                totals += onehot @ points
                counts += np.bincount(to[:m], minlength=k)
                counts -= np.bincount(came, minlength=k)
        return totals, counts, n_moved

    return run


def _labels_from_minimum(G, best, lab, onehot, equal, index_and_ones):
    """Each column's label (the row of G equal to ``best``), and the one-hot of the labels."""
    # compare into booleans, then cast: a ufunc writing another dtype goes through buffers
    np.copyto(onehot, np.equal(G, best, out=equal))
    lab_and_hits = index_and_ones @ onehot  # each row's label, and how many centers tie
    lab[...] = lab_and_hits[0]
    if lab_and_hits[1].sum() > lab.shape[0]:  # every row hits its minimum once, but for ties
        lab[...] = np.argmin(G, axis=0)  # argmin's choice, and its one-hot
        np.copyto(onehot, index_and_ones[0][:, None] == lab)
