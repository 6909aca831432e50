from coc.suite import envinfo


def _cache(root, name, level, kind, size):
    d = root / name
    d.mkdir(parents=True)
    for f, v in (("level", level), ("type", kind), ("size", size)):
        (d / f).write_text(f"{v}\n")


def test_caches_name_the_data_caches_by_level(tmp_path):
    _cache(tmp_path, "index0", 1, "Data", "48K")
    _cache(tmp_path, "index1", 1, "Instruction", "32K")
    _cache(tmp_path, "index2", 2, "Unified", "1024K")
    _cache(tmp_path, "index3", 3, "Unified", "32768K")
    (tmp_path / "index4").mkdir()  # unreadable entries are left out
    assert envinfo._caches(tmp_path) == {"L1d": "48K", "L2": "1024K", "L3": "32768K"}
    assert envinfo._caches(tmp_path / "absent") == {}
    assert set(envinfo.cpu_info()) >= {"model", "logical_cores", "caches"}
