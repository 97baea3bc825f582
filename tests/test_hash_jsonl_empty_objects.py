"""JSON lines of empty objects are rows without columns: ``pyarrow.json`` reads ``{}`` per line as that many rows,
and the streamed digest counts them too (§5 puts the row count in the table digest)."""
from __future__ import annotations

import pandas as pd
import pyarrow.json as pajson
import pytest

from prov_common.hashing import hash_dataframe, hash_path, hash_table
from prov_common.hashing.jsonl_stream import hash_jsonl_stream


@pytest.mark.parametrize("granularity", ["column", "row"])
@pytest.mark.parametrize("chunk_bytes", [3, 1 << 19])
def test_lines_of_empty_objects_are_rows(tmp_path, granularity, chunk_bytes):
    path = tmp_path / "t.jsonl"
    path.write_text("{}\n{}\n\n{}\n")
    expected = hash_table(pajson.read_json(path), granularity=granularity)
    assert expected.rows == 3
    streamed = hash_jsonl_stream(lambda: open(path, "rb"), chunk_bytes=chunk_bytes, granularity=granularity)
    assert (streamed.digest, streamed.rows) == (expected.digest, 3)
    if granularity == "row":
        assert streamed.row_digests.equals(expected.row_digests)


def test_three_empty_objects_hash_like_a_frame_of_three_rows_and_no_columns(tmp_path):
    three, one = tmp_path / "three.jsonl", tmp_path / "one.jsonl"
    three.write_text("{}\n{}\n{}\n")
    one.write_text("{}\n")
    assert hash_path(three).digest == hash_dataframe(pd.DataFrame(index=range(3))).digest
    assert hash_path(one).digest == hash_dataframe(pd.DataFrame(index=range(1))).digest != hash_path(three).digest
