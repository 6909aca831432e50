"""coc.io.loaders: every format, and every bad file through the real command line."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from coc.cli import main
from coc.io.loaders import load_embeddings
from coc.utils.validation import CocError

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
    return lines[0]


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


def test_ragged_csv(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("a,b\n1,2\n3,4,5\n" + "1,2\n" * 20)
    err = _assert_cli_error(capsys, [str(tmp_path / "r.csv")], tmp_path, match="columns changed from 2 to 3")
    assert "usecols" not in err  # NumPy's advice names an argument the user cannot pass


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


# -- what the file really is, and what its header claims -----------------------------------
def _npy_header(shape, descr="<f8", version=(1, 0)):
    import io

    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue()


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
@pytest.mark.parametrize("shape", [(10**6, 10**6), (10**12, 1), (31, 4)])
def test_header_claiming_more_than_the_file_holds(tmp_path, capsys, shape, version):
    (tmp_path / "h.npy").write_bytes(_npy_header(shape, version=version) + b"\0" * (30 * 4 * 8))
    _assert_cli_error(capsys, [str(tmp_path / "h.npy")], tmp_path, match="truncated or corrupt")


def test_truncated_npy(tmp_path, capsys):
    np.save(tmp_path / "t.npy", X)
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-8])
    _assert_cli_error(capsys, [str(tmp_path / "t.npy")], tmp_path, match="holds only 952 bytes")


def test_npz_member_claiming_more_than_it_holds(tmp_path, capsys):
    import zipfile

    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with zipfile.ZipFile(tmp_path / "h.npz", "w", compression=compression) as zf:
            zf.writestr("emb.npy", _npy_header((10**6, 10**6)) + b"\0" * 1000)
        _assert_cli_error(capsys, [str(tmp_path / "h.npz")], tmp_path, match="truncated or corrupt")


def test_npz_member_lying_about_its_size(tmp_path, capsys):
    import zipfile

    with zipfile.ZipFile(tmp_path / "b.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("emb.npy", _npy_header((30, 4)) + b"\0" * 960)
    data = bytearray((tmp_path / "b.npz").read_bytes())
    # the central directory's uncompressed size (offset 24 of the entry) claims 4 GiB
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (2**32 - 2).to_bytes(4, "little")
    (tmp_path / "b.npz").write_bytes(bytes(data))
    _assert_cli_error(capsys, [str(tmp_path / "b.npz")], tmp_path, match="b.npz")


def test_compressed_npz_and_version_3_npy_still_load(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", emb=X)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "c.npz"), X)
    with open(tmp_path / "v3.npy", "wb") as f:
        np.lib.format.write_array(f, X, version=(3, 0))
    np.testing.assert_array_equal(load_embeddings(tmp_path / "v3.npy"), X)


@pytest.mark.parametrize("content,match", [
    (b"\x00\x01\xfe\xff" * 64, "not a NumPy .npy file"),
    (b"just some words\n" * 8, "not a NumPy .npy file (no NumPy header; it looks like text)"),
    ("gzip", "not a NumPy .npy file (no NumPy header; it looks like gzip-compressed data)"),
])
def test_not_an_npy_file(tmp_path, capsys, content, match):
    import gzip

    if content == "gzip":
        np.save(tmp_path / "x.npy", X)
        content = gzip.compress((tmp_path / "x.npy").read_bytes())
    (tmp_path / "r.npy").write_bytes(content)
    _assert_cli_error(capsys, [str(tmp_path / "r.npy")], tmp_path, match=match)
    with pytest.raises(CocError) as info:
        load_embeddings(tmp_path / "r.npy")
    assert "pickle" not in str(info.value)


def test_random_bytes_npy_is_not_called_a_pickle(tmp_path, capsys):
    (tmp_path / "r.npy").write_bytes(np.random.default_rng(1).bytes(4096))
    _assert_cli_error(capsys, [str(tmp_path / "r.npy")], tmp_path, match="not a NumPy .npy file")


def test_not_an_npz_archive(tmp_path, capsys):
    import gzip

    (tmp_path / "g.npz").write_bytes(gzip.compress(b"\0" * 100))
    _assert_cli_error(capsys, [str(tmp_path / "g.npz")], tmp_path, match="not a NumPy .npz archive")


def test_binary_csv(tmp_path, capsys):
    import gzip

    (tmp_path / "g.csv").write_bytes(gzip.compress(b"1,2\n" * 40))
    _assert_cli_error(capsys, [str(tmp_path / "g.csv")], tmp_path, match="not UTF-8 text")


def test_symlink_loop_and_broken_link(tmp_path, capsys):
    import os

    os.symlink(tmp_path / "a.npy", tmp_path / "b.npy")
    os.symlink(tmp_path / "b.npy", tmp_path / "a.npy")
    _assert_cli_error(capsys, [str(tmp_path / "a.npy")], tmp_path, match="symlink loop")
    os.symlink(tmp_path / "gone.npy", tmp_path / "d.npy")
    _assert_cli_error(capsys, [str(tmp_path / "d.npy")], tmp_path, match="broken symlink")


def test_folder_and_device(tmp_path, capsys):
    (tmp_path / "d.npy").mkdir()
    _assert_cli_error(capsys, [str(tmp_path / "d.npy")], tmp_path, match="is a folder")
    with pytest.raises(CocError, match="not a regular file"):
        load_embeddings("/dev/null")


def test_permission_denied_as_nobody(shared_dir, as_nobody):
    import os

    np.save(shared_dir / "secret.npy", X)
    os.chmod(shared_dir / "secret.npy", 0o600)  # root's file: nobody may not read it
    result = as_nobody(["-m", "coc", "analyze", str(shared_dir / "secret.npy")], cwd=shared_dir)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coc: error:"), result.stderr
    assert "permission denied" in lines[0]


@pytest.mark.parametrize("scale", [1e200, 1e160])
def test_overflowing_magnitudes_through_the_cli(tmp_path, capsys, scale):
    np.save(tmp_path / "big.npy", X * scale)
    _assert_cli_error(capsys, [str(tmp_path / "big.npy")], tmp_path, match="would overflow")


def test_overflowing_magnitudes_in_a_subprocess(tmp_path, coc_cmd):
    """No RuntimeWarning before the one error line: the file is refused as it is loaded."""
    np.save(tmp_path / "big.npy", X * 1e200)
    result = coc_cmd(["analyze", tmp_path / "big.npy"])
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coc: error:") and "overflow" in lines[0], result.stderr


def test_large_safe_magnitudes_load(tmp_path):
    np.save(tmp_path / "ok.npy", X * 1e150)
    np.testing.assert_array_equal(load_embeddings(tmp_path / "ok.npy"), X * 1e150)


def test_header_claiming_more_than_memory_holds(tmp_path, capsys):
    """A sparse file as large as its header says, twice the free memory: refused before
    NumPy allocates it."""
    from coc.io.loaders import _free_memory

    free = _free_memory()
    if free is None:
        pytest.skip("no /proc/meminfo: free memory unknown here")
    rows = 2 * free // (8 * 1024) + 1
    header = _npy_header((rows, 1024))
    path = tmp_path / "sparse.npy"
    with open(path, "wb") as f:
        f.write(header)
        try:
            f.truncate(len(header) + rows * 1024 * 8)
        except OSError as e:
            pytest.skip(f"this file system holds no sparse file that large: {e}")
    _assert_cli_error(capsys, [str(path)], tmp_path, match="of memory free")
