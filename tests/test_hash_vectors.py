"""The test vectors and worked examples of docs/content-hash.md hold."""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from blake3 import blake3

from prov_common.hashing import hash_dataframe, hash_table, row_digest_for_record
from prov_common.hashing.encode import encode_block
from prov_common.hashing.rows import digests_matrix
from prov_common.hashing.types import parse_logical_type

DOC = Path(__file__).resolve().parents[1] / "docs" / "content-hash.md"


def _vectors() -> list[dict]:
    text = DOC.read_text()
    block = re.search(r"<!-- test-vectors:begin -->\s*```json\n(.*?)```\s*<!-- test-vectors:end -->", text, re.S)
    assert block, "docs/content-hash.md lost its test vectors"
    return json.loads(block.group(1))


VECTORS = _vectors()


def _table(vector: dict) -> tuple[pa.Table, list[str]]:
    cols = vector["columns"]
    table = pa.table({c["name"]: pa.array(c["values"], type=parse_logical_type(c["type"])) for c in cols})
    return table, [c["name"] for c in cols if c.get("role") == "index"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector):
    table, index = _table(vector)
    td = hash_table(table, index_columns=index, granularity="row")
    assert td.digest == vector["digest"]
    assert [c.digest for c in td.columns] == vector["columnDigests"]
    assert [bytes(r).hex() for r in digests_matrix(td.row_digests)] == vector["rowDigests"]
    # single records give the same row digests
    for i, expected in enumerate(vector["rowDigests"]):
        record = {c.name: table.column(j)[i].as_py() for j, c in enumerate(td.columns)}
        assert row_digest_for_record(record, td.schema_fields()).hex() == expected


def test_pandas_equivalents_of_the_vectors():
    by_name = {v["name"]: v["digest"] for v in VECTORS}
    df = pd.DataFrame({"a": pd.Series([1, None, 3], dtype="Int64"), "s": ["x", None, "yz"]})
    assert hash_dataframe(df).digest == by_name["nulls in int64 and string"]
    indexed = pd.DataFrame({"v": [10, 20]}, index=pd.Index(["a", "b"], name="k"))
    assert hash_dataframe(indexed).digest == by_name["named index"]
    assert hash_dataframe(pd.DataFrame()).digest == by_name["no columns, no rows"]
    assert hash_dataframe(pd.DataFrame({"f": [1.5, np.nan, -0.0]})).digest == by_name["float64 with a missing value and -0.0"]


def _encoding(arr: pa.Array) -> str:
    return b"".join(p.view(np.uint8).tobytes() if isinstance(p, np.ndarray) else bytes(p)
                    for p in encode_block(arr)).hex()


def test_documented_block_encodings():
    assert _encoding(pa.array([1, 2, 3])) == "00" "0100000000000000" "0200000000000000" "0300000000000000"
    assert _encoding(pa.array([1, None, 3])) == "01010001" "0100000000000000" "0000000000000000" "0300000000000000"
    assert _encoding(pa.array(["x", None, "yz"])) == \
        "01010001" "0100000000000000" "0000000000000000" "0200000000000000" "78797a"


def test_worked_example_from_first_principles():
    """Recompute the one-column example with nothing but blake3 and struct, as the doc describes."""
    block = bytes.fromhex("00010000000000000002000000000000000300000000000000")
    header = (b"tdprov-column-v1" + struct.pack("<Q", 6) + b"column" + struct.pack("<Q", 3) + b'"a"'
              + struct.pack("<Q", 5) + b"int64" + struct.pack("<QQQ", 3, 65536, 1))
    column = blake3(header + blake3(block).digest()).digest()
    table = blake3(b"tdprov-table-v1" + struct.pack("<QQ", 3, 1) + column).hexdigest()
    vector = next(v for v in VECTORS if v["name"] == "one int64 column")
    assert "blake3:" + column.hex() == vector["columnDigests"][0]
    assert "blake3:" + table == vector["digest"]
    assert column.hex()[:8] in DOC.read_text() and table[:8] in DOC.read_text()


def test_the_documented_diff_json_shapes_of_changed_columns(tmp_path, monkeypatch, capsys):
    """`hash --diff --json` gives changedColumns as a list for two tables and as an object by shard for two sharded
    datasets: docs/content-hash.md shows both, as printed here."""
    from prov_common.cli import main

    a = pd.DataFrame({"id": [1, 2, 3], "price": [1.0, 2.0, 3.0]})
    b = a.assign(price=[1.0, 2.5, 3.0])
    files = {"a.parquet": a, "b.parquet": b, "a/part-0.parquet": a, "a/part-1.parquet": a, "b/part-0.parquet": a,
             "b/part-1.parquet": b}  # two tables, and two folders of two shards
    for name, frame in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        frame.to_parquet(tmp_path / name, index=False)
    monkeypatch.chdir(tmp_path)
    printed = []
    for pair in (["a.parquet", "b.parquet"], ["a", "b"]):
        assert main(["hash", "--diff", *pair, "--json"]) == 1
        printed.append(capsys.readouterr().out.strip())
    assert isinstance(json.loads(printed[0])["changedColumns"], list)
    assert json.loads(printed[1])["changedColumns"] == {"part-1.parquet": ["price"]}
    text = DOC.read_text()
    assert all(f"\n{line}\n" in text for line in printed), printed
