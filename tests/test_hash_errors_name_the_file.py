"""A file or shard that cannot be hashed is refused naming it: in a folder of shards, among several paths."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parquet_footer import with_row_counts
from prov_common.cli import main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_path, hash_shards


def _uuid(path: Path) -> None:
    pq.write_table(pa.table({"u": pa.array([b"0" * 16], pa.uuid())}), path)


def _deep(path: Path) -> None:
    path.write_text('{"a":' + "[" * 3000 + "]" * 3000 + "}\n")


def _footer(path: Path) -> None:
    pq.write_table(pa.table({"a": pa.array(range(77), pa.int64())}), path)
    path.write_bytes(with_row_counts(path.read_bytes(), 77, 100))


BAD = {"part-7.parquet": (_uuid, r"column 'u'"), "part-7.jsonl": (_deep, r"nested deeper than 256 levels"),
       "part-7.pq": (_footer, r"footer says 100 rows")}


def _folder(tmp_path: Path, bad: str) -> Path:
    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(3):
        pq.write_table(pa.table({"a": [i]}), folder / f"part-{i}.parquet")
    BAD[bad][0](folder / bad)
    return folder


@pytest.mark.parametrize("bad", list(BAD))
def test_a_shard_that_cannot_be_hashed_is_named(tmp_path, bad):
    folder = _folder(tmp_path, bad)
    with pytest.raises(BadInputError, match=rf"part-7\.{bad.split('.')[1]}.*{BAD[bad][1]}"):
        hash_shards(str(folder), cache=False, scheduler="none")


@pytest.mark.parametrize("bad", list(BAD))
def test_the_cli_names_the_file_in_a_folder_and_among_several_paths(tmp_path, capsys, bad):
    folder = _folder(tmp_path, bad)
    assert main(["hash", str(folder)]) == 2
    assert bad in capsys.readouterr().err
    assert main(["hash", str(folder / "part-0.parquet"), str(folder / bad)]) == 2
    err = capsys.readouterr().err
    assert bad in err and "unexpected" not in err


def test_a_file_nested_too_deeply_is_refused_naming_it(tmp_path):
    _deep(tmp_path / "deep.jsonl")
    with pytest.raises(BadInputError, match=r"deep\.jsonl.*line 1: is nested deeper than 256 levels") as refused:
        hash_path(tmp_path / "deep.jsonl")
    assert refused.value.fix.startswith("flatten it (at most 256 levels")


def test_an_unexpected_failure_names_the_shard_it_happened_in():
    from prov_common.refusals import as_bad_input

    exc = IndexError("list index out of range")
    exc.add_note("shard /data/d/part-7.parquet")  # what hash_one_shard adds to a failure it did not expect
    assert "(shard /data/d/part-7.parquet)" in as_bad_input(exc).what
    deep = RecursionError("maximum recursion depth exceeded")
    deep.add_note("shard s3://b/d/part-7.jsonl")
    assert "the input (shard s3://b/d/part-7.jsonl) is nested too deeply" in as_bad_input(deep).what


@pytest.mark.parametrize("header, rows", [("a,a", ""), ("x,a,a", "1,2,3\n" * 3), ("a,b,a", "1,2,3\n" * 70_000)])
def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path, header: str, rows: str) -> None:
    """pandas reads 'a,a' as columns 'a, a.1': the file hashed as one whose header says 'a,a.1' (two files, one
    digest). Read whole (no rows) or in chunks, it is refused naming the column; 'a,a.1' as written still hashes."""
    path = tmp_path / "t.csv"
    path.write_text(f"{header}\n{rows}")
    with pytest.raises(BadInputError) as refused:
        hash_path(path)
    assert f"{str(path)!r}: its header line names 'a' more than once" in refused.value.what
    assert "tdprov hash --bytes" in refused.value.fix
    path.write_text(f"{header.replace('a', 'a.1').replace('a.1', 'a', 1)}\n{rows}")
    assert hash_path(path).digest.startswith("blake3:")


def test_an_unexpected_failure_whose_message_ends_a_sentence_ends_it_once():
    """A library message that ends with a full stop ('Cannot specify ',' with 's'.') was followed by another: the line
    read "... with 's'.. Fix: check the arguments"."""
    from prov_common.refusals import as_bad_input

    assert str(as_bad_input(ValueError("Cannot specify ',' with 's'."))) == (
        "unexpected ValueError: Cannot specify ',' with 's'. Fix: check the arguments; if they are right, rerun with "
        "TDPROV_DEBUG=1 and report the traceback")
    assert as_bad_input(IndexError("list index out of range")).what == "unexpected IndexError: list index out of range."


def test_a_file_refused_as_a_table_is_offered_what_the_verb_at_hand_takes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov source add' of a JSON-lines file refused for a 400-digit number said to use 'tdprov hash --bytes', an
    option of 'hash' alone: it names '--digest' with that digest, which registers the file; 'snapshot', which has no
    way to take a file's bytes, offers none; 'hash' still offers --bytes."""
    path = tmp_path / "big numbers.jsonl"
    path.write_text('{"a": ' + "7" * 400 + "}\n")
    store = str(tmp_path / "store")
    assert main(["store", "init", store]) == 0
    large = "a double holds at most about 1.8e308. Fix: write a number that large as a JSON string (text keeps every digit)"
    source = ["source", "add", str(path), "--name", "big", "--license", "MIT", "--issuer", "Acme", "--store", store]
    capsys.readouterr()
    assert main(source) == 2
    assert capsys.readouterr().err.endswith(f"{large}, or register the digest of its bytes, which 'tdprov hash --bytes' "
                                            "prints, with --digest.\n")
    assert main(["snapshot", str(path), "--store", store]) == 2
    assert capsys.readouterr().err.endswith(f"{large}.\n")
    assert main(["hash", str(path)]) == 2
    assert capsys.readouterr().err.endswith(f"{large}, or hash the file's bytes (tdprov hash --bytes).\n")
    assert main(["hash", "--bytes", str(path)]) == 0
    digest = capsys.readouterr().out.split()[0]
    assert main([*source, "--digest", digest]) == 0 and f"registered source 'big' {digest}" in capsys.readouterr().out
