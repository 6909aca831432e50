"""What CuPy 13 and 14 implement, and which of their calls synchronize: data for :mod:`coc.testing`.

Read from CuPy's own sources at the tags ``v13.6.0`` and ``v14.2.0`` (github.com/cupy/cupy):
the names exported by ``cupy/__init__.py``, ``cupy/linalg/__init__.py`` and
``cupy/fft/__init__.py`` in both releases (the API reference and the NumPy/CuPy comparison
table, docs/source/reference/comparison.rst, are generated from them), the methods of
``cupy/random/_generator_api.pyx::Generator``, and the functions whose docstrings warn
"This function may synchronize the device" or that read a device value back
(``cupy/_statistics/histogram.py::bincount``: ``int(cupy.max(x))``,
``cupy/_core/_routines_indexing.pyx::_prepare_mask_indexing_single``: ``int(mask_scanned[-1])``).

The lists hold the part of CuPy that coc could plausibly call, not all of it; a name missing
here that CuPy has is added with its CuPy signature when coc needs it.
"""
from __future__ import annotations

# Functions of the ``cupy`` namespace present in both CuPy 13.6 and 14.2 (and in NumPy).
FUNCTIONS = frozenset("""
abs absolute add all allclose amax amin any arange arccos arcsin arctan arctan2 argmax argmin
argpartition argsort argwhere around array array_equal array_split asarray ascontiguousarray
atleast_1d atleast_2d average bincount broadcast_arrays broadcast_to ceil clip column_stack
compress concatenate copy corrcoef cos cosh count_nonzero cov cross cumprod cumsum deg2rad diag
diagonal diff digitize divide dot dstack einsum empty empty_like equal exp exp2 expand_dims expm1
extract eye fabs flatnonzero flip fliplr flipud floor floor_divide fmax fmin fmod full full_like
greater greater_equal histogram hstack hypot identity inner isclose isfinite isin isinf isnan
isscalar kron less less_equal lexsort linspace log log10 log1p log2 logaddexp logical_and
logical_not logical_or logical_xor matmul max maximum mean median meshgrid min minimum mod
moveaxis multiply nan_to_num nanargmax nanargmin nanmax nanmean nanmin nanstd nansum nanvar
negative nonzero not_equal ones ones_like outer pad partition percentile power prod ptp
quantile rad2deg ravel reciprocal remainder repeat reshape result_type rint roll rot90 round
searchsorted sign sin sinh sort split sqrt square squeeze stack std subtract sum swapaxes take
take_along_axis tan tanh tensordot tile trace transpose tril triu true_divide trunc unique
unravel_index var vdot vstack where zeros zeros_like
""".split())

#: Of FUNCTIONS, the ufuncs (they take ``out=`` and have ``.at``/``.reduce``/``.outer``).
UFUNCS = frozenset("""
abs absolute add arccos arcsin arctan arctan2 ceil cos cosh deg2rad divide equal exp exp2 expm1
fabs floor floor_divide fmax fmin fmod greater greater_equal hypot isfinite isinf isnan less
less_equal log log10 log1p log2 logaddexp logical_and logical_not logical_or logical_xor maximum
minimum mod multiply negative not_equal power rad2deg reciprocal remainder rint sign sin sinh
sqrt square subtract tan tanh true_divide trunc
""".split())

#: ``ufunc.at`` exists only where CuPy has a scatter kernel (``scatter_op=`` in cupy/_core),
#: with the dtypes of CUDA's atomics: atomicSub takes 32-bit integers only.
UFUNC_AT = {"add": "fdiuHe", "subtract": "iI", "maximum": "fdiu", "minimum": "fdiu"}

#: Non-callable names: dtypes, constants, and types.
CONSTANTS = frozenset("""
bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 complex64
complex128 intp uintp dtype finfo iinfo inf nan pi e newaxis integer floating number
""".split())

LINALG = frozenset("cholesky qr svd eigh eigvalsh norm det slogdet solve lstsq inv pinv "
                   "matrix_power matrix_rank tensorsolve tensorinv".split())
FFT = frozenset("fft ifft fft2 ifft2 fftn ifftn rfft irfft rfft2 irfft2 rfftn irfftn hfft ihfft "
                "fftfreq rfftfreq fftshift ifftshift".split())

