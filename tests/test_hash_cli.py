"""``tdprov hash``: sha256sum-style output, --json, --diff exit codes, bad input."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from blake3 import blake3

from mount_support import small_files
from prov_common.cli import main
from prov_common.hashing import hash_dataframe, read_row_digests


@pytest.fixture()
def files(tmp_path):
    df = pd.DataFrame({"id": np.arange(100), "x": np.arange(100) / 3, "s": [f"v{i}" for i in range(100)]})
    df.to_parquet(tmp_path / "a.parquet")
    df.to_csv(tmp_path / "a.csv", index=False)
    changed = df.copy()
    changed.loc[70, "x"] = -1.0
    changed.to_parquet(tmp_path / "b.parquet")
    (tmp_path / "notes.txt").write_text("hello\n")
    return tmp_path, df


def test_sha256sum_style_output(files, capsys):
    d, df = files
    assert main(["hash", str(d / "a.parquet"), str(d / "a.csv"), str(d / "notes.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = hash_dataframe(df).digest
    assert lines[0] == f"{expected}  {d / 'a.parquet'}"
    assert lines[1] == f"{expected}  {d / 'a.csv'}"
    text_digest = blake3(b"hello\n").hexdigest()
    assert lines[2] == f"blake3:{text_digest}  {d / 'notes.txt'}"


def test_json_output(files, capsys):
    d, df = files
    assert main(["hash", "--json", "--granularity", "block", str(d / "a.parquet"), str(d / "notes.txt")]) == 0
    table, blob = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    td = hash_dataframe(df)
    assert table["kind"] == "table" and table["digest"] == td.digest and table["rows"] == 100
    assert table["columns"] == td.column_digests() and table["columnTypes"]["s"] == "string"
    assert table["bytes"] > 0 and table["fileBytes"] == (d / "a.parquet").stat().st_size
    assert len(table["blocks"]["x"]) == 1
    assert main(["hash", "--json", "--granularity", "table", str(d / "a.parquet")]) == 0
    overview = json.loads(capsys.readouterr().out)
    assert overview["digest"] == td.digest and "columns" not in overview
    assert blob == {"path": str(d / "notes.txt"), "kind": "file", "digest": blob["digest"], "algorithm": "blake3",
                    "bytes": 6, "fileBytes": 6}


def test_diff_exit_codes_and_report(files, capsys):
    d, _ = files
    assert main(["hash", "--diff", str(d / "a.parquet"), str(d / "a.csv")]) == 0
    assert capsys.readouterr().out.startswith("same  blake3:")
    assert main(["hash", "--diff", str(d / "a.parquet"), str(d / "b.parquet")]) == 1
    out = capsys.readouterr().out
    assert "changed columns: x" in out and "changed row blocks: 0-99" in out
    assert main(["hash", "--diff", "--json", "--granularity", "row", str(d / "a.parquet"), str(d / "b.parquet")]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["changedColumns"] == ["x"] and doc["changedRowRanges"] == [[70, 71]] and doc["rowDetail"] == "rows"
    assert main(["hash", "--diff", "--granularity", "row", str(d / "a.parquet"), str(d / "b.parquet")]) == 1
    assert "changed rows: 70 (1 row)" in capsys.readouterr().out  # it said '(1 rows)'


def test_row_digest_sidecar(files, capsys):
    d, df = files
    out = d / "rows.parquet"
    assert main(["hash", "--json", "--row-digests", str(out), str(d / "a.parquet")]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["rowDigestsFile"] == str(out) and rec["granularity"] == "row"
    assert read_row_digests(out).num_rows == 100


def test_a_row_digests_file_that_cannot_be_written_is_left_as_it_was(files):
    d, _ = files
    out = d / "rows.parquet"
    out.write_text("the previous sidecar\n")
    done = subprocess.run([sys.executable, "-m", "prov_common", "hash", "--row-digests", str(out), str(d / "a.parquet")],
                          capture_output=True, text=True, timeout=120, preexec_fn=small_files(256),
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.exists() and out.read_text() == "the previous sidecar\n"  # neither removed nor truncated
    assert done.returncode == 2 and f"cannot use {out}: File too large." in done.stderr, done.stderr
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == []  # no temporary file left


def test_row_digests_replace_a_file_whole_and_are_written_into_a_pipe(files, capsys):
    d, _ = files
    out = d / "rows.parquet"
    out.write_text("old")
    out.chmod(0o640)
    assert main(["hash", "--row-digests", str(out), str(d / "a.parquet")]) == 0
    assert read_row_digests(out).num_rows == 100 and stat.S_IMODE(out.stat().st_mode) == 0o640
    pipe = d / "rows.fifo"  # as /dev/stdout piped into a reader: written in place, never replaced or removed
    os.mkfifo(pipe)
    with ThreadPoolExecutor(1) as pool:
        received = pool.submit(pipe.read_bytes)
        assert main(["hash", "--row-digests", str(pipe), str(d / "a.parquet")]) == 0
        data = received.result(timeout=60)
    assert stat.S_ISFIFO(pipe.stat().st_mode)
    assert pq.read_table(pa.BufferReader(data)).equals(read_row_digests(out))


def test_bad_input_exits_2_with_a_message(files, capsys):
    d, _ = files
    assert main(["hash", str(d / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "Fix:" in err
    (d / "bad.parquet").write_bytes(b"nope")
    assert main(["hash", str(d / "bad.parquet")]) == 2
    assert "as parquet" in capsys.readouterr().err
    assert main(["hash", "--diff", str(d / "a.csv")]) == 2
    assert main(["hash", "--csv-dtype", "nonsense", str(d / "a.csv")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["hash", "--granularity", "cell", str(d / "a.csv")])
    assert exc.value.code == 2


def test_stdin_is_hashed_as_bytes():
    proc = subprocess.run([sys.executable, "-m", "prov_common", "hash", "-"], input=b"hello\n", capture_output=True)
    assert proc.returncode == 0
    assert proc.stdout.decode() == f"blake3:{blake3(b'hello' + bytes([10])).hexdigest()}  -\n"


def test_a_warning_the_command_line_prints_is_cut_as_a_refusal_is(tmp_path):
    """A library warning reaches the command line's stderr through Python's last-resort handler, whole: a bracket name
    of 6,000 characters that names no file made 'tdprov hash' print a 6 KB warning. It is one line, its long value cut
    and its size named, as a refusal's is."""
    (tmp_path / "x1.csv").write_text("a\n1\n")
    name = str(tmp_path / f"x[{'ab' * 3000}1].csv")
    proc = subprocess.run([sys.executable, "-m", "prov_common", "hash", name], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.endswith(f"  {name}\n"), proc
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"tdprov: nothing is named '{str(tmp_path / 'x[abab')}") and len(line) < 1000, len(line)
    assert f"1].csv' ({len(name):,} characters), so the name is read as a glob, which matches 1 other name (x1.csv)" in line, line


