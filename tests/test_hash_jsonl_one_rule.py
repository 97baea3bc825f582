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
@pytest.mark.parametrize("line", [b'{"a":1.0}{"a":3.0}', b'{"a":1.0}  {"a":3.0}', b'{"a":1.0,"s":"}{"} {"a":3.0}',
                                  b'{"a":1.0} null', b'{"a":1.0}null'])
def test_two_objects_on_one_line_are_refused_on_both_paths(path, line):
    data = b'{"a":5.0}\n' + line + b"\n" + LONG_LINE + b"\n"
    with pytest.raises(ValueError, match=r"^line 2: not valid JSON"):
        stream(data, path)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("line", "shown"), [(b'{"a":' + b"9" * 400 + b'}', "99999999999999999999…, 400 digits"),
                                             (b'{"o":{"b":[2, -' + b"8" * 309 + b']}}', "-8888888888888888888…, 309 digits"),
                                             (b'{"a":1e400}', "1E+400"), (b'{"a":-15e308}', "-1.5E+309"),
                                             (b'{"a":1e999999999999999999995}', "1e999999999999999999995"),
                                             (b'{"o":[-25E+9999999999999999999]}', "-25E+9999999999999999999"),
                                             (b'{"a":' + b"1" * 25 + b'e400}',
                                              "1.111111111111111111…E+424, 25 digits before its exponent"),
                                             (b'{"a":-' + b"9" * 30 + b'e9999999999999999999999}',
                                              "-9999999999999999999…e9999999999999999999999, 30 digits before its exponent"),
                                             (b'{"a":1e' + b"9" * 23 + b'}', "1e" + "9" * 23)])
def test_numbers_past_the_double_range_are_refused_on_both_paths(path, line, shown):
    """Arrow reads an integer of hundreds of digits as infinity (two of them shared a digest) and refuses ``1e400``
    naming no line: both are refused naming the line, the number and the fix. A number whose exponent is past the
    range of Python's ``Decimal`` (``1e999999999999999999995``) stopped the hash with ``decimal.InvalidOperation``
    (``tdprov hash``: "unexpected InvalidOperation"); it is refused as the others are, shown as written. The digits
    counted of a long number with an exponent were its mantissa's and its exponent's together ("28 digits" of 25 and
    E+424): they are the mantissa's, said so, and the exponent is shown; a mantissa shown whole is not counted (it
    was "1 digits before its exponent")."""
    data = b'{"a":1.0}\n\n' + line + b"\n" + LONG_LINE + b"\n"
    with pytest.raises(ValueError) as refused:
        stream(data, path)
    assert str(refused.value).startswith(f"line 3: has a number too large for a double ({shown})")
    assert refused.value.fix.startswith("write a number that large as a JSON string")


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("ends", [b"\r", b"\r\r", b"\r \t"])
def test_lines_ended_by_a_carriage_return_alone_are_named_on_both_paths(path, ends):
    """A file whose lines end with CR alone (as old Mac OS wrote them) was refused as "more than one JSON value on the
    line" ('parse error: trailing garbage', without a fix, on the long lines' path) with the fix to write one object
    on each line, which it seemed to do: the CR line ends are named, with the fix to convert them to LF."""
    body = b'{"a":5.0}' + ends + b'{"a":1.0}' + ends + LONG_LINE + ends
    with pytest.raises(ValueError) as refused:
        stream(b'{"a":2.0}\n' + body, path)
    assert str(refused.value) == ("line 2: not valid JSON (more than one JSON value on the line, the next after a carriage "
                                  "return (CR) alone: its lines end with CR, as old Mac OS wrote them, where JSON lines "
                                  "end with LF).")
    assert refused.value.fix == ("convert its line ends to LF, one object on each line (such as tr '\\r' '\\n' < old.jsonl "
                                 "> new.jsonl), or hash the file's bytes (tdprov hash --bytes).")
    converted = b'{"a":2.0}\n' + body.replace(b"\r", b"\n")
    assert stream(converted, path).digest == hash_table(pajson.read_json(pa.BufferReader(converted))).digest


