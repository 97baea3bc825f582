"""A local file written whole or not at all (prov_common.replace_file), as row sidecars and key files are written."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from prov_common.replace_file import replacing


def test_a_file_is_replaced_whole_keeping_its_mode_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "rows.parquet"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with replacing(target) as out:
        out.write(b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]


def test_a_write_that_fails_leaves_the_file_as_it_was_and_no_part_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk went away"):
        with replacing(target) as out:
            out.write(b"half")
            raise RuntimeError("disk went away")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]


def test_a_rename_that_fails_names_the_file_and_leaves_no_part_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.parquet"
    target.write_bytes(b"old")
    with pytest.raises(OSError) as raised:
        with replacing(target) as out:
            out.write(b"new")
            target.unlink()  # a folder put where the file was while it was written: the rename over it fails
            target.mkdir()
            (target / "inside").write_bytes(b"kept")
    assert raised.value.filename == os.fspath(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]
    assert (target / "inside").read_bytes() == b"kept"
