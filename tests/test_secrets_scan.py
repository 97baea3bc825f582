"""Planted secrets and personal data never reach anything tdprov writes.

Secrets are planted in dataset URIs, connection strings, environment variables, run parameters,
job/asset metadata facets and error messages; real emissions run through ``ProvenanceTransport``
(one run while the store is down, so it goes through the spool, then ``flush``) and through Dagster
``materialize``; then every byte of the store, the spool, the captured log lines and the audit
report is scanned. A value in a column flagged personal is planted in failing rows and must appear
nowhere either, while the samples of the other columns are kept (so the scan is not vacuous).
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from dagster import DagsterInstance, materialize

from bundle_support import all_stored_bytes, dataset, event
from prov_common.audit import run_audit
from prov_common.bundle import layout, list_bundles, read_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.lineage import build_run_event, collect_run_context, event_to_dict
from prov_common.store import Outbox, open_store

from dagster_support import delivered

AWS_KEY_ID, AWS_SECRET = "AKIAQPLANTEDKEY7X2Z9", "pL4nt3dS3cr3tK3y/wJalrXUtnFEMIK7MDENGbPxR"
DB_PASSWORD, API_TOKEN = "Pl4nt3d-DB-pa55", "tok_planted_0123456789abcdef"
GITHUB_TOKEN = "ghp_PLANTEDplantedPLANTEDplanted0123"
SIGNATURE = "PLANTEDSIGNATURE0123456789abcdef"
SECRETS = [AWS_KEY_ID, AWS_SECRET, DB_PASSWORD, API_TOKEN, GITHUB_TOKEN, SIGNATURE]
PERSONAL = "planted.person@example.org"


def _hostile_events(run_id: str) -> list[dict]:
    """Events as a third-party producer might send them: secrets everywhere."""
    raw = dataset(f"s3://{AWS_KEY_ID}:{AWS_SECRET}@lake", "raw/users.parquet", "blake3:" + "1" * 64)
    db = dataset(f"postgres://etl:{DB_PASSWORD}@db:5432", "sales.public.users", "blake3:" + "2" * 64)
    signed = dataset("https://b.s3.amazonaws.com", f"k.csv?X-Amz-Signature={SIGNATURE}&X-Amz-Credential={AWS_KEY_ID}")
    start = event(run_id, "START", "2026-03-01T10:00:00Z", inputs=[raw, db, signed])
    start["run"]["facets"]["tdprov_runContext"] = {
        "_producer": "p", "_schemaURL": "s",
        "parameters": {"password": DB_PASSWORD, "api_key": API_TOKEN, "cmd": f"train --token={API_TOKEN}",
                       "env": {"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "GITHUB_TOKEN": GITHUB_TOKEN}},
    }
    start["job"]["facets"]["sql"] = {"_producer": "p", "_schemaURL": "s",
                                     "query": f"COPY x FROM 's3://b/k' CREDENTIALS 'aws_access_key_id={AWS_KEY_ID};aws_secret_access_key={AWS_SECRET}'"}
    start["job"]["facets"]["assetMetadata"] = {"_producer": "p", "_schemaURL": "s",
                                               "connection": f"Server=db;User Id=sa;Password={DB_PASSWORD};",
                                               "authorization": f"Bearer {API_TOKEN}"}
    end = event(run_id, "FAIL", "2026-03-01T10:00:05Z", inputs=[raw, db],
                outputs=[dataset("s3://lake", "clean/users.parquet", "blake3:" + "3" * 64)])
    end["run"]["facets"]["errorMessage"] = {"_producer": "p", "_schemaURL": "s", "programmingLanguage": "python",
                                            "message": f"could not connect to postgres://etl:{DB_PASSWORD}@db:5432 (token={API_TOKEN})"}
    return [start, end]


def _own_event(run_id: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """An event built by tdprov itself, with the environment and parameters holding secrets."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"postgres://etl:{DB_PASSWORD}@db/x")
    context = collect_run_context(orchestrator="dagster", parameters={
        "env": {"AWS_SECRET_ACCESS_KEY": AWS_SECRET, "DATABASE_URL": f"postgres://etl:{DB_PASSWORD}@db/x"},
        "github_token": GITHUB_TOKEN, "source": f"s3://{AWS_KEY_ID}:{AWS_SECRET}@b/k"})
    return event_to_dict(build_run_event("COMPLETE", run_id=run_id, job_name="train", context=context))


