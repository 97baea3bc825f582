"""A lookup object (``audit/generated/``) belongs to the log of the store it is in: one the same auditor signed for
another store (or prefix), copied in by someone who can write the store but holds no key, is a finding and never
an origin here (the completeness check, the report's training data); lookups written before they named their
checkpoint are still read when the run they name is one this store's log holds. On a local folder and on S3 (moto);
as in tests/test_audit_attacks.py, a lookup copied in under a key no audit here writes, or catalog segments deleted, are
found from keys and signed bytes, the same on both stores, and are tried on the local folder only."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.audit import generated
from prov_common.audit.generated import generated_key
from prov_common.audit.model import CHECK_COMPLETENESS, CHECK_INVENTORY, CHECK_LOG
from prov_common.signing import default_signing_key
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store

from test_audit_support import T0, Pipeline, dataset, digest, raw_delete, raw_read, raw_write, run_events, seal, audit as _audit

FEATURES = "/data/features.parquet"


LOCAL_ONLY = pytest.mark.parametrize("store_uri", ["local"], indirect=True)  # see the module's docstring


def _shown(result) -> list[str]:
    return [f"{f.check} {f.object}: {f.what}" for f in result.errors]


def _train(uri: str, job: str, hours: int) -> str:
    """A training run of this store that reads the features at the version the other store's pipeline wrote."""
    return seal(open_store(uri), run_events(job, [dataset(FEATURES, digest("features"))], [dataset(f"/models/{job}.pkl", digest(job))],
                                            start=T0 + timedelta(hours=hours), job_type="TRAINING"))


def _store_without_the_preparation(uri: str) -> str:
    """This store: the same registered source as the other's, and a training run on features no run here wrote."""
    register_source(open_store(uri), SourceRecord(name="vendor-raw", digest=digest("raw"), license="CC-BY-4.0", issuer="Acme Data",
                                                  location="/data/raw.csv"), default_signing_key())
    return _train(uri, "train_model", 2)


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


@LOCAL_ONLY
def test_a_lookup_object_of_another_store_is_a_finding_and_no_origin_here(store_uri: str, tmp_path: Path) -> None:
    train = _store_without_the_preparation(store_uri)
    first = _audit(store_uri)
    assert [f.run_id for f in first.check(CHECK_COMPLETENESS).errors] == [train], _shown(first)
    other = Pipeline(store_uri + "-b")  # source -> prepare -> features -> train, audited by the same auditor
    assert _audit(other.store.uri).clean
    key = generated_key("file", FEATURES, other.features)
    raw_write(store_uri, key, raw_read(other.store.uri, key))

    adopted = _audit(store_uri)  # no run reads it yet: the inventory meets it
    assert any(f.object == key for f in adopted.check(CHECK_INVENTORY).errors), _shown(adopted)
    again = _train(store_uri, "train_again", 3)  # a new run reads the version: the audit looks its generator up
    for full in (False, False, True):
        out = tmp_path / f"report-{full}-{len(list(tmp_path.iterdir()))}"
        result = _audit(store_uri, full=full, report_dir=out)
        assert result.exit_code == 1 and any(f.object == key for f in result.errors), (full, _shown(result))
        broken = {f.run_id for f in result.check(CHECK_COMPLETENESS).errors}
        assert {train, again} <= broken, (full, _shown(result))
        report = _report(out)
        assert other.prepare not in json.dumps(report), full
        assert {e["writtenBy"] for e in report["trainingData"]} == {None}, report["trainingData"]


@LOCAL_ONLY
def test_a_lookup_object_of_this_store_still_stands_in_for_a_lost_catalog(store_uri: str) -> None:
    pipe = Pipeline(store_uri)
    assert _audit(store_uri).clean
    for segment in pipe.store.list("audit/catalog/"):
        raw_delete(store_uri, segment)
    _train(store_uri, "train_again", 3)
    result = _audit(store_uri)
    assert result.check(CHECK_COMPLETENESS).errors == [], _shown(result)
    assert not any(f.object.startswith(generated.GENERATED_PREFIX) for f in result.errors), _shown(result)


def test_lookup_objects_written_before_they_named_their_checkpoint_are_read_when_their_run_is_logged_here(
        store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = ("/data/elsewhere.parquet", digest("elsewhere"))
    with monkeypatch.context() as older:  # as tdprov wrote lookups before: no checkpoint named
        older.setattr(generated, "written_at", lambda head: {}, raising=False)
        pipe = Pipeline(store_uri)
        assert _audit(store_uri).clean
        other = store_uri + "-b"
        seal(open_store(other), run_events("prepare_elsewhere", [], [dataset(*elsewhere)]))
        assert _audit(other).clean
    ours = generated_key("file", FEATURES, pipe.features)
    assert "checkpointRoot" not in raw_read(store_uri, ours).decode()
    for segment in pipe.store.list("audit/catalog/"):  # the lookups stand in for the catalog
        raw_delete(store_uri, segment)
    _train(store_uri, "train_again", 3)
    result = _audit(store_uri)
    assert result.check(CHECK_COMPLETENESS).errors == [] and not any(f.object == ours for f in result.errors), _shown(result)

    # the other store's older lookup, copied in: the run it names is not one this store's log holds
    theirs = generated_key("file", *elsewhere)
    raw_write(store_uri, theirs, raw_read(other, theirs))
    seal(pipe.store, run_events("evaluate", [dataset(*elsewhere)], [], start=T0 + timedelta(hours=4)))
    found = _audit(store_uri)
    assert any(f.object == theirs and f.check == CHECK_LOG for f in found.errors), _shown(found)
    assert any(f.object == theirs and f.check == CHECK_INVENTORY for f in found.errors), _shown(found)
    assert any("evaluate" in f.what for f in found.check(CHECK_COMPLETENESS).errors), _shown(found)


def test_a_lookup_object_copied_under_another_versions_key_is_a_finding(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    pipe = Pipeline(uri)
    assert _audit(uri).clean
    moved = generated_key("file", FEATURES, digest("features v2"))
    raw_write(uri, moved, raw_read(uri, generated_key("file", FEATURES, pipe.features)))
    result = _audit(uri)
    assert any(f.object == moved and "which its key does not name" in f.what for f in result.check(CHECK_INVENTORY).errors), _shown(result)
