"""Source records: signed, write-once, listed, validated; tampering and untrusted signers are found."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prov_common.cli import main
from prov_common.errors import BadInputError, VerificationError
from prov_common.signing import SigningKey, TrustStore, default_signing_key, trust_from_settings
from prov_common.sources import SourceRecord, iter_sources, read_source, register_source
from prov_common.sources.registry import source_key
from prov_common.store import open_store

DIGEST = "blake3:" + "ab" * 32


def _record(**kw) -> SourceRecord:
    base = dict(name="vendor-claims", digest=DIGEST, license="CC-BY-4.0", issuer="Acme Data", origin_geography=("DE", "FR"),
                generation_method="survey", collection_start="2024-01-01", collection_end="2024-06-30",
                personal_data="pseudonymised", confidentiality="confidential", consent="https://acme.example/consent",
                intended_use="fraud model training")
    base.update(kw)
    return SourceRecord(**base)


def test_register_read_and_tamper(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s"))
    key = SigningKey.generate()
    stored = register_source(store, _record(), key)
    assert stored.key == f"sources/vendor-claims/{'ab' * 32}.json"
    again = read_source(store, stored.key, TrustStore.of([key.public]))
    assert again.record == stored.record and again.signer == key.key_id
    assert again.record.dta()["licenseToUse"] == "CC-BY-4.0"
    assert again.record.dta()["rangeOfDatesForDataGeneration"] == {"start": "2024-01-01", "end": "2024-06-30"}
    with pytest.raises(BadInputError, match="already registered"):
        register_source(store, _record(), key)
    with pytest.raises(VerificationError, match="untrusted"):
        read_source(store, stored.key, TrustStore.of([SigningKey.generate().public]))
    path = tmp_path / "s" / stored.key
    path.write_bytes(path.read_bytes().replace(b'"payload":"ey', b'"payload":"eY'))
    problems: list = []
    assert list(iter_sources(store, TrustStore.of([key.public]), problems)) == []
    assert problems and problems[0][0] == stored.key


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"name": "bad/name"}, "source name"),
        ({"digest": "md5:00"}, "digest"),
        ({"license": " "}, "--license"),
        ({"collection_start": "2024-13-01"}, "--collection-start"),
        ({"collection_end": "2023-01-01"}, "before it starts"),
        ({"personal_data": "maybe"}, "--personal-data"),
    ],
)
def test_bad_fields_name_the_option(kw: dict, match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        _record(**kw)


@pytest.mark.parametrize("option", ["--collection-start", "--collection-end", "--issue-date", "--previous-version-date"])
@pytest.mark.parametrize("value", ["2025-03-01garbage", "2025-04-01 (approx.)", "2025-03-01T10:00:00", "20250301", "2025-03-01T10Z"])
def test_date_options_take_a_date_or_an_rfc3339_date_time_only(tmp_path: Path, capsys: pytest.CaptureFixture, option: str,
                                                                value: str) -> None:
    """Any text whose first 10 characters were a date was registered, and reached D&TA and Croissant records."""
    argv = ["source", "add", "s3://vendor/claims.parquet", "--name", "claims", "--license", "CC-BY-4.0", "--issuer", "Acme",
            "--digest", DIGEST, "--store", str(tmp_path / "s")]
    assert main([*argv, option, value]) == 2
    err = capsys.readouterr().err
    assert f"{option} {value!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time" in err and f"{option} 2025-01-31" in err, err


def test_date_options_keep_dates_and_store_date_times_in_utc(tmp_path: Path) -> None:
    record = _record(collection_start="2025-01-31T23:30:00-05:00", collection_end="2025-02-15", issue_date="2025-04-01t08:00:00z")
    assert (record.collection_start, record.collection_end, record.issue_date) == ("2025-02-01T04:30:00Z", "2025-02-15", "2025-04-01T08:00:00Z")
    assert record.dta()["rangeOfDatesForDataGeneration"] == {"start": "2025-02-01T04:30:00Z", "end": "2025-02-15"}
    # a record registered by an older tdprov keeps the dates it was signed with
    older = SourceRecord.from_dict({**_record().to_dict(), "collection_end": "2024-06-30 (approx.)", "registered_at": "2025-01-01T00:00:00Z"})
    assert older.collection_end == "2024-06-30 (approx.)"


def test_cli_add_and_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "s")
    default_signing_key()
    argv = ["source", "add", "s3://vendor/claims.parquet", "--name", "claims", "--license", "CC-BY-4.0", "--issuer", "Acme",
            "--digest", DIGEST, "--origin-geography", "DE", "--personal-data", "none", "--store", store]
    assert main(argv) == 0
    assert "registered source 'claims'" in capsys.readouterr().out
    assert main(argv) == 2
    assert "already registered" in capsys.readouterr().err
    assert main(["source", "list", "--json", "--store", store]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "claims" and listed[0]["originGeography"] == ["DE"] and listed[0]["key"] == source_key("claims", DIGEST)
    assert main(["source", "add", "x", "--name", "n", "--license", "l", "--issuer", "i", "--digest", "nope", "--store", store]) == 2
    assert list(iter_sources(open_store(store), trust_from_settings()))[0].record.location == "s3://vendor/claims.parquet"


def test_cli_list_has_a_header_and_columns_sized_in_terminal_cells(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``tdprov source list`` printed its rows unpadded past a 24-character name and with no header; it now prints a
    header and columns as wide as their content in terminal cells (a CJK character takes two), names and issuers
    escaped as ``tdprov runs`` escapes names (one line per source), every digest whole."""
    from prov_common.text import cells

    store = str(tmp_path / "s")
    default_signing_key()
    sources = [("a-much-longer-source-name-than-24", "MIT", "Acme", "1"), ("c", "CC0-1.0", "東京大学\nデータ", "2"),
               ("b", "CC-BY-4.0", "Acme", "3")]
    for name, license, issuer, n in sources:
        assert main(["source", "add", f"s3://vendor/{n}.csv", "--name", name, "--license", license, "--issuer", issuer,
                     "--digest", "blake3:" + n * 64, "--store", store]) == 0
    capsys.readouterr()
    assert main(["source", "list", "--store", store]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "DIGEST", "LICENSE", "ISSUER", "LOCATION"] and len(rows) == 3, (header, rows)

    def at(line: str, cell: int) -> str:  # what a line shows from terminal cell ``cell`` on
        for i in range(len(line) + 1):
            if cells(line[:i]) == cell:
                return line[i:]
        raise AssertionError(f"no character starts at cell {cell}: {line!r}")

    starts = [cells(header[:header.index(title)]) for title in ("DIGEST", "LICENSE", "ISSUER", "LOCATION")]
    for name, license, issuer, n in sources:
        (line,) = [r for r in rows if r.startswith(name + " ")]
        shown = [f"blake3:{n * 64}  ", license + " ", issuer.replace("\n", "\\n") + " ", f"s3://vendor/{n}.csv"]
        assert [at(line, cell).startswith(text) for cell, text in zip(starts, shown)] == [True] * 4, (line, starts)


