"""Reading a user's embeddings from a file, safely.

Formats: ``.npy``; ``.npz`` (its one array, or the one named by ``key``); ``.csv`` and ``.tsv``
(numbers only, one header line allowed); ``.parquet`` (one list or fixed-size-list column, or
numeric columns; needs the optional pyarrow). Loading never executes a pickle: NumPy files are
opened with ``allow_pickle=False``. Every problem with the file is a :class:`CocError` whose
message names the file, so the CLI prints one line and exits 2.
"""
from __future__ import annotations

import errno
import math
import os
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np

from coc.utils.validation import CocError, max_magnitude

#: Fewest points worth analyzing.
MIN_POINTS = 10
SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")


def load_embeddings(path, *, key: str | None = None, min_points: int = MIN_POINTS) -> np.ndarray:
    """Load a 2-D array of embeddings (one row per point) from ``path``.

    Parameters
    ----------
    path : str or Path
        A ``.npy``, ``.npz``, ``.csv``, ``.tsv`` or ``.parquet`` file.
    key : str, optional
        The array of an ``.npz`` holding several, or the column of a ``.parquet`` file.
    min_points : int
        Fewer rows than this is an error.

    Returns
    -------
    np.ndarray of shape (n_samples, dim)
        float32 stays float32; any other numeric type becomes float64.

    Raises
    ------
    CocError
        A missing or unreadable file (saying why: no such file, symlink loop, permission
        denied, a folder), an unknown suffix, a file that is not what its suffix says, a
        pickle, a header claiming more data than the file holds, an empty, non-numeric or
        not 2-D array, NaN or inf (saying in how many rows), values so large that squared
        distances overflow, or fewer than ``min_points`` rows.
    """
    path = Path(path)
    size = _check_readable_file(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise CocError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of {', '.join(SUFFIXES)}")
    if size == 0:
        raise CocError(f"{path}: the file is empty")
    if key is not None and suffix not in (".npz", ".parquet"):
        raise CocError(f"--key applies to .npz and .parquet files, not {suffix}")
    reader = {".npy": _read_npy, ".npz": _read_npz, ".csv": _read_text, ".tsv": _read_text,
              ".parquet": _read_parquet}[suffix]
    X = reader(path, key)
    return check_embeddings(X, name=str(path), min_points=min_points)


def check_embeddings(X, *, name: str = "embeddings", min_points: int = MIN_POINTS) -> np.ndarray:
    """Check a host array as :func:`load_embeddings` does and return it as float."""
    X = np.asarray(X)
    if X.dtype.kind not in "fiu":
        raise CocError(f"{name}: expected numbers, got an array of dtype {X.dtype}")
    if X.size == 0:
        raise CocError(f"{name}: the array is empty (shape {X.shape})")
    if X.ndim != 2:
        raise CocError(
            f"{name}: expected a 2-D array (n_samples, dim), got {X.ndim}-D of shape {X.shape}"
            + ("; reshape a single embedding to (1, dim), or many scalars to (n, 1)" if X.ndim == 1 else "")
        )
    if X.dtype != np.float32:
        X = X.astype(np.float64)
    bad = ~np.isfinite(X).all(axis=1)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        first = int(np.flatnonzero(bad)[0])
        raise CocError(f"{name}: NaN or inf in {n_bad} of {X.shape[0]} rows (first at row {first})")
    if X.shape[0] < min_points:
        raise CocError(f"{name}: {X.shape[0]} points; at least {min_points} are needed")
    # The limit of the array's own dtype: float32 data are analyzed in float32.
    limit = max_magnitude(X.dtype, X.shape[1], xp=np)
    biggest = float(np.max(np.abs(X)))
    if biggest > limit:
        raise CocError(f"{name}: values up to {biggest:.3g}: squared distances in {X.shape[1]} "
                       f"dimensions would overflow {X.dtype} (keep |x| below {limit:.3g}; rescale the data)")
    return X


# -- the file itself ---------------------------------------------------------------------
def _os_reason(e: OSError) -> str:
    if e.errno == errno.ENOENT:
        return "no such file"
    if e.errno == errno.ELOOP:
        return "symlink loop (following its links never reaches a file)"
    if e.errno == errno.EISDIR:
        return "is a folder, not a file"
    return e.strerror.lower() if e.strerror else str(e)


def _check_readable_file(path: Path) -> int:
    """The size of ``path`` once it is known to be a regular file we may read; else CocError."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ENOENT and os.path.islink(path):
            raise CocError(f"{path}: broken symlink (it points to {os.readlink(path)}, which does not exist)") from None
        raise CocError(f"{path}: {_os_reason(e)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CocError(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise CocError(f"{path}: not a regular file (a device, pipe or socket)")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise CocError(f"{path}: cannot open: {_os_reason(e)}") from None
    return st.st_size


# -- readers ----------------------------------------------------------------------------
_PICKLE_MESSAGE = ("holds pickled Python objects, which coc never loads (they can run code); "
                   "save a numeric array instead")


def _np_read(read, path, what):
    """``read()``, with NumPy's read errors turned into one ``CocError`` naming ``what``."""
    try:
        return read()
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CocError(f"{path}: {what} {_PICKLE_MESSAGE}") from None
        raise CocError(f"{path}: cannot read {what}: {e}") from None
    except MemoryError:
        raise CocError(f"{path}: not enough memory to load {what}") from None
    except OSError as e:
        raise CocError(f"{path}: cannot read {what}: {_os_reason(e)}") from None
    except (EOFError, zipfile.BadZipFile) as e:
        raise CocError(f"{path}: cannot read {what}: {e}") from None


def _sniff(head: bytes) -> str:
    """What a file that is not an .npy seems to be, from its first bytes."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if head.startswith(b"PAR1"):
        return "a parquet file"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown binary data"
    return "text"


def _read_header(f, path, what):
    """``(shape, dtype, data_offset)`` of the NumPy array stored at ``f``'s position."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        elif version == (3, 0):
            # NumPy has no public reader of version 3.0 headers; its loader checks them.
            reader = getattr(np.lib.format, "_read_array_header", None) or getattr(
                getattr(np.lib, "_format_impl", None), "_read_array_header", None)
            if reader is None:
                return None
            shape, _, dtype = reader(f, version)
        else:
            raise ValueError(f"unknown format version {version[0]}.{version[1]}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as e:
        raise CocError(f"{path}: cannot read {what}: corrupt NumPy header ({e})") from None
    return shape, dtype, f.tell()


def _check_size(path, what, shape, dtype, available: int) -> None:
    """Refuse a header that claims more data than there is, before allocating it."""
    if dtype.hasobject:
        raise CocError(f"{path}: {what} {_PICKLE_MESSAGE}")
    needed = math.prod(int(s) for s in shape) * dtype.itemsize
    if needed > available:
        raise CocError(
            f"{path}: {what} claims shape {tuple(shape)} of {dtype} ({needed:,} bytes) but holds "
            f"only {max(available, 0):,} bytes of data: the file is truncated or corrupt"
        )
    free = _free_memory()
    if free is not None and needed > free:
        raise CocError(f"{path}: {what} of shape {tuple(shape)} needs {needed / 2**30:.1f} GiB, "
                       f"more than the {free / 2**30:.1f} GiB of memory free")


def _free_memory():
    """Bytes of memory free to allocate (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_npy(path, key):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0)
            if not head.startswith(np.lib.format.MAGIC_PREFIX):
                kind = _sniff(head)
                if kind == "zip":
                    raise CocError(f"{path}: is a zip archive (an .npz?), not an .npy array; "
                                   "rename it to .npz")
                if kind == "pickle":
                    raise CocError(f"{path}: is a Python pickle, not a NumPy .npy file; coc never "
                                   "loads pickles (they can run code); save a numeric array with numpy.save")
                raise CocError(f"{path}: not a NumPy .npy file (no NumPy header; it looks like {kind})")
            header = _read_header(f, path, "the .npy file")
            if header is not None:
                shape, dtype, offset = header
                _check_size(path, "the .npy file", shape, dtype, os.fstat(f.fileno()).st_size - offset)
    except OSError as e:
        raise CocError(f"{path}: cannot read: {_os_reason(e)}") from None
    return _np_read(lambda: np.load(path, allow_pickle=False), path, "the .npy file")


#: Deflate expands at most about 1032 to 1: a member claiming more is lying about its size.
_MAX_DEFLATE_RATIO = 1100


def _read_npz(path, key):
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(np.lib.format.MAGIC_PREFIX):
        return _read_npy(path, None)  # an .npy renamed .npz: still one plain array
    if _sniff(head) != "zip":
        raise CocError(f"{path}: not a NumPy .npz archive (not a zip file; it looks like {_sniff(head)})")
    archive = _np_read(lambda: np.load(path, allow_pickle=False), path, "the .npz archive")
    with archive:
        names = list(archive.files)
        if not names:
            raise CocError(f"{path}: the archive holds no arrays")
        if key is None:
            if len(names) > 1:
                raise CocError(f"{path}: holds {len(names)} arrays ({', '.join(names)}); choose one with --key")
            key = names[0]
        elif key not in names:
            raise CocError(f"{path}: no array {key!r}; it holds {', '.join(names)}")
        _check_member(path, archive.zip, key)
        return _np_read(lambda: archive[key], path, f"array {key!r}")


def _check_member(path, zf: zipfile.ZipFile, key: str) -> None:
    """Check a member's header against its declared sizes before NumPy allocates it."""
    what = f"array {key!r}"
    member = key + ".npy" if key + ".npy" in zf.namelist() else key
    info = zf.getinfo(member)
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise CocError(f"{path}: {what}: the archive's sizes disagree; the file is corrupt")
    if info.file_size > _MAX_DEFLATE_RATIO * max(info.compress_size, 1) + 1024:
        raise CocError(f"{path}: {what} claims {info.file_size:,} bytes from {info.compress_size:,} "
                       "compressed: the archive is corrupt or a decompression bomb")
    try:
        with zf.open(member) as f:
            if f.read(6) != np.lib.format.MAGIC_PREFIX:
                raise CocError(f"{path}: {what} is not a NumPy array")
            f.seek(0)
            header = _read_header(f, path, what)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CocError(f"{path}: cannot read {what}: {e}") from None
    if header is not None:
        shape, dtype, offset = header
        _check_size(path, what, shape, dtype, info.file_size - offset)


def _read_text(path, key):
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, encoding="utf-8-sig") as f:
            first = ""
            for first in f:
                if first.strip():
                    break
    except UnicodeDecodeError as e:
        raise CocError(f"{path}: {_not_text(path, e)}") from None
    except OSError as e:
        raise CocError(f"{path}: cannot read: {_os_reason(e)}") from None
    if not first.strip():
        raise CocError(f"{path}: the file holds no data")
    # One header line is allowed: a first line that does not parse as numbers.
    header = not _is_numeric_row(first, delimiter)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no data" is reported below, once
            X = np.loadtxt(path, delimiter=delimiter, skiprows=_leading_blank_lines(path) + int(header),
                           dtype=np.float64, ndmin=2, encoding="utf-8-sig")
    except ValueError as e:
        # NumPy's message, less its advice on a loadtxt argument the user cannot pass
        why = str(e).split("; use `usecols`")[0]
        raise CocError(f"{path}: expected numbers only (one header line allowed): {why}") from None
    except UnicodeDecodeError as e:
        raise CocError(f"{path}: {_not_text(path, e)}") from None
    except OSError as e:
        raise CocError(f"{path}: cannot read: {_os_reason(e)}") from None
    if X.size == 0:
        raise CocError(f"{path}: the file holds no data" + (" (only a header)" if header else ""))
    return X


def _not_text(path, e: UnicodeDecodeError) -> str:
    with open(path, "rb") as f:
        kind = _sniff(f.read(8))
    what = f"; it looks like {kind}" if kind not in ("text", "unknown binary data") else ""
    return (f"not UTF-8 text (byte 0x{e.object[e.start]:02x}){what}; "
            f"a {path.suffix.lower()} file must be UTF-8 text")


def _is_numeric_row(line: str, delimiter: str) -> bool:
    for token in line.strip().split(delimiter):
        try:
            float(token)
        except ValueError:
            return False
    return True


def _leading_blank_lines(path) -> int:
    n = 0
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                break
            n += 1
    return n


def _read_parquet(path, key):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CocError("reading .parquet needs pyarrow: pip install 'coc[parquet]'") from None
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise CocError(f"{path}: cannot read as parquet: {e}") from None
    if table.num_columns == 0:
        raise CocError(f"{path}: the table has no columns")
    if key is not None:
        if key not in table.column_names:
            raise CocError(f"{path}: no column {key!r}; it has {', '.join(table.column_names)}")
        table = table.select([key])
    list_columns = [f.name for f in table.schema
                    if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)
                    or pa.types.is_large_list(f.type)]
    if list_columns:
        if len(list_columns) > 1 or table.num_columns > 1:
            raise CocError(f"{path}: {table.num_columns} columns, {len(list_columns)} of them lists; "
                           "choose the embedding column with --key")
        return _list_column(path, table.column(0))
    numeric = [f.name for f in table.schema
               if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    other = [name for name in table.column_names if name not in numeric]
    if other:
        raise CocError(f"{path}: non-numeric columns {', '.join(other)}; "
                       "expected one list column or numeric columns only")
    if table.num_rows == 0:
        raise CocError(f"{path}: the table has no rows")
    columns = []
    for name in table.column_names:
        col = table.column(name)
        if col.null_count:
            raise CocError(f"{path}: column {name!r} has {col.null_count} missing values")
        columns.append(col.to_numpy().astype(np.float64, copy=False))
    return np.column_stack(columns)


def _list_column(path, column):
    import pyarrow as pa

    if len(column) == 0:
        raise CocError(f"{path}: the table has no rows")
    if column.null_count:
        raise CocError(f"{path}: {column.null_count} rows have no embedding (null)")
    chunks = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    value_type = chunks.type.value_type
    if not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type)):
        raise CocError(f"{path}: the list column holds {value_type}, not numbers")
    lengths = np.asarray(chunks.value_lengths())
    if lengths.min() != lengths.max():
        raise CocError(f"{path}: embeddings of different lengths ({lengths.min()} to {lengths.max()})")
    values = chunks.flatten()
    if values.null_count:
        raise CocError(f"{path}: {values.null_count} missing values inside the embeddings")
    return values.to_numpy().astype(np.float64, copy=False).reshape(len(chunks), int(lengths[0]))