def test_console_script_help_has_an_example():
    proc = subprocess.run([sys.executable, "-m", "prov_common", "hash", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "example:" in proc.stdout and "tdprov hash --diff" in proc.stdout


def test_a_csv_dtype_for_a_column_the_csv_lacks_is_refused_naming_the_columns(tmp_path, capsys):
    """pandas ignores dtype keys that are not columns: a misspelt name would give the undeclared digest."""
    from prov_common.errors import BadInputError
    from prov_common.hashing import hash_path, hash_shards

    (tmp_path / "parts").mkdir()
    for i in range(2):
        pd.DataFrame({"id": [i, i + 1], "v": [2, 3]}).to_csv(tmp_path / "parts" / f"part-{i}.csv", index=False)
    one = tmp_path / "parts" / "part-0.csv"
    assert main(["hash", "--csv-dtype", "id=float64", str(one)]) == 0  # a column it has: declared
    capsys.readouterr()
    assert main(["hash", "--csv-dtype", "iid=float64", str(one)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"--csv-dtype names 'iid', not a column of {one} (columns: id, v)." in err, err
    assert "Fix: spell the column as it is in the data" in err
    for dtypes in ({"iid": "float64"}, {"id": "float64", "iid": "category"}):  # read in chunks, or whole (categories)
        with pytest.raises(BadInputError, match="^csv_dtypes names 'iid', not a column of") as refused:
            hash_path(one, csv_dtypes=dtypes)
        assert "--csv-dtype" not in str(refused.value) and "remove it from csv_dtypes" in str(refused.value)  # a Python caller's words
    with pytest.raises(BadInputError, match="csv_dtypes names 'iid', not a column of") as refused:
        hash_shards(str(tmp_path / "parts"), csv_dtypes={"iid": "float64"}, cache=False, scheduler="none")
    assert "--csv-dtype" not in str(refused.value)
    assert main(["hash", "--scheduler", "none", "--no-cache", "--csv-dtype", "iid=float64", str(tmp_path / "parts")]) == 2
    err = capsys.readouterr().err
    assert "--csv-dtype names 'iid', not a column of" in err and "csv_dtypes" not in err, err


def test_a_csv_dtype_for_star_is_refused_unless_the_csv_has_a_column_named_star(tmp_path, capsys):
    """``*`` is no wildcard for CSV dtypes (pandas would ignore it, giving the undeclared digest)."""
    from prov_common.errors import BadInputError
    from prov_common.hashing import hash_path

    plain = tmp_path / "plain.csv"
    pd.DataFrame({"a": [1, 3], "b": [2, 4]}).to_csv(plain, index=False)
    assert main(["hash", "--csv-dtype", "*=str", str(plain)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"--csv-dtype names '*', not a column of {plain} (columns: a, b)." in err, err
    assert "'*' is not every column here" in err
    with pytest.raises(BadInputError, match=r"^csv_dtypes names '\*', not a column of"):
        hash_path(plain, csv_dtypes={"*": "int64"})
    starred = tmp_path / "starred.csv"
    pd.DataFrame({"*": [1, 3], "b": [2, 4]}).to_csv(starred, index=False)
    assert hash_path(starred, csv_dtypes={"*": "float64"}).digest != hash_path(starred).digest  # a real column


def test_a_named_pipe_device_or_socket_is_refused_not_read(tmp_path, capsys):
    """'tdprov hash PIPE' and 'source add PIPE' blocked until someone wrote to the pipe (for ever in a pipeline),
    'hash /dev/zero' read without end, 'hash /dev/null' printed the digest of no bytes and 'source add /dev/null'
    registered it, and a socket was 'No such device or address': each is named as what it is, exit 2, unread (in a
    daemon thread with a timeout, so a hang fails the test and is left behind)."""
    import socket
    import threading

    def within_30_s(args: list[str]) -> int | None:
        done: list[int] = []
        worker = threading.Thread(target=lambda: done.append(main(args)), daemon=True)
        worker.start()
        worker.join(30)
        return done[0] if done else None

    pipe, sock = tmp_path / "rows.csv", tmp_path / "s.jsonl"
    os.mkfifo(pipe)
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(sock))
        for path, kind in [("/dev/null", "a device"), (str(sock), "a socket"), (str(pipe), "a named pipe"), ("/dev/zero", "a device")]:
            for args in (["hash", path], ["hash", "--bytes", path], ["source", "add", path, "--name", "n", "--license", "MIT",
                                                                       "--issuer", "x", "--store", str(tmp_path / "store")]):
                assert within_30_s(args) == 2, args
                out, err = capsys.readouterr()
                assert out == "" and err == (f"tdprov {' '.join(args[:2]) if args[0] == 'source' else 'hash'}: {path!r} is "
                                             f"{kind}, not a regular file, so it has no content to hash. Fix: write the data "
                                             "to a regular file and name that file.\n"), (args, err)
    assert not (tmp_path / "store" / "sources").exists()


def test_a_dbfs_path_is_read_by_its_opener_never_as_a_local_file(tmp_path, monkeypatch, capsys):
    """``tdprov hash dbfs:/mnt/x.csv`` hashed the file ``./dbfs:/mnt/x.csv`` of the working folder when there was one
    (any ``scheme:/path`` alike): it is a Databricks file, read by the opener registered for ``dbfs`` or refused; any
    other ``scheme:/path`` is refused naming the fix, and ``./scheme:/path`` is the local file."""
    from prov_common.hashing import files as hashing_files

    local, on_dbfs = b"local\n", b"on dbfs\n"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dbfs:" / "mnt").mkdir(parents=True)
    (tmp_path / "dbfs:" / "mnt" / "x.txt").write_bytes(b"decoy in the working folder\n")
    (tmp_path / "foo:").mkdir()
    (tmp_path / "foo:" / "x.txt").write_bytes(local)

    assert main(["hash", "dbfs:/mnt/x.txt", "foo:/x.txt", "./foo:/x.txt"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"blake3:{blake3(local).hexdigest()}  ./foo:/x.txt"]
    assert "no reader for dbfs" in err and "register_opener('dbfs', fn)" in err
    assert "'foo:/x.txt' is a URI of the scheme 'foo' without '//'" in err and "./foo:/x.txt or file:///" in err

    remote = tmp_path / "workspace"
    remote.mkdir()
    (remote / "x.txt").write_bytes(on_dbfs)
    monkeypatch.setitem(hashing_files._OPENERS, "dbfs", lambda uri: open(remote / uri.rpartition("/")[2], "rb"))
    assert main(["hash", "dbfs:/mnt/x.txt"]) == 0
    assert capsys.readouterr().out == f"blake3:{blake3(on_dbfs).hexdigest()}  dbfs:/mnt/x.txt\n"
