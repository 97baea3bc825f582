"""What a local folder or glob lists as shards when it holds something other than regular files: a named pipe
is refused by name in both forms (reading it would block forever)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


TIMEOUT = 60  # seconds: a listing or a hash that blocks on a pipe fails here instead of hanging the suite


def tdprov(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prov_common", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT)


def shard(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"a": [value]}), path)


@pytest.fixture()
def with_pipe(tmp_path: Path) -> Path:
    for i in range(2):
        shard(tmp_path / "d" / f"part-{i}.parquet", i)
    os.mkfifo(tmp_path / "d" / "part-9.parquet")
    os.mkfifo(tmp_path / "d" / "_pipe.parquet")  # not a shard: never opened, never refused
    return tmp_path


@pytest.mark.parametrize("target", ["d", "d/*.parquet", "d/**/*.parquet"])
def test_a_named_pipe_among_shards_is_refused_by_name(with_pipe, target):
    done = tdprov("hash", target, cwd=with_pipe)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "part-9.parquet" in done.stderr and "is a named pipe, not a regular file" in done.stderr, done.stderr
    assert "_pipe" not in done.stderr


def test_snapshot_and_diff_of_a_folder_with_a_named_pipe_exit_2(with_pipe):
    (with_pipe / "e").mkdir()
    shard(with_pipe / "e" / "part-0.parquet", 0)
    assert tdprov("hash", "--diff", "e", "d", cwd=with_pipe).returncode == 2
    assert tdprov("store", "init", "store", cwd=with_pipe).returncode == 0
    done = tdprov("snapshot", "--store", "store", "d", cwd=with_pipe)
    assert done.returncode == 2 and "named pipe" in done.stderr, done.stdout + done.stderr
