"""JSON-lines files with lines too long to parse whole: hashed by an incremental parser, same digest.

Every digest is checked against ``hash_table`` of the table ``pyarrow.json.read_json`` reads from the
whole file, so the long-line path must agree with Arrow's own reading, not only with itself. Memory
is a figure of benchmarks/bench_jsonl.py, not asserted here.
"""
from __future__ import annotations

import io
import json
from contextlib import nullcontext
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pytest

from prov_common.cli import main
from prov_common.errors import BadInputError, UnsupportedTypeError
from prov_common.hashing import hash_path, hash_table
from prov_common.hashing.jsonl_events import JsonLineError, json_lines
from prov_common.hashing.jsonl_long import hash_jsonl_long
from prov_common.hashing.jsonl_stream import LONG_LINE_BYTES, hash_jsonl_stream
from prov_common.hashing.jsonl_strings import LongString, scan_string
from test_hash_streaming import JSONL_CASES

DATES = [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)] * 20  # 6,720: several checks
ROWS = [
    {"id": 1, "x": 1, "t": "2024-01-01", "s": "héllo\u2028\"q\"\\", "b": True, "l": [1, 2, 3],
     "o": {"a": 1, "b": [{"p": "x"}, None, {"q": 2.5}]}, "n": None, "e": [], "d": DATES},
    {"id": 2, "x": 2.5, "t": "2024-01-01T10:00:00Z", "s": None, "l": None, "o": None, "e": [],
     "big": 99999999999999999999, "d": DATES[:3]},
    {"id": 3, "t": "2024-02-03 10:11:12", "s": "", "b": False, "l": [], "o": {"b": []}, "e": [None], "z": {}},
    {"id": 4, "x": -0.0, "t": None, "s": "z" * 5000 + "\U0001f600", "l": list(range(3000)),
     "o": {"a": None, "c": {"d": [[1, None], []]}}, "w": [f"tok{i}" for i in range(2000)]},
    {"id": 5, "x": 1e300, "u": "2024-01-01", "l": [None, 7], "d": DATES + ["2024-02-30"]},  # not a date: strings
    {"id": 6, "u": "nope", "o": {"c": None}, "f": 1.5e-7},
    {"id": 7},
]