@pytest.mark.parametrize("path", list(PATHS))
def test_the_largest_numbers_a_double_holds_hash_as_arrow_reads_them(path):
    body = b'{"a":' + b"9" * 308 + b', "s":"' + b"9" * 400 + b'"}\n{"a":1.7e308,"s":"1e400"}\n' + LONG_LINE + b"\n"
    expected = hash_table(pajson.read_json(pa.BufferReader(body))).digest
    assert stream(body, path).digest == expected


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
                                           (b'{"a":' + b"7" * 400 + b'}', "write a number that large as a JSON string"),
                                           (b'{"a":[1e999]}', "write a number that large as a JSON string"),
                                           (b'{"a":1e999999999999999999995}', "write a number that large as a JSON string"),
                                           (b'{"a":1.0}{"a":3.0}', "write one JSON object on each line"),
                                           (b'{"a":1.0}\r{"a":3.0}\r', "convert its line ends to LF")])
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
    assert "part-3.jsonl" in read.value.what and "line 3: " in read.value.what
    assert read.value.fix.startswith(fix)
    path.write_bytes(b'{"a":1.0,"s":"x: NaN, }{"}\n{"a":2.0}\n')
    assert read_table_file(path, "jsonl").num_rows == 2


def test_two_files_of_integers_past_the_double_range_are_refused_not_hashed_alike(tmp_path: Path, capsys):
    """``tdprov hash`` of two records that Arrow read alike (infinity): each refused naming its file and line."""
    from prov_common.cli import main

    for name, digit in (("a.jsonl", b"9"), ("b.jsonl", b"8")):
        (tmp_path / name).write_bytes(b'{"id":1,"n":2}\n{"id":2,"n":' + digit * 400 + b'}\n')
    assert main(["hash", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "a.jsonl' as jsonl: line 2: has a number too large for a double (99999999999999999999…, 400 digits)" in err
    assert "Fix: write a number that large as a JSON string" in err


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("line", [b"null", b"  null\r", b"true"])
def test_a_line_that_is_null_is_refused_on_both_paths(path, line):
    """Arrow read it as a row of nulls (the digest of ``{}`` there), where the incremental parser refused it. (Both
    lines in Arrow's first chunk: a chunk that starts with it crashes the process, tested below in a child.)"""
    data = b'{"a":5.0}\n' + line + b"\n" + LONG_LINE + b"\n"
    with pytest.raises(ValueError, match=r"^line 2: is not a JSON object\.$") as refused:
        stream(data, path, chunk_bytes=32)
    assert refused.value.fix.startswith("write one JSON object on each line ({} for a row")


@pytest.mark.parametrize("path", list(PATHS))
def test_a_line_of_two_nulls_is_refused_on_both_paths(path):
    """Arrow read ``null null`` as two rows of nulls (4 rows from 3 lines), where the incremental parser refused it."""
    with pytest.raises(ValueError, match=r"^line 2: (is not a JSON object|not valid JSON)"):
        stream(b'{"a":5.0}\nnull null\n' + LONG_LINE + b"\n", path, chunk_bytes=32)


def _nested(levels: int, inner: bytes = b"1") -> bytes:
    return b'{"l":' + b"[" * levels + inner + b"]" * levels + b"}"


@pytest.mark.parametrize("path", list(PATHS))
def test_a_line_nested_deeper_than_the_limit_is_refused_on_both_paths(path):
    """Arrow's path took 256 to about 900 levels the incremental parser refuses (and gave a RecursionError deeper).
    The deepest line allowed, brackets in a string and a line of many shallow lists are hashed as Arrow reads them."""
    data = b'{"l":null}\n' + _nested(256) + b"\n" + LONG_LINE + b"\n"
    with pytest.raises(ValueError) as refused:
        stream(data, path)
    assert str(refused.value) == "line 2: is nested deeper than 256 levels (level 257 at /l/[]/[]/…/[]/[]/[])."
    assert refused.value.fix.startswith("flatten it (at most 256 levels of arrays and objects)")
    with pytest.raises(ValueError, match=r"^line 1: is nested deeper than 256 levels"):
        stream(_nested(255, b"[]") + b"\n" + LONG_LINE + b"\n", path)  # a list's items are a level below it
    for line in [_nested(255), b'{"s":"' + b"[{" * 400 + b'"}', b'{"l":[' + b",".join([b"[[1]]"] * 400) + b"]}"]:
        data = line + b"\n" + LONG_LINE + b"\n"
        assert stream(data, path).digest == hash_table(pajson.read_json(pa.BufferReader(data))).digest


@pytest.mark.parametrize("path", list(PATHS))
def test_a_deep_line_is_named_by_a_short_path(path):
    """The refusal named the whole path, 256 keys (about 970 characters for one-letter keys, far more for long ones):
    it names the first and last three, each key at most 24 cells and its control characters escaped."""
    line = b'{"' + b"k" * 5000 + b'":' + b'{"a\\u0007":' * 300 + b"1" + b"}" * 301
    with pytest.raises(ValueError) as refused:
        stream(line + b"\n" + LONG_LINE + b"\n", path)
    assert str(refused.value) == ("line 1: is nested deeper than 256 levels (level 257 at "
                                  f"/…{'k' * 23}/a\\x07/a\\x07/…/a\\x07/a\\x07/a\\x07).")
    assert refused.value.fix.startswith("flatten it (at most 256 levels of arrays and objects)")


@pytest.mark.parametrize(("data", "refusal"), [(b'null\n{"a":1.0}\n', "line 1: is not a JSON object."),
                                               (b'null null\n{"a":1.0}\n', "line 1: is not a JSON object."),
                                               (b'null,\n', "line 1: is not a JSON object."),
                                               (_nested(20_000) + b"\n", "line 1: is nested deeper than 256 levels")])
def test_a_line_that_crashes_arrow_is_refused_first(tmp_path: Path, data, refusal):
    """Arrow's parser ends the process (a segmentation fault) on a block whose first line is ``null``, and on a line
    some thousands of levels deep: the hash and the whole read (what the Airflow operators validate) refuse them
    before Arrow sees them, naming the file and the line."""
    import subprocess
    import sys

    path = tmp_path / "part-3.jsonl"
    path.write_bytes(data)
    script = ("import sys\nfrom prov_common.errors import BadInputError\nfrom prov_common.hashing import hash_path\n"
              "from prov_common.hashing.files import read_table_file\n"
              "for read in (hash_path, lambda p: read_table_file(p, 'jsonl')):\n"
              "    try:\n        read(sys.argv[1])\n    except BadInputError as exc:\n        print(exc)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    refusals = done.stdout.splitlines()
    assert len(refusals) == 2 and refusals[0] == refusals[1]
    assert "part-3.jsonl" in refusals[0] and refusal in refusals[0]


MANY = b"".join(b'{"a":%d.0}\n' % i for i in range(40)) + b"\n"  # lines 1-41: the next is far past Arrow's row 0


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("line", "refusal"), [(b'{"a":1.0,"a":2.0}', "line 42: field /a appears twice in one object."),
                                               (b'{"a":1.0,}', "line 42: not valid JSON (parse error: invalid object key"),
                                               (b'{"a":', "line 42: not valid JSON (parse error: premature EOF")])
def test_json_arrow_cannot_parse_is_refused_naming_the_files_line_on_both_paths(tmp_path: Path, path, line, refusal):
    """Arrow's refusal named a row counted from 0 within a chunk of lines, blank lines left out ('Column(/a) was
    specified twice in row 0' for line 42): the hash (on both paths) and the whole-file read refuse such a line as the
    incremental parser does, naming the file's line."""
    from prov_common.hashing.files import read_table_file

    data = MANY + line + b"\n" + LONG_LINE + b"\n"
    for chunk_bytes in (16, 1 << 19):  # a chunk of that line alone, and one chunk of every line
        with pytest.raises(ValueError) as refused:
            stream(data, path, chunk_bytes=chunk_bytes)
        assert str(refused.value).startswith(refusal), refused.value
    file = tmp_path / "part-3.jsonl"
    file.write_bytes(data)
    with pytest.raises(BadInputError) as read:
        read_table_file(file, "jsonl")
    assert f"{file}' as jsonl: {refusal}" in str(read.value), read.value


def test_a_type_change_the_whole_file_read_refuses_names_its_line(tmp_path: Path):
    """Arrow's refusal of the whole file said 'Column(/a) changed from number to string in row 40' for line 42."""
    from prov_common.hashing.files import read_table_file

    file = tmp_path / "part-3.jsonl"
    file.write_bytes(MANY + b'{"a":"x"}\n')
    with pytest.raises(BadInputError, match=r"part-3\.jsonl': line 42: field /a changed from double to string between "
                                            r"lines\. Fix: give the field one JSON type in every line"):
        read_table_file(file, "jsonl")


@pytest.mark.parametrize("path", list(PATHS))
def test_a_field_twice_in_one_object_is_refused_with_a_fix_for_it(tmp_path: Path, path):
    """A field twice in one object was refused with the fix for a file that is not JSON lines at all ('check that the
    file is valid jsonl'); the fix now says to give the field once."""
    from prov_common.hashing.files import read_table_file

    data = MANY + b'{"o":{"b":1.0,"b":2.0}}\n' + LONG_LINE + b"\n"
    with pytest.raises(ValueError) as refused:
        stream(data, path, chunk_bytes=1 << 19)
    assert str(refused.value).startswith("line 42: field /o/b appears twice in one object.")
    assert refused.value.fix.startswith("give the field once in each object (keep the value you mean)")
    file = tmp_path / "part-3.jsonl"
    file.write_bytes(data)
    for read in (hash_path, lambda p: read_table_file(p, "jsonl")):
        with pytest.raises(BadInputError) as whole:
            read(file)
        assert "line 42: field /o/b appears twice" in whole.value.what
        assert whole.value.fix.startswith("give the field once in each object"), whole.value.fix


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("line", "named"), [(b"\x0c", "a form feed"), (b" \x0b ", "a vertical tab"),
                                             (b'\x0c{"a":1.0}', "a form feed"), (b'{"a":\x0b1.0}', "a vertical tab")])
def test_a_form_feed_or_vertical_tab_is_refused_on_both_paths(tmp_path: Path, path, line, named):
    """Arrow refuses a form feed or vertical tab between values (JSON's whitespace is spaces, tabs and line ends) in
    its own words, naming a row counted within a chunk ('Invalid value. in row 1'), where the incremental parser
    took either as whitespace: a file holding a line longer than ``LONG_LINE_BYTES`` was hashed, the same lines
    without it refused. Both paths and the whole-file read now refuse it naming the file's line."""
    from prov_common.hashing.files import read_table_file

    data = MANY + line + b"\n" + LONG_LINE + b"\n"
    for chunk_bytes in (16, 1 << 19):
        with pytest.raises(ValueError) as refused:
            stream(data, path, chunk_bytes=chunk_bytes)
        assert str(refused.value).startswith(f"line 42: not valid JSON ({named}, which JSON allows only escaped in a "
                                             "string"), refused.value
    file = tmp_path / "part-3.jsonl"
    file.write_bytes(data)
    with pytest.raises(BadInputError, match=r"part-3\.jsonl' as jsonl: line 42: not valid JSON \(a "):
        read_table_file(file, "jsonl")


@pytest.mark.parametrize("path", list(PATHS))
def test_a_file_of_form_feeds_is_refused_not_the_empty_table(path):
    """A file whose lines held only form feeds was taken as blank and hashed as the empty table (Arrow refuses it)."""
    with pytest.raises(ValueError, match=r"^line 2: not valid JSON \(a form feed"):
        stream(b"\n\x0c\n\n", path, chunk_bytes=1 << 19)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("number", "refusal"), [
    (b"1e999999999999999999995", "has a number too large for a double (1e999999999999999999995)"),
    (b"-2e-999999999999999999995", "has a number too close to 0 for the parser to read (-2e-999999999999999999995)")])
