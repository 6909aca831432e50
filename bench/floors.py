"""Hardware floors for the GPU report: a large matrix product's rate and a large copy's bandwidth.

    python bench/floors.py --backend cupy --out floors.json

Each op's time in a sweep is set against these, measured on the same card in the same run
(issue: "its floor from numbers measured on the same card"). Runs on any backend, so it is
checked on NumPy in CI-free runs too.
"""
from __future__ import annotations

import argparse
import json
import sys

import coc
from coc.io.outputs import atomic_write_json
from coc.utils.timing import time_call


def measure(backend, *, n_matmul: int, copy_bytes: int, repeats: int = 5) -> dict:
    """Matrix-product rate (float32 FLOP/s) and copy bandwidth (bytes read + written per s)."""
    xp = backend.xp
    A = backend.uniform(n_matmul, n_matmul, seed=0, dtype="float32")
    B = backend.uniform(n_matmul, n_matmul, seed=1, dtype="float32")
    t_mm = time_call(lambda: A @ B, sync=backend.synchronize, repeats=repeats).median_s
    A = B = None  # free the operands before the copy test
    x = xp.ones(copy_bytes // 4, dtype=xp.float32)
    t_cp = time_call(lambda: x.copy(), sync=backend.synchronize, repeats=repeats).median_s
    return {
        "backend": backend.name,
        "matmul_n": n_matmul,
        "matmul_flops_per_s": 2 * n_matmul**3 / t_mm,
        "copy_bytes": copy_bytes,
        "copy_bytes_per_s": 2 * copy_bytes / t_cp,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="cupy")
    p.add_argument("--n-matmul", type=int, default=None, help="default: 8192 on a GPU, 2048 on a CPU")
    p.add_argument("--copy-mib", type=int, default=None, help="default: 2048 on a GPU, 256 on a CPU")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    try:
        be = coc.get_backend(args.backend)
    except coc.CocError as e:
        print(f"floors: error: {e}", file=sys.stderr)
        return 2
    n = args.n_matmul or (8192 if be.is_gpu else 2048)
    mib = args.copy_mib or (2048 if be.is_gpu else 256)
    result = measure(be, n_matmul=n, copy_bytes=mib * 2**20)
    print(json.dumps(result, indent=2))
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
