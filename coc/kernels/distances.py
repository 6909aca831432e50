"""Building blocks shared by the kernels: squared distances through matrix products, tiling."""
from __future__ import annotations

from coc.utils.xp import free_bytes, is_numpy

#: Never plan a tile larger than this many bytes of scratch, even when memory is plentiful:
#: on the CPU a larger tile is no faster and a smaller one leaves room for the caller's
#: arrays; on a GPU, tiles must stay large enough that kernel launches do not dominate.
MAX_TILE_BYTES = 256 * 2**20
MAX_DEVICE_TILE_BYTES = 4 * 2**30


def row_norms_sq(X, *, xp):
    """Squared Euclidean norm of each row of ``X``."""
    return xp.einsum("ij,ij->i", X, X)


def sq_distances(A, B, *, xp, A_sq=None, B_sq=None):
    """Squared Euclidean distances between the rows of ``A`` and ``B``, shape (len(A), len(B)).

    Uses ``|a|^2 - 2 a.b + |b|^2`` so that the work is one matrix product; negatives from
    cancellation are clipped to zero.
    """
    if A_sq is None:
        A_sq = row_norms_sq(A, xp=xp)
    if B_sq is None:
        B_sq = row_norms_sq(B, xp=xp)
    D = A @ B.T
    D *= -2
    D += A_sq[:, None]
    D += B_sq[None, :]
    xp.maximum(D, 0, out=D)
    return D


def tile_rows(n_cols: int, itemsize: int, *, xp, n_buffers: int = 3, budget: int | None = None) -> int:
    """How many rows of an (rows, n_cols) scratch array fit the memory budget.

    ``n_buffers`` is how many such arrays the caller keeps alive at once. The budget is a
    quarter of the free memory on ``xp``'s device, capped at :data:`MAX_TILE_BYTES` on the
    CPU and :data:`MAX_DEVICE_TILE_BYTES` on a GPU.
    """
    if budget is None:
        cap = MAX_TILE_BYTES if is_numpy(xp) else MAX_DEVICE_TILE_BYTES
        budget = min(free_bytes(xp) // 4, cap)
    rows = budget // max(1, n_cols * itemsize * n_buffers)
    return int(max(1, rows))