#: ``cupy.random.Generator``'s methods (cupy/random/_generator_api.pyx), with their signatures:
#: no ``normal``, ``choice``, ``permutation``, ``shuffle``, ``permuted``, ``bytes``... as NumPy's has.
GENERATOR = {
    "random": "size=None, dtype=float64, out=None",
    "uniform": "low=0.0, high=1.0, size=None, dtype=float64",
    "integers": "low, high=None, size=None, dtype=int64, endpoint=False",
    "standard_normal": "size=None, dtype=float64, out=None",
    "standard_exponential": "size=None, dtype=float64, method='inv', out=None",
    "standard_gamma": "shape, size=None, dtype=float64, out=None",
    "exponential": "scale=1.0, size=None", "gamma": "shape, scale=1.0, size=None",
    "beta": "a, b, size=None, dtype=float64", "binomial": "n, p, size=None",
    "chisquare": "df, size=None", "dirichlet": "alpha, size=None", "f": "dfnum, dfden, size=None",
    "geometric": "p, size=None", "hypergeometric": "ngood, nbad, nsample, size=None",
    "logseries": "p, size=None", "poisson": "lam=1.0, size=None", "power": "a, size=None",
}

#: CuPy's signatures where they are narrower than NumPy's (no ``where=``, ``initial=``,
#: ``kind=``, ``like=``, ``device=``...). Functions not listed take NumPy's arguments.
SIGNATURES = {
    "where": "condition, x=None, y=None",
    "arange": "start, stop=None, step=1, dtype=None",
    "asarray": "a, dtype=None, order=None, *, copy=None, blocking=False",
    "zeros": "shape, dtype=float, order='C'", "empty": "shape, dtype=float, order='C'",
    "ones": "shape, dtype=float, order='C'", "full": "shape, fill_value, dtype=None, order='C'",
    "zeros_like": "a, dtype=None, order='K', subok=None, shape=None",
    "ones_like": "a, dtype=None, order='K', subok=None, shape=None",
    "empty_like": "prototype, dtype=None, order='K', subok=None, shape=None",
    "full_like": "a, fill_value, dtype=None, order='K', subok=None, shape=None",
    "concatenate": "tup, axis=0, out=None, *, dtype=None, casting='same_kind'",
    "stack": "tup, axis=0, out=None, *, dtype=None, casting='same_kind'",
    "take": "a, indices, axis=None, out=None", "take_along_axis": "a, indices, axis",
    "unique": "ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *, "
              "equal_nan=True",
    "bincount": "x, weights=None, minlength=None",
    "sum": "a, axis=None, dtype=None, out=None, keepdims=False",
    "prod": "a, axis=None, dtype=None, out=None, keepdims=False",
    "mean": "a, axis=None, dtype=None, out=None, keepdims=False",
    "var": "a, axis=None, dtype=None, out=None, ddof=0, keepdims=False",
    "std": "a, axis=None, dtype=None, out=None, ddof=0, keepdims=False",
    "max": "a, axis=None, out=None, keepdims=False", "min": "a, axis=None, out=None, keepdims=False",
    "amax": "a, axis=None, out=None, keepdims=False", "amin": "a, axis=None, out=None, keepdims=False",
    "all": "a, axis=None, out=None, keepdims=False", "any": "a, axis=None, out=None, keepdims=False",
    "argmax": "a, axis=None, dtype=None, out=None, keepdims=False",
    "argmin": "a, axis=None, dtype=None, out=None, keepdims=False",
    "cumsum": "a, axis=None, dtype=None, out=None", "cumprod": "a, axis=None, dtype=None, out=None",
    "count_nonzero": "a, axis=None", "argsort": "a, axis=-1, kind=None",
    "sort": "a, axis=-1, kind=None", "argpartition": "a, kth, axis=-1", "partition": "a, kth, axis=-1",
    "searchsorted": "a, v, side='left', sorter=None", "repeat": "a, repeats, axis=None",
    "clip": "a, a_min, a_max, out=None", "dot": "x, y, out=None",
    "linspace": "start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0",
    "isin": "element, test_elements, assume_unique=False, invert=False",
    "diff": "a, n=1, axis=-1, prepend=None, append=None",
}

#: Functions that read a value back to the host (their output's size or a check depends on
#: the data). ``where`` synchronizes only with one argument, ``repeat`` with array repeats,
#: ``average`` with weights: :mod:`coc.testing` counts those cases only.
SYNC_FUNCTIONS = frozenset("""
unique nonzero argwhere flatnonzero compress extract bincount histogram unravel_index nanmin nanmax
where repeat average
""".split())
