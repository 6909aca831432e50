"""Reading a user's embeddings from a file, safely.

Formats: ``.npy``; ``.npz`` (its one array, or the one named by ``key``); ``.csv`` and ``.tsv``
(numbers only, one header line allowed); ``.parquet`` (one list or fixed-size-list column, or
numeric columns; needs the optional pyarrow). Loading never executes a pickle: NumPy files are
opened with ``allow_pickle=False``. Every problem with the file is a :class:`CocError` whose
message names the file, so the CLI prints one line and exits 2.
"""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np

from coc.validation import CocError

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
        A missing or unreadable file, an unknown suffix, a pickle, an empty, non-numeric or
        not 2-D array, NaN or inf (saying in how many rows), or fewer than ``min_points`` rows.
    """
    path = Path(path)
    if not path.exists():
        raise CocError(f"{path}: no such file")
    if path.is_dir():
        raise CocError(f"{path}: is a folder, not a file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise CocError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of {', '.join(SUFFIXES)}")
    if path.stat().st_size == 0:
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
    return X


# -- readers ----------------------------------------------------------------------------
def _np_read(read, path, what):
    """``read()``, with NumPy's read errors turned into one ``CocError`` naming ``what``."""
    try:
        return read()
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CocError(f"{path}: {what} holds pickled Python objects, which coc never loads "
                           "(they can run code); save a numeric array instead") from None
        raise CocError(f"{path}: cannot read {what}: {e}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise CocError(f"{path}: cannot read {what}: {e}") from None


def _np_load(path):
    return _np_read(lambda: np.load(path, allow_pickle=False), path, f"the {path.suffix} file")


def _read_npy(path, key):
    X = _np_load(path)
    if isinstance(X, np.lib.npyio.NpzFile):  # an .npz renamed .npy
        X.close()
        raise CocError(f"{path}: is an .npz archive, not an .npy array; rename it to .npz")
    return X


def _read_npz(path, key):
    archive = _np_load(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        return archive  # an .npy renamed .npz: still one plain array
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
        return _np_read(lambda: archive[key], path, f"array {key!r}")


def _read_text(path, key):
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, encoding="utf-8-sig") as f:
            first = ""
            for first in f:
                if first.strip():
                    break
    except (OSError, UnicodeDecodeError) as e:
        raise CocError(f"{path}: cannot read as text: {e}") from None
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
        raise CocError(f"{path}: expected numbers only (one header line allowed): {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CocError(f"{path}: cannot read: {e}") from None
    if X.size == 0:
        raise CocError(f"{path}: the file holds no data" + (" (only a header)" if header else ""))
    return X


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
