"""Masking of failure samples: what a source record flags, how a record is found, the index, '*',
and the one Parquet layout of a sample."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow.parquet as pq
import pytest

from personal_support import PEOPLE, PLANTED, VISIBLE, people, register_people, write_people
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.quality import MASK, SAMPLE_SCHEMA, validate
from prov_common.sources import SourceRecord, iter_sources
from prov_common.signing import trust_from_settings
from prov_common.sources.masking import masking_for, source_masking
from prov_common.store import open_store

DIGEST = "blake3:" + "ab" * 32


def _record(**fields: object) -> SourceRecord:
    return SourceRecord(name="people", digest=DIGEST, license="MIT", issuer="acme", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fields", "masked"), [
    ({}, ()),
    ({"personal_data": "none", "confidentiality": "internal"}, ()),
    ({"personal_data": "anonymised", "confidentiality": "public"}, ()),
    ({"personal_data": "personal"}, ("*",)),
    ({"personal_data": "sensitive"}, ("*",)),
    ({"personal_data": "pseudonymised"}, ("*",)),
    ({"confidentiality": "confidential"}, ("*",)),
    ({"confidentiality": "restricted"}, ("*",)),
    ({"personal_data": "personal", "personal_columns": ("email",)}, ("email",)),  # the user says which columns
    ({"personal_columns": ("email", "phone"), "confidential_columns": ("salary", "email")}, ("email", "phone", "salary")),
])
def test_record_masked_columns(fields: dict, masked: tuple) -> None:
    assert _record(**fields).masked_columns == masked


def test_record_columns_round_trip_and_bad_columns_are_refused() -> None:
    record = _record(personal_columns=("email",))
    assert SourceRecord.from_json(record.to_json()) == record
    assert b'"personal_columns":["email"]' in record.to_json()
    assert b"columns" not in _record().to_json()  # records without columns keep their bytes
    with pytest.raises(BadInputError, match="--personal-columns"):
        _record(personal_columns=("email", ""))


def test_cli_registers_flagged_columns(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "store")
    data = write_people(tmp_path / "people.parquet")
    assert main(["source", "add", str(data), "--name", "people", "--license", "MIT", "--issuer", "acme",
                 "--personal-columns", "email, phone", "--store", store]) == 2  # not a column of the data
    assert "'phone', not a column of" in capsys.readouterr().err and not Path(store).exists()
    assert main(["source", "add", str(data), "--name", "people", "--license", "MIT", "--issuer", "acme",
                 "--personal-columns", "email", "--confidential-columns", "age", "--store", store]) == 0
    [stored] = iter_sources(open_store(store), trust_from_settings(Settings.from_env(store=store)))
    assert stored.record.masked_columns == ("email", "age")


def test_which_records_apply_to_a_dataset() -> None:
    flagged = _record(personal_columns=("email",), location="s3://lake/raw/people.parquet")
    other = SourceRecord(name="other", digest="blake3:" + "cd" * 32, license="MIT", issuer="x",
                         personal_columns=("phone",), location="/data/other.csv")
    records = [flagged, other]
    assert masking_for(records, refs=["people"]).columns == ("email",)
    assert masking_for(records, refs=[DIGEST]).columns == ("email",)
    assert masking_for(records, digest=DIGEST).columns == ("email",)
    assert masking_for(records, uri="s3://lake/raw/people.parquet").columns == ("email",)
    assert masking_for(records, uri="file:///data/other.csv").columns == ("phone",)
    assert masking_for(records, uri="s3://lake/raw/else.parquet", digest="blake3:" + "00" * 32, refs=["nope"]).columns == ()
    assert masking_for(records, refs=["people", "other"]).sources == (f"people {DIGEST}", f"other {other.digest}")


def test_store_records_are_read_and_an_unreadable_store_masks_everything(tmp_path: Path, s3_fault) -> None:
    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    record = register_people(store, raw, personal_columns=("email",))
    settings = Settings.from_env(store=store)
    assert source_masking(settings, uri=str(raw)).columns == ("email",)
    assert source_masking(settings, digest=record.digest).columns == ("email",)
    down = source_masking(Settings.from_env(store=s3_fault("closed")), refs=["people-raw"])
    assert down.columns == ("*",) and "could not be read" in (down.warning or "")


def test_untrusted_records_are_left_out_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that does not verify is never used. When it is a record of the named source or of the dataset's digest
    (by its key), it may be the one that flags columns: every column is masked; another source's record changes
    nothing. Both are named in the warning."""
    store = str(tmp_path / "store")
    record = register_people(store, write_people(tmp_path / "people.parquet"), personal_columns=("email",))
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "another-home"))  # another user's trust: the signer is unknown
    settings = Settings.from_env(store=store)
    for own in (source_masking(settings, refs=["people-raw"]), source_masking(settings, digest=record.digest)):
        assert own.columns == ("*",) and "sources/people-raw/" in (own.warning or "")
        assert own.warning.startswith("1 source record that does not verify is not trusted ('sources/people-raw/"), own.warning
        assert "untrusted key" in own.warning and "Fix:" in own.warning
    other = source_masking(settings, refs=["other"], digest="blake3:" + "00" * 32)
    assert other.columns == () and "1 other source record does not verify, so it is not trusted and not used: sources/people-raw/" in (
        other.warning or "")


