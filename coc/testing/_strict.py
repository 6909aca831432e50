"""The machinery behind :mod:`coc.testing`'s strict namespace: arrays, functions, stand-ins.

Private: use :func:`coc.testing.strict_namespace`. What it exposes is listed in
:mod:`coc.testing._cupy_api`; this module makes those names behave as CuPy's do on NumPy arrays.
"""
from __future__ import annotations

import ast
import inspect

import numpy as np
import psutil

from coc.testing import _cupy_api as api

#: ``cupy.ndarray`` methods and attributes (both CuPy 13 and 14) that coc may use.
NDARRAY_METHODS = frozenset("""
all any argmax argmin argpartition argsort astype clip compress conj copy cumprod cumsum diagonal
dot fill flatten get item max mean min nonzero partition prod ptp put ravel repeat reshape round
searchsorted set sort squeeze std sum swapaxes take tolist trace transpose var view
""".split())
NDARRAY_ATTRIBUTES = frozenset("T shape dtype size ndim itemsize nbytes strides flags real imag base".split())
_SYNC_METHODS = frozenset({"item", "tolist", "get", "nonzero", "compress"})
_REFUSED = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly.")


def _signature(text):
    """An ``inspect.Signature`` from a parameter list such as ``"a, axis=None, *, copy=None"``."""
    names = {"float": float, "float64": np.float64, "int64": np.int64}
    params, kind = [], inspect.Parameter.POSITIONAL_OR_KEYWORD
    for token in (t.strip() for t in text.split(",")):
        if token == "*":
            kind = inspect.Parameter.KEYWORD_ONLY
            continue
        name, _, default = token.partition("=")
        value = inspect.Parameter.empty if not default else (
            names[default] if default in names else ast.literal_eval(default))
        params.append(inspect.Parameter(name, kind, default=value))
    return inspect.Signature(params)


_SIGNATURES = {name: _signature(text) for name, text in api.SIGNATURES.items()}
_GENERATOR_SIGNATURES = {name: _signature(text) for name, text in api.GENERATOR.items()}