def _scan(blob: bytes, where: str, planted: list[str]) -> None:
    for secret in planted:
        assert secret.encode() not in blob, f"{secret!r} found in {where}"
        assert json.dumps(secret)[1:-1].encode() not in blob, f"{secret!r} (JSON-escaped) found in {where}"


def test_no_planted_secret_in_store_spool_logs_or_report(s3_server, s3_fault, monkeypatch, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    bucket = s3_server.create_bucket()
    spool = tmp_path / "spool"
    down_uri = s3_fault("closed", bucket)
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    with caplog.at_level(logging.DEBUG):
        transport = ProvenanceTransport(ProvenanceConfig(store=down_uri, spool=str(spool), timeout=5))
        for ev in _hostile_events(first):
            transport.emit(ev)
        transport.close()
        spooled = b"".join(p.read_bytes() for p in spool.rglob("*") if p.is_file())
        assert len(Outbox(spool).pending()) == 3 and first.encode() in spooled
        s3_server.point(monkeypatch)
        monkeypatch.delenv("TDPROV_STORE_MAX_ATTEMPTS")
        transport = ProvenanceTransport(ProvenanceConfig(store=f"s3://{bucket}/prefix", spool=str(spool), timeout=5))
        for ev in _hostile_events(second):
            transport.emit(ev)
        transport.emit(_own_event(third, monkeypatch))
        transport.close()
        assert Outbox(spool).flush().ok
        store = open_store(f"s3://{bucket}/prefix")
        result = run_audit(store, report_dir=tmp_path / "report", progress=False, stale_after=timedelta(0))
    assert {s.run_id for s in list_bundles(store)} == {first, second, third}
    events = read_bundle(store, second).files[layout.EVENTS_FILE]
    assert b"postgres://db:5432" in events and b"raw/users.parquet" in events  # the records are there, redacted

    _scan(spooled, "the spool", SECRETS)
    _scan(all_stored_bytes(f"s3://{bucket}/prefix"), "the store", SECRETS)
    _scan(caplog.text.encode(), "the log", SECRETS)
    report = b"".join(p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file())
    assert first.encode() in report and result.report_json
    _scan(report, "the audit report", SECRETS)


# -- Dagster: masked personal column, secrets in asset metadata ----------------------------------
USERS = pa.DataFrameSchema({"email": pa.Column(str), "age": pa.Column(int, pa.Check.in_range(0, 120), metadata={"personal": False})},
                           name="Users")


def test_dagster_materialize_masks_personal_column_and_redacts_metadata(tmp_path: Path, monkeypatch) -> None:
    from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

    store_dir = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store_dir))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)

    @provenance_asset(schema=USERS, quality_policy="record", masked_columns=["email"],
                      metadata={"connection": f"postgres://etl:{DB_PASSWORD}@db/x", "api_token": API_TOKEN})
    def users() -> pd.DataFrame:
        return pd.DataFrame({"email": [PERSONAL, "other@example.org", PERSONAL], "age": [-7, 30, 4242]})

    with DagsterInstance.ephemeral() as instance:
        result = materialize([users], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    assert result.success
    store = open_store(str(store_dir))
    delivered(store)
    [summary] = list(list_bundles(store))
    files = read_bundle(store, summary.run_id).files
    samples = [p for p in files if p.startswith("quality/")]
    assert samples, sorted(files)  # failure samples were recorded ...
    table = pd.read_parquet(__import__("io").BytesIO(files[samples[0]]))
    assert "4242" in table.astype(str).to_csv()  # ... with the failing values of unflagged columns
    everything = all_stored_bytes(str(store_dir))
    _scan(everything, "the store", [PERSONAL, *SECRETS])
    _scan(b"".join(str(e).encode() for e in result.all_events), "Dagster's event log", [PERSONAL])


def test_samples_can_be_turned_off(tmp_path: Path) -> None:
    from prov_common.quality.validate import validate

    df = pd.DataFrame({"email": [PERSONAL], "age": [-1]})
    assert len(validate(df, USERS, sample_rows=0).failure_sample) == 0
    sample = validate(df, USERS, masked_columns=["email"]).failure_sample
    assert PERSONAL not in sample.astype(str).to_csv() and len(sample) >= 1