def test_the_unverified_records_warning_counts_them_in_words() -> None:
    """It said "source record(s) that do not verify", and "they are not trusted" of one other record."""
    from prov_common.errors import BadInputError
    from prov_common.sources.unverified import unverified_warning

    def bad(key: str) -> tuple[str, BadInputError]:
        return key, BadInputError(f"source record '{key}' is signed by an untrusted key.", fix="trust the key")

    own, other = [bad("sources/a/1.json"), bad("sources/a/2.json")], [bad("sources/b/1.json"), bad("sources/c/1.json")]
    said = unverified_warning(own, other, "every column is masked")
    assert said.startswith("2 source records that do not verify are not trusted ('sources/a/1.json': is signed by an untrusted "
                           "key; 'sources/a/2.json': is signed by an untrusted key): every column is masked."), said
    assert "2 other source records do not verify, so they are not trusted and not used: sources/b/1.json, sources/c/1.json." in said


def test_star_masks_every_value_but_keeps_missing_column_names() -> None:
    frame = people().drop(columns=["age"])
    sample = validate(frame, PEOPLE, masked_columns="*").failure_sample
    assert set(sample[sample["check"] != "column_in_dataframe"]["failure_case"]) == {MASK}
    assert "age" in set(sample["failure_case"])  # the name of the missing column is not a value


def test_a_masked_index_level_hides_row_labels() -> None:
    frame = people().set_index("email")
    checks = {"age": pa.Column(int, pa.Check.in_range(0, 120), metadata={"personal": False})}
    flagged = pa.DataFrameSchema(checks, index=pa.Index(str, name="email", metadata={"personal": True}))
    sample = validate(frame, flagged).failure_sample
    assert list(sample["failure_case"]) == [VISIBLE] and list(sample["index"]) == [MASK]
    assert list(validate(frame, pa.DataFrameSchema(checks), masked_columns="email").failure_sample["index"]) == [MASK]
    assert list(validate(frame, pa.DataFrameSchema(checks)).failure_sample["index"]) == [MASK]  # private by default
    assert list(validate(frame, pa.DataFrameSchema(checks), raw_samples=True).failure_sample["index"]) == [PLANTED]
    ranged = validate(people(), PEOPLE, masked_columns="*").failure_sample  # a default RangeIndex is not data
    assert set(ranged["index"].dropna()) <= {"0", "1", "2"}


def test_result_masked_later_and_stored_in_one_layout() -> None:
    result = validate(people(), PEOPLE, raw_samples=True)
    assert PLANTED in set(result.failure_sample["failure_case"])
    masked = result.masked(["email"])
    assert PLANTED not in set(masked.failure_sample["failure_case"]) and VISIBLE in set(masked.failure_sample["failure_case"])
    assert masked == result and masked.has_samples
    data = masked.samples_parquet()
    assert pq.read_schema(io.BytesIO(data)).equals(SAMPLE_SCHEMA)
    assert pq.read_schema(io.BytesIO(data)).metadata is None  # no pandas metadata: bytes do not depend on it
    assert data == masked.samples_parquet()
    empty = validate(people(), PEOPLE, sample_rows=0)
    assert not empty.has_samples and pq.read_table(io.BytesIO(empty.samples_parquet())).num_rows == 0


@pytest.mark.parametrize("rows", [-1, True, "5", 2.0])
def test_bad_sample_rows_are_refused(rows: object) -> None:
    from prov_dagster import provenance_asset

    with pytest.raises(BadInputError, match="sample_rows"):
        validate(pd.DataFrame({"a": [1]}), PEOPLE, sample_rows=rows)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="sample_rows.*provenance_asset"):
        provenance_asset(schema=PEOPLE, sample_rows=rows)(lambda: None)  # type: ignore[arg-type]
