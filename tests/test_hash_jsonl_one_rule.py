"""One rule for what a JSON-lines file may hold, whichever path hashes it (Arrow's, or the incremental parser's once
a line is longer than ``LONG_LINE_BYTES``): a leading UTF-8 BOM is skipped; ``NaN``/``Infinity``/``Inf`` (not JSON
numbers) and several objects on one line are refused, naming the line (and, through ``hash_path``, the file)."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pytest

from prov_common.errors import BadInputError
from prov_common.hashing import hash_path, hash_table
from prov_common.hashing.jsonl_stream import hash_jsonl_stream

LONG = 64  # a line longer than this goes to the incremental parser in these tests
PATHS = {"arrow": 1 << 23, "long lines": LONG}
LONG_LINE = b'{"a":2.0,"s":"' + b"x" * (2 * LONG) + b'"}'


def stream(data: bytes, path: str, chunk_bytes: int = 16):  # reads shorter than a long line: it is seen
    return hash_jsonl_stream(lambda: pa.BufferReader(data), long_line_bytes=PATHS[path], chunk_bytes=chunk_bytes)


@pytest.mark.parametrize("path", list(PATHS))
def test_a_leading_bom_is_skipped_on_both_paths(path):
    body = b'{"a":1.0,"s":"y"}\n' + LONG_LINE + b"\n"
    expected = hash_table(pajson.read_json(pa.BufferReader(body))).digest
    assert stream(b"\xef\xbb\xbf" + body, path).digest == expected


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("line", [b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":Inf}', b'{"a":-Inf}',
                                  b'{"a": [1.0, NaN]}', b'{"o":{"b" : -Infinity}}'])
def test_nan_and_infinity_are_refused_on_both_paths(path, line):
    data = b'{"a":1.0}\n\n' + line + b"\n" + LONG_LINE + b"\n"
    with pytest.raises(ValueError, match=r"^line 3: not valid JSON"):
        stream(data, path)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("line", [b'{"a":1.0}{"a":3.0}', b'{"a":1.0}  {"a":3.0}', b'{"a":1.0,"s":"}{"} {"a":3.0}'])
def test_two_objects_on_one_line_are_refused_on_both_paths(path, line):
    data = b'{"a":5.0}\n' + line + b"\n" + LONG_LINE + b"\n"
    with pytest.raises(ValueError, match=r"^line 2: not valid JSON"):
        stream(data, path)


@pytest.mark.parametrize("path", list(PATHS))
def test_strings_that_look_like_those_tokens_are_data(path):
    body = (b'{"a":1.0,"s":"x: NaN, [Inf, }{ \\"q\\": -Infinity"}\n{"a":-2.5,"s":"\\\\frac{a}{b}"}\n'
            + LONG_LINE + b"\n")
    expected = hash_table(pajson.read_json(pa.BufferReader(body)))
    assert stream(body, path).digest == expected.digest


def test_the_refusal_names_the_file(tmp_path: Path):
    path = tmp_path / "part-3.jsonl"
    path.write_bytes(b'{"a":1.0}\n{"a":NaN}\n')
    with pytest.raises(BadInputError, match=r"part-3\.jsonl.*line 2: not valid JSON"):
        hash_path(path)


@pytest.mark.parametrize(("line", "fix"), [(b'{"a":NaN}', "write a missing value as null"),
                                           (b'{"o":{"b" : -Infinity}}', "write a missing value as null"),
                                           (b'{"a":1.0}{"a":3.0}', "write one JSON object on each line")])
def test_the_whole_file_read_refuses_what_the_hash_refuses(tmp_path: Path, line, fix):
    """``read_table_file`` (what the Airflow operators and Dagster's recorded tables validate) follows the rule too:
    the same refusal as the hash's, naming the file, the line and the fix; strings holding those tokens are data."""
    from prov_common.hashing.files import read_table_file

    path = tmp_path / "part-3.jsonl"
    path.write_bytes(b'{"a":1.0,"s":"x: NaN, }{"}\n\n' + line + b"\n")
    with pytest.raises(BadInputError) as hashed:
        hash_path(path)
    with pytest.raises(BadInputError) as read:
        read_table_file(path, "jsonl")
    assert str(read.value) == str(hashed.value)
    assert "part-3.jsonl" in read.value.what and "line 3: not valid JSON" in read.value.what
    assert read.value.fix.startswith(fix)
    path.write_bytes(b'{"a":1.0,"s":"x: NaN, }{"}\n{"a":2.0}\n')
    assert read_table_file(path, "jsonl").num_rows == 2
