"""coc.loaders: every format, and every bad file through the real command line."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from coc.cli import main
from coc.loaders import load_embeddings
from coc.validation import CocError

X = np.random.default_rng(0).random((30, 4))


def _assert_cli_error(capsys, argv, tmp_path, *, match):
    plot = tmp_path / "fig.png"
    status = main(["analyze", *argv, "--plot", str(plot)])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("coc: error:"), captured.err
    assert match in lines[0], lines[0]
    assert captured.out == ""
    assert not plot.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fig")]


# -- good files ------------------------------------------------------------------------
def test_npy(tmp_path):
    np.save(tmp_path / "x.npy", X)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "x.npy"), X)


def test_npy_float32_stays_and_int_becomes_float(tmp_path):
    np.save(tmp_path / "f.npy", X.astype(np.float32))
    assert load_embeddings(tmp_path / "f.npy").dtype == np.float32
    np.save(tmp_path / "i.npy", (X * 10).astype(np.int32))
    assert load_embeddings(tmp_path / "i.npy").dtype == np.float64


def test_npz_one_array_and_key(tmp_path):
    np.savez(tmp_path / "one.npz", emb=X)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "one.npz"), X)
    np.savez(tmp_path / "two.npz", a=X, b=X * 2)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "two.npz", key="b"), X * 2)


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
def test_text(tmp_path, suffix, sep, header):
    path = tmp_path / f"x{suffix}"
    np.savetxt(path, X, delimiter=sep, header=sep.join(f"d{i}" for i in range(4)) if header else "",
               comments="")
    np.testing.assert_allclose(load_embeddings(path), X)


def test_parquet_list_fixed_list_and_columns(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"id": np.arange(30), "emb": [list(r) for r in X]}), tmp_path / "l.parquet")
    np.testing.assert_allclose(load_embeddings(tmp_path / "l.parquet", key="emb"), X)
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 4)
    pq.write_table(pa.table({"emb": fixed}), tmp_path / "f.parquet")
    np.testing.assert_allclose(load_embeddings(tmp_path / "f.parquet"), X)
    pq.write_table(pa.table({f"d{i}": X[:, i] for i in range(4)}), tmp_path / "c.parquet")
    np.testing.assert_allclose(load_embeddings(tmp_path / "c.parquet"), X)


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    import sys

    (tmp_path / "x.parquet").write_bytes(b"PAR1 not really")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(CocError, match=r"pip install 'coc\[parquet\]'"):
        load_embeddings(tmp_path / "x.parquet")


# -- bad files, through the CLI ------------------------------------------------------------
def test_missing_file(tmp_path, capsys):
    _assert_cli_error(capsys, [str(tmp_path / "nope.npy")], tmp_path, match="no such file")


def test_empty_file(tmp_path, capsys):
    (tmp_path / "e.npy").write_bytes(b"")
    _assert_cli_error(capsys, [str(tmp_path / "e.npy")], tmp_path, match="empty")


def test_empty_array(tmp_path, capsys):
    np.save(tmp_path / "e.npy", np.zeros((0, 8)))
    _assert_cli_error(capsys, [str(tmp_path / "e.npy")], tmp_path, match="empty")


def test_empty_csv(tmp_path, capsys):
    (tmp_path / "e.csv").write_text("a,b,c\n")
    _assert_cli_error(capsys, [str(tmp_path / "e.csv")], tmp_path, match="no data")


def test_non_numeric_csv(tmp_path, capsys):
    (tmp_path / "s.csv").write_text("a,b\n1,2\n3,hello\n" + "1,2\n" * 20)
    _assert_cli_error(capsys, [str(tmp_path / "s.csv")], tmp_path, match="numbers")


def test_non_numeric_npy(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.array([["a", "b"]] * 20))
    _assert_cli_error(capsys, [str(tmp_path / "s.npy")], tmp_path, match="numbers")


def test_one_dimensional(tmp_path, capsys):
    np.save(tmp_path / "v.npy", np.arange(100.0))
    _assert_cli_error(capsys, [str(tmp_path / "v.npy")], tmp_path, match="2-D")


def test_pickled_object_array(tmp_path, capsys):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _assert_cli_error(capsys, [str(tmp_path / "o.npy")], tmp_path, match="pickle")


def test_pickle_in_npz(tmp_path, capsys):
    np.savez(tmp_path / "o.npz", emb=np.array([[1, "x"]] * 20, dtype=object))
    _assert_cli_error(capsys, [str(tmp_path / "o.npz")], tmp_path, match="pickle")


def test_raw_pickle_is_never_executed(tmp_path, capsys):
    marker = tmp_path / "executed"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "p.npy").write_bytes(pickle.dumps(Boom()))
    _assert_cli_error(capsys, [str(tmp_path / "p.npy")], tmp_path, match="pickle")
    assert not marker.exists()


def test_nan_and_inf_count_rows(tmp_path, capsys):
    Y = X.copy()
    Y[3, 1] = np.nan
    Y[7, 0] = np.inf
    Y[7, 2] = np.nan
    np.save(tmp_path / "n.npy", Y)
    _assert_cli_error(capsys, [str(tmp_path / "n.npy")], tmp_path, match="NaN or inf in 2 of 30 rows")


def test_too_few_points(tmp_path, capsys):
    np.save(tmp_path / "few.npy", X[:9])
    _assert_cli_error(capsys, [str(tmp_path / "few.npy")], tmp_path, match="at least 10")


def test_npz_needs_key(tmp_path, capsys):
    np.savez(tmp_path / "two.npz", a=X, b=X)
    _assert_cli_error(capsys, [str(tmp_path / "two.npz")], tmp_path, match="--key")
    _assert_cli_error(capsys, [str(tmp_path / "two.npz"), "--key", "c"], tmp_path, match="no array 'c'")


def test_unknown_suffix(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("1,2\n")
    _assert_cli_error(capsys, [str(tmp_path / "x.txt")], tmp_path, match="unknown file type")


def test_corrupt_npy(tmp_path, capsys):
    (tmp_path / "c.npy").write_bytes(b"\x93NUMPY garbage")
    _assert_cli_error(capsys, [str(tmp_path / "c.npy")], tmp_path, match="cannot read")


def test_parquet_string_column(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"x": np.arange(20.0), "name": ["a"] * 20}), tmp_path / "s.parquet")
    _assert_cli_error(capsys, [str(tmp_path / "s.parquet")], tmp_path, match="non-numeric")