def _check_call(label, sig, args, kwargs):
    if sig is None:
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{label}: {e} (CuPy's signature: {sig})") from None


class StrictNamespace:
    """The namespace :func:`strict_namespace` returns; attributes are made on first use."""

    def __init__(self):
        self.__name__ = "coc.testing.strict"
        self.syncs = 0
        self._counters = []
        self.ndarray = StrictArray
        self.random = _Submodule(self, "random", {"default_rng": self._default_rng, "Generator": StrictGenerator})
        self.linalg = _Submodule(self, "linalg", {n: self._function(n, np.linalg) for n in api.LINALG})
        self.fft = _Submodule(self, "fft", {n: self._function(n, np.fft) for n in api.FFT})
        self.cuda = _Cuda(self)
        self._pool = _MemoryPool()

    def __repr__(self):
        return "<coc.testing strict namespace (CuPy's API on NumPy)>"

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in api.UFUNCS:
            value = _Ufunc(self, name)
        elif name in api.FUNCTIONS:
            value = self._function(name, np)
        elif name in api.CONSTANTS:
            value = getattr(np, name)
        else:
            raise AttributeError(f"cupy has no attribute {name!r} (not in CuPy 13 and 14, or not on "
                                 f"coc.testing's list of CuPy functions: coc/testing/_cupy_api.py)")
        setattr(self, name, value)
        return value

    # -- synchronizations -------------------------------------------------------------------
    def _sync(self, what):
        self.syncs += 1
        for counter in self._counters:
            counter.count += 1
            counter.calls.append(what)

    # -- arrays in and out --------------------------------------------------------------------
    def _wrap(self, result, by_id=None):
        if isinstance(result, np.ndarray):
            if by_id and id(result) in by_id:
                return by_id[id(result)]  # out=, or an in-place method: the caller's own array
            return StrictArray(result, self)
        if isinstance(result, np.generic):
            return StrictArray(np.asarray(result), self)  # CuPy returns 0-d arrays, not scalars
        if isinstance(result, (tuple, list)):  # named tuples (eigh, slogdet) become plain ones
            wrapped = [self._wrap(r, by_id) for r in result]
            return wrapped if isinstance(result, list) else tuple(wrapped)
        return result

    def _function(self, name, module):
        func = getattr(module, name)
        label = f"cupy.{'' if module is np else module.__name__.split('.')[-1] + '.'}{name}"
        sig = _SIGNATURES.get(name) if module is np else None
        entrance = name in ("asarray", "array")

        def call(*args, **kwargs):
            _check_call(label, sig, args, kwargs)
            if name in api.SYNC_FUNCTIONS and _synchronizes(name, args, kwargs):
                self._sync(label)
            by_id = {}
            args, kwargs = _unwrap(args, by_id, entrance), _unwrap(kwargs, by_id, entrance)
            if entrance:
                kwargs.pop("blocking", None)
            return self._wrap(func(*args, **kwargs), by_id)

        call.__name__ = call.__qualname__ = name
        return call

    def _default_rng(self, seed=None):
        return StrictGenerator(np.random.default_rng(_unwrap(seed, {}, False)), self)

    def asnumpy(self, a, stream=None, order="C", out=None, *, blocking=True):
        """CuPy's ``asnumpy``: a NumPy copy of ``a`` (one synchronization)."""
        self._sync("cupy.asnumpy")
        host = a._a if isinstance(a, StrictArray) else np.asarray(a)
        if out is not None:
            out[...] = host
            return out
        return np.array(host, order=order)

    def get_array_module(self, *args):
        """This namespace if any argument is one of its arrays, else NumPy (as CuPy's)."""
        return self if any(isinstance(a, StrictArray) for a in args) else np

    def get_default_memory_pool(self):
        """The memory-pool stand-in (always empty: NumPy frees memory as it goes)."""
        return self._pool


def _synchronizes(name, args, kwargs):
    if name == "where":
        return len(args) + len(kwargs) == 1
    if name == "repeat":
        repeats = args[1] if len(args) > 1 else kwargs.get("repeats")
        return isinstance(repeats, StrictArray) and repeats.ndim > 0
    if name == "average":
        return (args[2] if len(args) > 2 else kwargs.get("weights")) is not None
    return True


def _unwrap(obj, by_id, allow_numpy):
    """NumPy arrays from strict ones, through tuples, lists and dicts; NumPy arrays refused."""
    if isinstance(obj, StrictArray):
        by_id[id(obj._a)] = obj
        return obj._a
    if isinstance(obj, np.ndarray) and not allow_numpy:
        raise TypeError(f"Unsupported type {type(obj)} (a NumPy array given to CuPy; "
                        f"move it to the device with xp.asarray)")
    if isinstance(obj, (tuple, list)):
        return type(obj)(_unwrap(o, by_id, allow_numpy) for o in obj)
    if isinstance(obj, dict):
        return {k: _unwrap(v, by_id, allow_numpy) for k, v in obj.items()}
    return obj


def _index(key, ns):
    """An index for NumPy; a boolean-array index counts one synchronization (its size is read)."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for part in parts:
        if isinstance(part, StrictArray):
            part = part._a
        if isinstance(part, np.ndarray) and part.dtype == bool and part.ndim > 0:
            ns._sync("boolean-mask indexing")
        out.append(part)
    return tuple(out) if isinstance(key, tuple) else out[0]


class StrictArray:
    """An array of the strict namespace: a NumPy array behind CuPy's ``ndarray`` interface."""

    __slots__ = ("_a", "_ns")
    __hash__ = None

    def __init__(self, array, ns):
        self._a = array
        self._ns = ns

    def __array__(self, *args, **kwargs):
        raise TypeError(_REFUSED)

    # As CuPy's: a NumPy ufunc or function called on a device array runs CuPy's (here, this
    # namespace's) where there is one, and is a TypeError where there is none.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or ufunc.__name__ not in api.UFUNCS:
            return NotImplemented
        return getattr(self._ns, ufunc.__name__)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        target = self._ns
        submodule = func.__module__.split(".")[1:2]
        if submodule:
            target = getattr(self._ns, submodule[0], None)
        try:
            implementation = getattr(target, func.__name__)
        except AttributeError:
            return NotImplemented
        return implementation(*args, **kwargs)

    def __getattr__(self, name):
        if name in NDARRAY_ATTRIBUTES:
            return self._ns._wrap(getattr(self._a, name))
        if name not in NDARRAY_METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r} (coc.testing "
                                 f"strict namespace: not in CuPy 13 and 14's ndarray)")
        return _Method(self, name)

    # -- synchronizing conversions ------------------------------------------------------------
    def _host(self, what):
        self._ns._sync(what)
        return self._a

    def __bool__(self):
        return bool(self._host("ndarray.__bool__"))

    def __int__(self):
        return int(self._host("ndarray.__int__"))

    def __float__(self):
        return float(self._host("ndarray.__float__"))

    def __complex__(self):
        return complex(self._host("ndarray.__complex__"))

    def __index__(self):
        return self._host("ndarray.__index__").__index__()

    def __repr__(self):
        return repr(self._host("ndarray.__repr__"))

    def __str__(self):
        return str(self._host("ndarray.__str__"))

    def __format__(self, spec):
        return format(self._host("ndarray.__format__")[()] if self._a.ndim == 0 else self._a, spec)

    # -- shape-only --------------------------------------------------------------------------
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (StrictArray(row, self._ns) for row in self._a)

    def __getitem__(self, key):
        return self._ns._wrap(self._a[_unwrap(_index(key, self._ns), {}, True)])

    def __setitem__(self, key, value):
        self._a[_unwrap(_index(key, self._ns), {}, True)] = _unwrap(value, {}, True)