def test_an_exponent_past_decimals_range_is_refused_on_both_paths(path, number, refusal):
    """The incremental parser reads a number as a ``Decimal``, which cannot hold an exponent of more than about 18
    digits: such a number in a line longer than ``LONG_LINE_BYTES`` stopped the hash with ``decimal.InvalidOperation``,
    and one close to 0 was read as 0 by Arrow when the lines were short. Both paths refuse both, naming the line."""
    data = b'{"a":1.0}\n{"a":' + number + b',"s":"' + b"x" * (2 * LONG) + b'"}\n'
    with pytest.raises(ValueError) as refused:
        stream(data, path)
    assert str(refused.value).startswith(f"line 2: {refusal}"), refused.value
    assert refused.value.fix.startswith("write a number")


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("spread", [b'{"a":1.0,"d":\n{"e":false}}', b'{"a":1.0,"d":[\n\n{"e":false}]}'])
def test_an_object_spread_over_lines_is_refused_wherever_the_chunks_end(tmp_path: Path, path, spread):
    """An object whose line ended inside it, the next starting with ``{``, was read by Arrow as one row when both lines
    fell in one chunk of lines, so hashed, and refused when a chunk ended between them or a line of the file was longer
    than ``LONG_LINE_BYTES``; the whole-file read took it. Each now refuses it as the incremental parser does."""
    from prov_common.hashing.files import read_table_file

    data = b'{"a":3.0}\n' + spread + b"\n" + LONG_LINE + b"\n"
    for chunk_bytes in (16, 1 << 19):
        with pytest.raises(ValueError, match=r"^line 2: not valid JSON \(parse error: premature EOF"):
            stream(data, path, chunk_bytes=chunk_bytes)
    file = tmp_path / "part-3.jsonl"
    file.write_bytes(data)
    with pytest.raises(BadInputError, match=r"part-3\.jsonl' as jsonl: line 2: not valid JSON \(parse error: premature"):
        read_table_file(file, "jsonl")
