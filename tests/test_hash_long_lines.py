"""A JSON-lines file with a line far longer than Arrow's read block is hashed like the whole file.

Before, the growing line was copied once per read (quadratic) and then refused by the parser's
block size; now it is one parse block, joined once. Its cost is a figure for benchmarks/, not a
timed assertion here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.json as pajson

from prov_common.cli import main
from prov_common.hashing import hash_path, hash_table


def _write(path: Path, length: int) -> Path:
    with path.open("w") as f:
        f.write(json.dumps({"id": 1, "text": "short"}) + "\n")
        f.write(json.dumps({"id": 2, "text": "y" * length}) + "\n")
        f.write(json.dumps({"id": 3, "text": "z"}) + "\n")
    return path


def test_a_line_longer_than_a_read_block_is_hashed_like_the_whole_file(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "long.jsonl", 8_000_000)
    whole = pajson.read_json(str(path), read_options=pajson.ReadOptions(block_size=9_000_000))
    digest = hash_path(str(path))
    assert digest.rows == 3 and digest.digest == hash_table(whole).digest
    assert main(["hash", str(path)]) == 0
    assert capsys.readouterr().out.split()[0] == digest.digest
