"""The KMeans assignment step on NumPy, in row tiles held in the cache, on the BLAS's threads.

:func:`coc.kernels.kmeans._assign` is the one code path of NumPy and CuPy; this is NumPy's
faster twin of it, used by :mod:`coc.kernels.kmeans` when ``xp`` is NumPy. Per tile of rows:

1. one BLAS product of the tile with ``-2 C^T`` (the fast orientation for few centers),
   written (k, rows) while ``|c|^2`` is added, in a single pass, and its minimum over the k
   contiguous rows;
2. the labels. On a first call, the one-hot where a row equals its minimum, and the label
   as the one-hot's product with 0..k-1 (NumPy's ``argmin`` along a short axis costs tens of
   nanoseconds a row); a row with a tie, rare, takes ``argmin``'s lowest index. Given the
   last labels, a point keeps its label unless another center is strictly nearer: one
   gather of the distance to its center, compared with the minimum, and ``argmin`` on the
   rows that moved alone (after the first iterations a percent or two of them).

The cluster sums (float64): on a first call the one-hot's product with each tile; given the
last sums, an update by the points that changed cluster alone, taken from each tile while it
is in the cache and added by one product per batch (after the first iterations few points
move, so that costs far less than summing every point again, and float64 keeps the updates
free of drift). Each NumPy call has a fixed cost of microseconds, so the work per tile is
kept to a few calls.

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

import numpy as np

#: Bytes per row tile of X (16,384 rows of 32 float32). Measured on a 2-core EPYC VM
#: (bench/kmeans_cpu.py, 512 KiB of L2 a core, 32 MiB of L3) with the first threaded version
#: of this module, per iteration at 1e6 x 32 against scikit-learn: 2 MiB tiles ran 0.8-0.9x
#: on one thread and 0.7-0.8x on two, where 512 KiB tiles ran 0.7x and 0.5x; 4 and 8 MiB
#: gained nothing clear.
HOST_TILE_BYTES = 2**21
#: A tile where more than one row in this many moved takes every row's label by the one-hot
#: (a few fast passes) rather than ``argmin`` on the moved rows (tens of nanoseconds a row).
MANY_MOVED = 8
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


def assign_host(X, x_sq, centers, *, rows, sums=False, previous=None, squared=True, threads=1):
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
    previous : tuple or None
        The labels, sums and counts of the last call. Its labels are then updated in place
        and returned: a point keeps its label unless another center is strictly nearer (on an
        exact tie it keeps it, where a fresh call takes the lowest index), and the sums are
        updated by the points that changed cluster.
    threads : int
        Blocks of rows run side by side (:func:`host_threads`).

    Returns
    -------
    labels : np.ndarray of int32
        (half the bytes of int64 to read and write each iteration; widened by the caller)
    min_sq : np.ndarray of X's dtype
    totals : np.ndarray of shape (k, dim), float64, or None
    counts : np.ndarray of shape (k,), int64, or None
    n_moved : int
        The points whose label changed (all of them without ``previous``).
    """
    n = X.shape[0]
    k = centers.shape[0]
    rows = min(rows, n)  # buffers no larger than X: small inputs are many calls of little work
    if previous is None:
        labels = np.empty(n, dtype=np.int32)
    else:
        labels = previous[0]
    min_sq = np.empty(n, dtype=X.dtype)
    block = _assign_block(X, x_sq if squared else None, centers, labels, min_sq, rows=rows,
                          sums=sums, fresh=previous is None)
    # blocks of whole tiles, one a thread (a tile more for the first blocks)
    per = rows * -(-n // (rows * threads))
    edges = [(start, min(start + per, n)) for start in range(0, n, per)]
    parts = list(_pool(threads, os.getpid()).map(block, edges)) if len(edges) > 1 else [block(edges[0])]
    n_moved = n if previous is None else sum(part[2] for part in parts)
    if not sums:
        return labels, min_sq, None, None, n_moved
    totals = sum(part[0] for part in parts)
    if previous is None:
        return labels, min_sq, totals, np.bincount(labels, minlength=k), n_moved
    counts = previous[2] + sum(part[1] for part in parts)
    return labels, min_sq, previous[1] + totals, counts, n_moved


def _assign_block(X, x_sq, centers, labels, min_sq, *, rows, sums, fresh):
    """The work of one thread, as a function of its (start, stop) rows.

    It writes ``labels`` (afresh, or in place where a point moved) and ``min_sq`` (squared
    distances, or without ``x_sq`` the minima of ``|c|^2 - 2 x.c``), and returns
    the block's share of the sums: the float64 totals of its points (``fresh``) or their change
    by its moved points, the change of the counts (None when ``fresh``), and how many moved.
    """
    k, dim = centers.shape
    dt = X.dtype
    minus_2ct = np.ascontiguousarray(-2 * centers.T)
    c_sq = np.einsum("ij,ij->i", centers, centers)[:, None]
    index_and_ones = np.stack([np.arange(k, dtype=dt), np.ones(k, dtype=dt)])

    def run(edges):
        block_start, block_stop = edges
        products = np.empty((rows, k), dtype=dt)
        G_buf = np.empty((k, rows), dtype=dt)
        equal_buf = np.empty((k, rows), dtype=bool)
        onehot_buf = np.empty((k, rows), dtype=dt)
        if not fresh:
            # int32 positions in the (k, rows) tile: k * rows is far below 2**31
            G_flat, flat, at_old = G_buf.reshape(-1), np.empty(rows, np.int32), np.empty(rows, dt)
            nearer, full = np.empty(rows, dtype=bool), np.empty(rows, dtype=np.int32)
            column = np.arange(rows, dtype=np.int32)
        totals = np.zeros((k, dim)) if sums else None
        counts = np.zeros(k, dtype=np.int64) if sums and not fresh else None
        moves = _Moves(totals, counts)
        for start in range(block_start, block_stop, rows):
            stop = min(start + rows, block_stop)
            m = stop - start
            Xt = X[start:stop]
            G = G_buf[:, :m]
            np.add(np.matmul(Xt, minus_2ct, out=products[:m]).T, c_sq, out=G)
            best, lab = min_sq[start:stop], labels[start:stop]
            np.min(G, axis=0, out=best)
            if fresh:
                onehot = onehot_buf[:, :m]
                _labels_from_minimum(G, best, lab, onehot, equal_buf[:, :m], index_and_ones)
                if sums:
                    totals += onehot @ Xt
            else:
                # the distance to the point's center against the minimum: only the rows where
                # another center is strictly nearer need an argmin (after the first iterations,
                # a percent or two of them)
                np.multiply(lab, rows, out=flat[:m])
                flat[:m] += column[:m]
                np.take(G_flat, flat[:m], out=at_old[:m])
                rows_moved = np.flatnonzero(np.greater(at_old[:m], best, out=nearer[:m]))
                if rows_moved.size:
                    if rows_moved.size * MANY_MOVED > m:  # early on: all labels, then the moved
                        _labels_from_minimum(G, best, full[:m], onehot_buf[:, :m], equal_buf[:, :m],
                                             index_and_ones)
                        to = full[rows_moved]
                    else:  # argmin along the short axis: slow a row, but on few rows
                        to = np.argmin(G[:, rows_moved], axis=0)
                    moves.add(to, lab[rows_moved], np.take(Xt, rows_moved, axis=0))
                    lab[rows_moved] = to
            if x_sq is not None:  # |x|^2, the same for every center: added to the minimum only
                best += x_sq[start:stop]
                np.maximum(best, 0, out=best)
        moves.flush()
        return totals, counts, moves.n

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


class _Moves:
    """The points of one block that changed cluster, added to the sums a batch at a time.

    Each tile hands over its moved rows while they are still in the cache (gathered later,
    from memory, they would cost a cache miss each); a batch is added to ``totals`` and
    ``counts`` by one product once it holds :attr:`LIMIT` rows (a tile with that many moves
    makes a batch of its own, not copied again), and at the end. Without ``totals``, the
    moves are only counted.
    """

    LIMIT = 4096

    def __init__(self, totals, counts):
        self.totals, self.counts = totals, counts
        self.batch, self.held, self.n = [], 0, 0

    def add(self, to, came, points):
        """Points that moved from clusters ``came`` to ``to``."""
        self.n += to.size
        if self.totals is None:
            return
        self.batch.append((to, came, points))
        self.held += to.size
        if self.held >= self.LIMIT:
            self.flush()

    def flush(self):
        if not self.batch:
            return
        to, came, points = (parts[0] if len(parts) == 1 else np.concatenate(parts)
                            for parts in zip(*self.batch))
        self.batch, self.held = [], 0
        k = self.totals.shape[0]
        delta = np.zeros((k, to.size), dtype=points.dtype)  # +1 where a point came, -1 where it left
        cols = np.arange(to.size)
        delta[to, cols] = 1
        delta[came, cols] -= 1
        self.totals += delta @ points
        self.counts += np.bincount(to, minlength=k)
        self.counts -= np.bincount(came, minlength=k)