def test_cli_add_hashes_the_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prov_common.hashing import hash_path

    data = tmp_path / "vendor.csv"
    data.write_text("id,amount\n1,9.5\n2,3.0\n")
    store = str(tmp_path / "s")
    assert main(["source", "add", str(data), "--name", "vendor", "--license", "MIT", "--issuer", "V", "--store", store]) == 0
    record = list(iter_sources(open_store(store), trust_from_settings()))[0].record
    assert record.digest == hash_path(data).digest and record.rows == 2
    assert record.bytes == data.stat().st_size != hash_path(data).bytes  # the file's size, not the canonical table's
    assert main(["source", "add", str(tmp_path / "missing.csv"), "--name", "m", "--license", "MIT", "--issuer", "V", "--store", store]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_cli_add_hashes_s3_data(s3_store_uri: str, tmp_path: Path) -> None:
    import boto3

    from prov_common.hashing import hash_path

    bucket = s3_store_uri[len("s3://"):].split("/")[0]
    (tmp_path / "v.csv").write_text("id,amount\n1,9.5\n")
    boto3.client("s3").upload_file(str(tmp_path / "v.csv"), bucket, "vendor/v.csv")
    assert main(["source", "add", f"s3://{bucket}/vendor/v.csv", "--name", "v", "--license", "MIT", "--issuer", "V", "--store", s3_store_uri]) == 0
    record = list(iter_sources(open_store(s3_store_uri), trust_from_settings()))[0].record
    assert record.digest == hash_path(tmp_path / "v.csv").digest and record.location == f"s3://{bucket}/vendor/v.csv"
    assert record.bytes == (tmp_path / "v.csv").stat().st_size


def test_source_list_of_a_store_whose_sources_folder_is_a_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """It said 'no sources registered' and exited 0: the records were there to be restored, and nothing said so."""
    store = tmp_path / "s"
    register_source(open_store(str(store)), _record(), default_signing_key())
    shutil.rmtree(store / "sources")
    (store / "sources").write_bytes(b"x")
    assert main(["source", "list", "--store", str(store)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"tdprov source list: cannot list 'sources/' in local folder {store}: "
                                        f"{store / 'sources'} is not a folder"), err
    assert "restore the folder from a backup or replica of the store" in err


def test_source_add_refuses_a_bad_name_before_it_hashes_the_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The name was checked only once the data was hashed (a folder of shards can take minutes), after a licence was
    taken from another record of the data, and a long one was echoed whole: the name is checked first, shown at most
    200 characters long with its size, and no shard is read (one that is a named pipe would refuse the hash)."""
    import os

    shards = tmp_path / "shards"
    shards.mkdir()
    os.mkfifo(shards / "part-0.csv")
    for name in ("bad name", "ü名", "n" * 5000):
        assert main(["source", "add", str(shards), "--name", name, "--license", "MIT", "--issuer", "V",
                     "--store", str(tmp_path / "s")]) == 2
        out, err = capsys.readouterr()
        shown = repr(name) if len(name) < 200 else f"'{name[:149]}…{name[-50:]}' ({len(name):,} characters)"
        assert out == "" and err == (f"tdprov source add: source name {shown} is not usable as a name. Fix: use "
                                     "letters, digits, '.', '_' and '-' (up to 128 characters), e.g. 'vendor-claims-2025'\n")


@pytest.mark.parametrize(("option", "value", "said", "what", "example"), [
    ("--license", "", "empty", "licence", "an SPDX id such as CC-BY-4.0, or a URL"),
    ("--license", "  ", "blank", "licence", "an SPDX id such as CC-BY-4.0, or a URL"),
    ("--issuer", "", "empty", "issuer", "who issued the data")])
def test_source_add_refuses_an_empty_licence_or_issuer_given_on_purpose(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                        option: str, value: str, said: str, what: str,
                                                                        example: str) -> None:
    """On a store already holding a record of the data, ``--license ''`` was taken for --license not given, and the
    other record's licence was recorded ('--license not given: taken from source ...'): it is refused, naming the
    option, and nothing is recorded."""
    store = str(tmp_path / "s")
    default_signing_key()
    assert main(["source", "add", "s3://vendor/claims.parquet", "--name", "claims", "--license", "CC-BY-4.0", "--issuer",
                 "Acme", "--digest", DIGEST, "--store", store]) == 0
    capsys.readouterr()
    given = {"--license": "MIT", "--issuer": "V", option: value}
    options = [word for pair in given.items() for word in pair]
    assert main(["source", "add", "s3://vendor/claims.parquet", "--name", "claims-2", *options, "--digest", DIGEST,
                 "--store", store]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"tdprov source add: {option} is given {said}, which is no {what}. Fix: pass "
                                 f"the {what} ({example}), or leave {option} out to take it from an earlier record of "
                                 "the same data at the same location\n")
    assert [s.record.name for s in iter_sources(open_store(store), trust_from_settings())] == ["claims"]


def test_source_add_takes_a_left_out_licence_only_from_records_at_the_same_location(tmp_path: Path,
                                                                                    capsys: pytest.CaptureFixture) -> None:
    """A record at /mirror/x.csv with no --license took the licence and issuer of the record at /data/x.csv because the
    bytes are equal: another dataset's facts. It is refused (exit 2), naming the equal bytes as a fact; a later record
    at the mirror takes them from the mirror's own record (``s3a://`` being ``s3://``), and says the other took no
    part. A record with no location is a version of its own."""
    store = str(tmp_path / "s")
    default_signing_key()
    fix = ("Fix: pass --license (an SPDX id or URL) and --issuer (who issued the data); a later record of the same data at "
           "the same location under another name may leave them out and takes them from this one\n")

    def add(location: str, name: str, *options: str) -> tuple[int, str, str]:
        code = main(["source", "add", location, "--name", name, *options, "--digest", DIGEST, "--store", store])
        return (code, *capsys.readouterr())

    assert add("/data/x.csv", "cancer", "--license", "CC-BY-4.0", "--issuer", "Acme")[0] == 0
    assert add("/mirror/x.csv", "mirror") == (2, "", (
        f"tdprov source add: no verified source record of {DIGEST} at /mirror/x.csv in {store}, so this first record of the "
        "data there needs --license and --issuer (--license and --issuer not given); equal bytes are registered at "
        "/data/x.csv as 'cancer' (licence CC-BY-4.0, issuer Acme), another dataset: its licence and issuer were not "
        "taken. " + fix))
    assert add("/mirror/x.csv", "mirror", "--issuer", "Mirror Inc") == (2, "", (
        f"tdprov source add: no verified source record of {DIGEST} at /mirror/x.csv in {store}, so this first record of the "
        "data there needs --license and --issuer (--license not given); equal bytes are registered at /data/x.csv as "
        "'cancer' (licence CC-BY-4.0), another dataset: its licence was not taken. " + fix))
    assert sorted(s.record.name for s in iter_sources(open_store(store), trust_from_settings())) == ["cancer"]

    assert add("s3://b/x.csv", "mirror", "--license", "MIT", "--issuer", "Mirror Inc")[0] == 0
    code, out, err = add("s3a://b/x.csv", "mirror-2", "--consent", "https://m.example/consent")
    assert (code, err) == (0, ""), err
    assert out.splitlines()[:2] == ["--license and --issuer not given: taken from source 'mirror': licence MIT, issuer Mirror Inc",
                                    "equal bytes are registered at /data/x.csv as 'cancer' (licence CC-BY-4.0, issuer Acme), "
                                    "another dataset: nothing was taken from it"]
    recorded = {s.record.name: s.record for s in iter_sources(open_store(store), trust_from_settings())}
    assert (recorded["mirror-2"].license, recorded["mirror-2"].issuer) == ("MIT", "Mirror Inc")

    register_source(open_store(store), SourceRecord(name="unplaced", digest="blake3:" + "cd" * 32, license="CC0-1.0",
                                                    issuer="Old"), default_signing_key())
    code = main(["source", "add", "/data/y.csv", "--name", "y", "--license", "MIT", "--digest", "blake3:" + "cd" * 32,
                 "--store", store])
    assert code == 2 and ("equal bytes are registered with no location as 'unplaced' (issuer Old), another dataset: its "
                          "issuer was not taken.") in capsys.readouterr().err


def test_source_list_says_a_deleted_record_is_for_the_audit_to_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The newest record of a source deleted: 'tdprov source list' showed the older one, exit 0, saying nothing, while
    the audit names the deletion. It says, on stderr, that it checks each record by its signature alone and that the
    audit is what compares them with what it listed before."""
    from test_audit_support import audit

    store = str(tmp_path / "s")
    default_signing_key()
    for n in ("1", "2"):
        assert main(["source", "add", "s3://vendor/claims.csv", "--name", "vendor-claims", "--license", "MIT", "--issuer", "Acme",
                     "--digest", "blake3:" + n * 64, "--store", store]) == 0
    assert audit(store).clean
    newest = source_key("vendor-claims", "blake3:" + "2" * 64)
    (tmp_path / "s" / newest).unlink()
    capsys.readouterr()
    assert main(["source", "list", "--store", store]) == 0
    out, err = capsys.readouterr()
    assert ["blake3:" + "1" * 64] == [line.split()[1] for line in out.splitlines()[1:]]
    assert err == ("tdprov source list: these are the records the store holds now, each checked by its signature alone: one "
                   "deleted, or replaced by an older one, is not named here; 'tdprov audit' checks them against what it listed "
                   "before\n")
    assert [f for f in audit(store).errors if f.object == newest and "it was deleted" in f.what]


def test_a_relative_file_named_file_colon_is_recorded_at_its_absolute_path(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``file:data/x.csv`` is no file URI (RFC 8089 takes an absolute path) but the relative file of that name, as hashing
    and dataset names read it. It was recorded as written, so each reader found it in its own folder: the files of that
    name in two folders were one source version, and the second record took the first one's licence and issuer."""
    store = str(tmp_path / "store")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    add = ["source", "add", "file:data/x.csv", "--digest", DIGEST, "--store", store]
    monkeypatch.chdir(tmp_path / "a")
    assert main([*add, "--name", "a", "--license", "MIT", "--issuer", "A"]) == 0
    [stored] = iter_sources(open_store(store), trust_from_settings())
    assert stored.record.location == str(tmp_path / "a" / "file:data" / "x.csv")
    monkeypatch.chdir(tmp_path / "b")
    capsys.readouterr()
    assert main([*add, "--name", "b"]) == 2
    err = capsys.readouterr().err
    assert f"no verified source record of {DIGEST} at {tmp_path / 'b' / 'file:data' / 'x.csv'} in" in err, err
    assert f"equal bytes are registered at {tmp_path / 'a' / 'file:data' / 'x.csv'} as 'a' (licence MIT, issuer A)" in err, err


def test_source_list_of_a_store_whose_every_record_fails_says_none_verifies(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """With every record altered, it said 'no sources registered; add one with tdprov source add' above the records it
    named as not verifying: registering again was no fix, and the records were there to be restored."""
    store = tmp_path / "s"
    stored = register_source(open_store(str(store)), _record(), default_signing_key())
    path = store / stored.key
    path.write_bytes(path.read_bytes().replace(b'"payload":"ey', b'"payload":"eY'))
    assert main(["source", "list", "--store", str(store)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("no source record verifies: 1 source record in the store does not, named below\n"
                                        f"tdprov source list: {stored.key}: "), err
    assert "no sources registered" not in err


@pytest.mark.parametrize("given", ["file:data/x.csv", "data/x.csv", "./data/../data/x.csv"])
def test_the_python_api_records_a_relative_location_at_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       given: str) -> None:
    """register_source stored a relative location as given, where tdprov source add makes it absolute: the files of one
    name in two folders were one source version. It records the absolute path, as source add does; a URI stays."""
    store = open_store(str(tmp_path / "store"))
    key = default_signing_key()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        stored = register_source(store, _record(name=folder, location=given), key)
        assert stored.record.location == str(tmp_path / folder / given.removeprefix("./").replace("data/../", "")), stored.record
    assert {s.record.location for s in iter_sources(store, trust_from_settings())} == {
        str(tmp_path / f / given.removeprefix("./").replace("data/../", "")) for f in "ab"}
    uri = register_source(store, _record(name="uri", location="s3://bucket/data/x.csv"), key)
    assert uri.record.location == "s3://bucket/data/x.csv"
