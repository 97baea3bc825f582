"""The Airflow audit operator puts the checkpoint it verified into its task's OpenLineage events (run facet
``tdprov_auditCheckpoint``, an openlineage-python facet class with a shipped JSON Schema); over a gap the facet says so and carries no checkpoint."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

from airflow.sdk import DAG

from prov_airflow.operators.audit import ProvenanceAuditOperator
from prov_common.audit.memory import memory_path
from prov_common.store import open_store

from test_airflow_operators import START, _produce


def _audit_events(store: Path, job: str) -> list[dict]:
    runs = [s for s in bundles_of(store) if s.job_name == job]
    assert len(runs) == 1, [s.job_name for s in bundles_of(store)]
    return events_of(store, runs[0].run_id)


def test_audit_operator_events_carry_the_checkpoint_facet(tmp_path: Path, store: Path, ol_validator) -> None:
    _produce(store, "tdprov_facet_up", tmp_path)
    with DAG("tdprov_facet", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "audit"))
    assert run_dag(dag, logical_date=START).state == "success"
    head = sorted((store / "log" / "checkpoints").iterdir())[-1]
    head_bytes = head.read_bytes()
    events = _audit_events(store, "tdprov_facet.audit")
    final = events[-1]
    assert final["eventType"] == "COMPLETE"
    for event in events:
        assert not ol_validator.event_problems(event, custom_schemas=True), ol_validator.event_problems(event, custom_schemas=True)
    facet = final["run"]["facets"]["tdprov_auditCheckpoint"]
    assert facet["_schemaURL"].endswith("/AuditCheckpointRunFacet.json#/$defs/AuditCheckpointRunFacet")
    assert facet["treeSize"] == int(head.stem) and facet["checkpoint"] == f"log/checkpoints/{head.name}"
    assert facet["checkpointDigest"] == "sha256:" + hashlib.sha256(head_bytes).hexdigest()
    assert facet["rootHash"] == json.loads(_checkpoint_payload(head_bytes))["root"]
    assert facet["clean"] is True and facet["findings"] == 0 and facet["logGap"] is False
    assert facet["store"] == open_store(str(store)).uri


def test_audit_operator_facet_over_a_gap_has_no_checkpoint(tmp_path: Path, store: Path, ol_validator) -> None:
    _produce(store, "tdprov_gap_up", tmp_path)
    with DAG("tdprov_gap_first", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "a1"), witness_variable="tdprov_gap_checkpoint")
    assert run_dag(dag, logical_date=START).state == "success"
    sorted((store / "log" / "checkpoints").iterdir())[-1].unlink()
    memory_path(open_store(str(store)).uri).unlink()
    with DAG("tdprov_gap_again", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "a2"), witness_variable="tdprov_gap_checkpoint")
    assert run_dag(dag, logical_date=START).state == "failed"
    final = _audit_events(store, "tdprov_gap_again.audit")[-1]
    assert final["eventType"] == "FAIL"
    assert not ol_validator.event_problems(final, custom_schemas=True), ol_validator.event_problems(final, custom_schemas=True)
    facet = final["run"]["facets"]["tdprov_auditCheckpoint"]
    assert facet["logGap"] is True and facet["clean"] is False and facet["findings"] >= 1
    assert "treeSize" not in facet and "checkpointDigest" not in facet

    # a person accepts the store as it is: recorded, and the Variable moves to the new checkpoint
    from airflow.models import Variable

    kept = json.loads(Variable.get("tdprov_gap_checkpoint"))
    with DAG("tdprov_gap_accept", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "a3"), witness_variable="tdprov_gap_checkpoint",
                                accept_checkpoint="checkpoint deleted by mistake on 2026-05-02")
    run_dag(dag, logical_date=START)
    head = sorted((store / "log" / "checkpoints").iterdir())[-1]
    now = json.loads(Variable.get("tdprov_gap_checkpoint"))
    assert now != kept and now["checkpoint"]["checkpointDigest"] == "sha256:" + hashlib.sha256(head.read_bytes()).hexdigest()
    assert list((store / "audit" / "resolutions").iterdir())
    with DAG("tdprov_gap_after", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "a4"), witness_variable="tdprov_gap_checkpoint")
    assert run_dag(dag, logical_date=START).state == "success"


def _checkpoint_payload(envelope: bytes) -> str:
    """The checkpoint's signed payload, decoded with the standard library."""
    import base64

    return base64.b64decode(json.loads(envelope)["payload"]).decode()