class _Method:
    """A bound ``cupy.ndarray`` method computed by the NumPy array behind it."""

    __slots__ = ("_arr", "_name")

    def __init__(self, arr, name):
        self._arr, self._name = arr, name

    def __call__(self, *args, **kwargs):
        arr, name, ns = self._arr, self._name, self._arr._ns
        sig = _SIGNATURES.get(name)
        if sig is not None and name != "repeat":
            _check_call(f"cupy.ndarray.{name}", sig, (arr,) + args, kwargs)
        if name in _SYNC_METHODS or (name == "repeat" and _synchronizes(name, (arr,) + args, kwargs)):
            ns._sync(f"ndarray.{name}")
        if name == "get":
            return arr._a.copy()
        if name == "set":
            arr._a[...] = np.asarray(args[0])
            return None
        by_id = {id(arr._a): arr}
        result = getattr(arr._a, name)(*_unwrap(args, by_id, False), **_unwrap(kwargs, by_id, False))
        return result if name in ("item", "tolist") else ns._wrap(result, by_id)


def _binary(name):
    def op(self, other):
        if isinstance(other, StrictArray):
            other = other._a
        elif isinstance(other, (np.ndarray, list, tuple)):
            raise TypeError(f"Unsupported type {type(other)}")
        return self._ns._wrap(getattr(self._a, name)(other))
    return op


def _inplace(name):
    def op(self, other):
        getattr(self._a, name)(other._a if isinstance(other, StrictArray) else _unwrap(other, {}, False))
        return self
    return op


def _unary(name):
    return lambda self: self._ns._wrap(getattr(self._a, name)())


for _op in ("add sub mul truediv floordiv mod pow matmul and or xor lshift rshift").split():
    setattr(StrictArray, f"__{_op}__", _binary(f"__{_op}__"))
    setattr(StrictArray, f"__r{_op}__", _binary(f"__r{_op}__"))
    setattr(StrictArray, f"__i{_op}__", _inplace(f"__i{_op}__"))