def _text(rows: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n").encode()


def _arrow_digest(text: bytes, **options: object):
    """What Arrow reads from the whole text, hashed: the reference for every path."""
    whole = pajson.read_json(pa.BufferReader(text), read_options=pajson.ReadOptions(block_size=len(text) + 1))
    return hash_table(whole, use_pandas_metadata=False, **options)


def _opener(text: bytes):
    return lambda: nullcontext(io.BytesIO(text))


@pytest.mark.parametrize("block_rows", [2, 3, 65_536])
@pytest.mark.parametrize("granularity", ["column", "block"])
def test_long_lines_hashed_incrementally_give_arrows_digest(tmp_path: Path, block_rows: int, granularity: str) -> None:
    text = _text(ROWS)
    path = tmp_path / "rows.jsonl"
    path.write_bytes(text)
    expected = _arrow_digest(text, block_rows=block_rows, granularity=granularity)
    assert {"d": pa.list_(pa.string()), "t": pa.timestamp("s"), "u": pa.string(), "big": pa.float64()}.items() <= {
        f.name: f.type for f in pajson.read_json(str(path), read_options=pajson.ReadOptions(block_size=len(text) + 1)).schema
    }.items()  # the data exercises Arrow's inference: promoted lists, timestamps, 2^64 as double
    forced = hash_jsonl_stream(_opener(text), granularity=granularity, block_rows=block_rows,  # type: ignore[arg-type]
                               chunk_bytes=64, long_line_bytes=256)
    streamed = hash_jsonl_long(_opener(text), granularity=granularity, block_rows=block_rows,  # type: ignore[arg-type]
                               chunk_bytes=7)
    normal = hash_path(path, granularity=granularity, block_rows=block_rows)  # type: ignore[arg-type]
    for digest in (forced, streamed, normal):
        assert digest is not None
        assert (digest.digest, digest.rows, digest.bytes, digest.columns) == (
            expected.digest, expected.rows, expected.bytes, expected.columns)
        assert digest.blocks == expected.blocks


def test_one_changed_value_in_a_long_line_changes_the_digest() -> None:
    rows = json.loads(json.dumps(ROWS))
    rows[3]["l"][2999] = -1
    before, after = (hash_jsonl_long(_opener(_text(r))) for r in (ROWS, rows))  # type: ignore[arg-type]
    assert before is not None and after is not None and before.digest != after.digest
    assert after.digest == _arrow_digest(_text(rows)).digest
    changed = [a.name for a, b in zip(before.columns, after.columns, strict=True) if a.digest != b.digest]
    assert changed == ["l"]


def test_a_line_over_the_limit_is_hashed_by_the_cli_like_arrow_reads_it(tmp_path: Path, capsys) -> None:
    long = "é" * (LONG_LINE_BYTES // 2)  # 2 bytes each in UTF-8
    text = _text([{"id": 1, "v": [0.5]}, {"id": 2, "v": list(range(1000)), "s": long}, {"id": 3, "v": [], "s": "x"}])
    assert max(len(line) for line in text.split(b"\n")) > LONG_LINE_BYTES
    path = tmp_path / "long.jsonl"
    path.write_bytes(text)
    assert main(["hash", str(path)]) == 0
    assert capsys.readouterr().out.split()[0] == _arrow_digest(text).digest


def test_a_malformed_long_line_is_refused_naming_the_file_and_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": [1]}\n\n{"a": [2]}\n{"a": [' + b"1," * 1000 + b" oops]}\n{\"a\": [3]}\n")
    with pytest.raises(JsonLineError) as err:  # the reader's error: hash_path names the file
        hash_jsonl_stream(lambda: path.open("rb"), chunk_bytes=64, long_line_bytes=256)
    assert err.value.line == 4 and "not valid JSON" in str(err.value)
    path.write_bytes(b'{"a": [1]}\n{"a": [2], "s": "' + b"x" * LONG_LINE_BYTES + b'"} {}\n')
    assert main(["hash", str(path)]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and str(path) in err_lines[0] and "line 2: not valid JSON" in err_lines[0]
    assert "trailing garbage" in err_lines[0]


@pytest.mark.parametrize(("line", "said"), [
    (b'{"a": [' + b"1," * 300 + b'"x"]}', "line 2: field /a/[] changed from int to string"),
    (b"[" + b"1," * 300 + b"1]", "line 2: is not a JSON object"),
    (b'{"a": [' + b"1," * 300 + b'1], "a": 2}', "line 2: field /a appears twice"),
    (b'{"a": [1], "b": ' + b'{"c": ' * 500 + b"1" + b"}" * 501, "line 2: is nested deeper than 256 levels"),
])
def test_long_lines_arrow_refuses_are_refused(line: bytes, said: str) -> None:
    text = b'{"a": [1]}\n' + line + b"\n"
    with pytest.raises((pa.ArrowInvalid, UnsupportedTypeError)):  # Arrow reads deep nesting; hash_table refuses it
        hash_table(pajson.read_json(pa.BufferReader(text)))
    with pytest.raises(ValueError) as err:  # BadInputError, or the reader's JsonLineError
        hash_jsonl_stream(_opener(text), chunk_bytes=64, long_line_bytes=256)  # type: ignore[arg-type]
    assert isinstance(err.value, (BadInputError, JsonLineError)) and said in str(err.value)


def test_row_digests_of_long_lines_parse_the_line_whole() -> None:
    text = _text(ROWS)
    digest = hash_jsonl_stream(_opener(text), granularity="row", chunk_bytes=64, long_line_bytes=256)  # type: ignore[arg-type]
    expected = _arrow_digest(text, granularity="row")
    assert digest is not None and digest.digest == expected.digest
    assert digest.row_digests is not None and digest.row_digests.equals(expected.row_digests)


@pytest.mark.parametrize("case", list(JSONL_CASES))
def test_the_chunked_readers_cases_hash_the_same_incrementally(case: str) -> None:
    """The type-promotion cases of the chunked reader (tests/test_hash_streaming.py), on the long-line path."""
    text = JSONL_CASES[case].encode()
    digest = hash_jsonl_long(_opener(text), granularity="block", block_rows=7, chunk_bytes=5)  # type: ignore[arg-type]
    expected = _arrow_digest(text, granularity="block", block_rows=7)
    assert digest is not None and (digest.digest, digest.columns, digest.blocks) == (
        expected.digest, expected.columns, expected.blocks)


# One giant string: decoded apart from the parser, in pieces (prov_common.hashing.jsonl_strings).
ESCAPED = r'a\n\"b\\ \u00e9\ud83d\ude00 \/\t' + "é€\U0001f600 "  # JSON escapes as written, and raw UTF-8
GIANT_ROWS = [  # each giant string is several keep_bytes long; escapes land on every offset of a piece
    '{"id": 1, "s": "' + ESCAPED * 400 + '", "o": {"t": "x", "l": ["short", "' + ESCAPED * 300 + '"]}}',
    '{"id": 2, "s": "' + "\\\\" * 999 + '\\"' + '", "o": {"l": ["' + ESCAPED * 7 + '", null]}, "k": "2024-01-01"}',
    '{"id": 3, "s": null, "o": {"t": "' + "\\ud83d\\ude00" * 500 + '", "l": []}, "k": "2024-01-02' + " " * 300 + '"}',
]  # "k": a timestamp, then one too long to be one (Arrow reads the column as strings)


def _giant_text() -> bytes:
    return ("\n".join(GIANT_ROWS) + "\n").encode()


@pytest.mark.parametrize("chunk_bytes", [3, 7, 12, 13, 64, 1 << 20])
def test_giant_strings_decoded_in_pieces_give_arrows_digest(chunk_bytes: int) -> None:
    text = _giant_text()
    for granularity, block_rows in (("column", 65_536), ("block", 2)):
        digest = hash_jsonl_long(_opener(text), granularity=granularity, block_rows=block_rows,  # type: ignore[arg-type]
                                 chunk_bytes=chunk_bytes, keep_bytes=100)
        expected = _arrow_digest(text, granularity=granularity, block_rows=block_rows)
        assert digest is not None and (digest.digest, digest.bytes, digest.columns, digest.blocks) == (
            expected.digest, expected.bytes, expected.columns, expected.blocks)


def test_giant_strings_come_as_long_strings_with_the_decoded_bytes() -> None:
    """The spill path is the one taken: each giant string's bytes are what json.loads decodes."""
    text = _giant_text()
    wanted = [json.loads(line)["s"] for line in GIANT_ROWS]
    lines = json_lines(_opener(text), 7, keep_bytes=100)  # type: ignore[arg-type]
    for (line, events), string in zip(lines, wanted, strict=True):
        values = [value for event, value in events if event == "string"]
        if string is None:
            continue
        assert isinstance(values[0], LongString), line
        assert values[0].size == len(string.encode())
        assert b"".join(values[0].chunks(5)) == string.encode()


@pytest.mark.parametrize(("first", "rest", "value"), [
    (b"ab\\ud83d", b"\\ude00cd\"}", "ab\U0001f600cd"),  # a surrogate pair split between its halves
    (b"ab\\ud83d\\u", b"de00\"}", "ab\U0001f600"),  # ... and inside its low half
    (b"ab\\", b"\"\\\\\"}", 'ab"\\'),  # an escaped quote split after its backslash
    (b"ab\\\\", b"\"}", "ab\\"),  # an escaped backslash, then the closing quote
    ("xé".encode()[:2], "é\"}".encode()[1:], "xé"),  # a UTF-8 character split
])
def test_a_string_split_at_a_piece_border_decodes_whole(first: bytes, rest: bytes, value: str) -> None:
    for keep_bytes in (1, 1 << 20):
        got, after = scan_string(first, iter([rest]), keep=True, keep_bytes=keep_bytes)
        assert (got if isinstance(got, str) else b"".join(got.chunks()).decode()) == value
        assert after == b"}"


@pytest.mark.parametrize(("string", "said"), [
    (b'"' + b"x" * (LONG_LINE_BYTES + 10) + b"}",
     "line 2: not valid JSON (a string is not closed before the end of the line)"),
    (b'"' + b"x" * LONG_LINE_BYTES + b'\\q"}', "line 2: not valid JSON (a string has invalid \\escape"),
    (b'"' + b"x" * LONG_LINE_BYTES + b'\\udc00"}',
     "line 2: not valid JSON (a string is not valid UTF-8 or has a lone surrogate"),
    # short strings of a giant line go to the incremental parser, which read a lone high surrogate as "?"
    (b'"\\ud800", "b": "' + b"x" * LONG_LINE_BYTES + b'"}', "line 2: not valid JSON (a string is not valid UTF-8 or has a lone surrogate (\\ud800))"),
    (b'"\\udc00", "b": "' + b"x" * LONG_LINE_BYTES + b'"}', "line 2: not valid JSON (a string is not valid UTF-8 or has a lone surrogate (\\udc00))"),
    (b'"\\ud83dx\\ude00", "b": "' + b"x" * LONG_LINE_BYTES + b'"}',
     "line 2: not valid JSON (a string is not valid UTF-8 or has a lone surrogate (\\ud83d))"),
])
def test_a_malformed_giant_string_is_refused_naming_the_file_and_line(tmp_path: Path, capsys, string: bytes,
                                                                        said: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": "1"}\n{"a": ' + string + b'\n{"a": "3"}\n')
    with pytest.raises(pa.ArrowInvalid):  # Arrow refuses it too
        pajson.read_json(str(path))
    assert main(["hash", str(path)]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and str(path) in err_lines[0] and said in err_lines[0], err_lines


def test_a_lone_surrogate_and_a_question_mark_do_not_share_a_digest(tmp_path: Path) -> None:
    """Two giant lines that differ only in a short string, a lone surrogate escape or a "?": the first is
    refused (as Arrow refuses it), never given the second's digest; an escaped backslash before "ud800"
    and a whole surrogate pair are text, and hash like the same lines read by Arrow."""
    pad = b"x" * (LONG_LINE_BYTES + 10)
    made = {}
    for name, value in (("lone", b"\\ud800"), ("mark", b"?"), ("backslash", b"\\\\ud800"), ("pair", b"\\ud83d\\ude00")):
        made[name] = tmp_path / f"{name}.jsonl"
        made[name].write_bytes(b'{"a": "' + value + b'", "b": "' + pad + b'"}\n')
    with pytest.raises(BadInputError, match=r"line 1: not valid JSON .*lone surrogate \(\\ud800\)"):
        hash_path(made["lone"])
    digests = {name: hash_path(made[name]).digest for name in ("mark", "backslash", "pair")}
    assert len(set(digests.values())) == 3
    for name in ("mark", "backslash", "pair"):  # the reference: Arrow reading the whole text
        assert _arrow_digest(made[name].read_bytes()).digest == digests[name], name


@pytest.mark.parametrize(("value", "said"), [
    (b"\xc0\xaf", "a string is not valid UTF-8: invalid start byte"),  # an overlong encoding of "/"
    (b"\xed\xa0\x80", "a string is not valid UTF-8: invalid continuation byte"),  # a surrogate encoded as UTF-8 (CESU-8)
    (b"\xff", "lexical error: invalid bytes in UTF8 string."),
])
def test_a_giant_line_with_bad_utf8_in_a_short_string_is_refused_naming_the_line(tmp_path: Path, value: bytes, said: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": "1"}\n{"a": "' + value + b'", "b": "' + b"x" * (LONG_LINE_BYTES + 10) + b'"}\n')
    with pytest.raises(BadInputError) as refused:
        hash_path(path)
    assert f"line 2: not valid JSON ({said}" in refused.value.what and "b'" not in refused.value.what


@pytest.mark.parametrize("number", ["18446744073709551616", "-" + "9" * 308, "1e308", "5e-324"])
def test_numbers_past_int64_in_a_giant_line_hash_as_arrow_reads_them(number: str) -> None:
    """An integer past 64 bits is a double, as Arrow reads it (past the double's range it is refused, below)."""
    text = ('{"a": 1, "b": "y"}\n{"a": %s, "b": "%s"}\n' % (number, "x" * (LONG_LINE_BYTES + 10))).encode()
    assert hash_jsonl_long(_opener(text)).digest == _arrow_digest(text).digest  # type: ignore[arg-type]


def test_a_number_with_an_exponent_past_the_double_range_is_refused_in_a_giant_line(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"a": 1.5}\n{"a": 1e400, "b": "' + b"x" * (LONG_LINE_BYTES + 10) + b'"}\n')
    with pytest.raises(pa.ArrowInvalid, match="Number too big"):  # Arrow refuses it too
        pajson.read_json(str(path), read_options=pajson.ReadOptions(block_size=path.stat().st_size + 1))
    with pytest.raises(BadInputError, match=r"line 2: has a number too large for a double \(1E\+400\)"):
        hash_path(path)


def test_an_integer_past_the_double_range_is_refused_in_a_giant_line(tmp_path: Path) -> None:
    """Arrow reads it as infinity, so any two such integers would share a digest: refused, with its digits counted
    (past 4,300 digits, which the parser cannot give as an integer, too)."""
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": -' + b"9" * 5000 + b', "b": "' + b"x" * (LONG_LINE_BYTES + 10) + b'"}\n')
    with pytest.raises(BadInputError) as refused:
        hash_path(path)
    assert "line 2: has a number too large for a double (an integer of 5,000 digits)" in refused.value.what
    assert refused.value.fix.startswith("write a number that large as a JSON string")


def test_a_giant_field_name_is_refused() -> None:
    text = b'{"a": 1, "' + b"k" * 500 + b'": 2}\n'
    with pytest.raises(JsonLineError) as err:
        hash_jsonl_long(_opener(text), chunk_bytes=64, keep_bytes=100)  # type: ignore[arg-type]
    assert err.value.line == 1 and "field name of more than 100 bytes" in str(err.value)
