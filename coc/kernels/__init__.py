"""coc's own array kernels: one code body for NumPy and CuPy, the namespace passed as ``xp``."""