for _op in ("lt le gt ge eq ne").split():
    setattr(StrictArray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ("neg pos abs invert").split():
    setattr(StrictArray, f"__{_op}__", _unary(f"__{_op}__"))


class _Ufunc:
    """A CuPy ufunc: a call, and ``at``/``reduce``/``accumulate``/``outer`` where CuPy has them."""

    def __init__(self, ns, name):
        self._ns, self.__name__ = ns, name
        self._call = ns._function(name, np)

    def __repr__(self):
        return f"<ufunc 'cupy.{self.__name__}' (coc.testing)>"

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def at(self, a, indices, b=None):
        """In-place unbuffered ``a[indices] op= b``, if CuPy has the scatter kernel for a's dtype."""
        kinds = api.UFUNC_AT.get(self.__name__)
        if kinds is None:
            raise NotImplementedError(f"`{self.__name__}.at` is not supported yet (CuPy)")
        if not isinstance(a, StrictArray):
            raise TypeError(f"cupy.{self.__name__}.at needs a cupy.ndarray, got {type(a)}")
        if a.dtype.char not in kinds:
            raise TypeError(f"cupy.{self.__name__}.at has no kernel for {a.dtype} "
                            f"(CUDA atomics: dtype chars {kinds!r})")
        getattr(np, self.__name__).at(a._a, _unwrap(indices, {}, False), _unwrap(b, {}, False))

    def __getattr__(self, method):
        if method in ("reduce", "accumulate", "outer") and (
                method == "outer" or self.__name__ in ("add", "multiply", "maximum", "minimum")):
            ns, func = self._ns, getattr(getattr(np, self.__name__), method)
            return lambda *args, **kwargs: ns._wrap(func(*_unwrap(args, {}, False), **_unwrap(kwargs, {}, False)))
        raise AttributeError(f"cupy ufunc {self.__name__!r} has no attribute {method!r} (coc.testing)")


class StrictGenerator:
    """``cupy.random.Generator``'s methods, drawn by NumPy's PCG64 generator."""

    def __init__(self, generator, ns):
        self._g, self._ns = generator, ns

    def __getattr__(self, name):
        if name not in api.GENERATOR:
            raise AttributeError(f"'cupy.random.Generator' object has no attribute {name!r} "
                                 f"(CuPy 13/14's Generator lacks it)")
        sig, draw, ns = _GENERATOR_SIGNATURES[name], getattr(self._g, name), self._ns

        def method(*args, **kwargs):
            _check_call(f"cupy.random.Generator.{name}", sig, args, kwargs)
            by_id = {}
            given = _unwrap(dict(sig.bind(*args, **kwargs).arguments), by_id, False)
            # NumPy's uniform and beta have no dtype: draw in float64 and cast, as CuPy's may.
            dtype = given.pop("dtype", None) if name in ("uniform", "beta") else None
            result = draw(**given)
            return ns._wrap(result if dtype is None else result.astype(dtype, copy=False), by_id)

        return method


class _Submodule:
    def __init__(self, ns, name, members):
        self._name, self.__dict__["_members"] = name, members

    def __getattr__(self, name):
        try:
            return self._members[name]
        except KeyError:
            raise AttributeError(f"cupy.{self._name} has no attribute {name!r} (coc.testing strict "
                                 f"namespace)") from None


class _MemoryPool:
    """``cupy.get_default_memory_pool()``'s stand-in: a pool that never holds a block."""

    def free_all_blocks(self):
        """Nothing to free."""

    def used_bytes(self):
        return 0

    total_bytes = free_bytes = used_bytes


class OutOfMemoryError(MemoryError):
    """``cupy.cuda.memory.OutOfMemoryError``'s stand-in (CuPy's subclasses MemoryError too)."""


class _Stream:
    def __init__(self, ns):
        self._ns = ns

    def synchronize(self):
        """Wait for the queue: one host synchronization."""
        self._ns._sync("Stream.synchronize")


class _Device:
    """``cupy.cuda.Device``: device 0; its ``synchronize`` is not counted (coc syncs streams)."""

    def __init__(self, device=0):
        self.id = int(device)

    def synchronize(self):
        """A no-op here: NumPy has no queue."""


class _Cuda:
    """``cupy.cuda``'s stand-in: memory, one device, the current stream, the OOM error."""

    def __init__(self, ns):
        self.Device = _Device
        self.runtime = _Submodule(ns, "cuda.runtime", {
            "memGetInfo": _mem_get_info, "getDeviceCount": lambda: 1,
            "getDeviceProperties": lambda device: {"name": b"coc.testing strict namespace (NumPy)"}})
        self.memory = _Submodule(ns, "cuda.memory", {"OutOfMemoryError": OutOfMemoryError})
        stream = _Stream(ns)
        self.get_current_stream = lambda: stream


def _mem_get_info():
    """``(free, total)`` bytes: the host's available and total memory."""
    vm = psutil.virtual_memory()
    return int(vm.available), int(vm.total)
