"""The main job's line saying why its audit is incremental, from the reports of real audits of a store."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from example_pipelines.audit_scope import audit_reports, incremental_reason
from prov_common.store import open_store
from test_audit_support import audit, dataset, digest, run_events, seal


def test_the_main_jobs_audit_says_the_dag_audit_task_audited_the_store_first(tmp_path: Path) -> None:
    """After the example DAG's audit task, the main job's audit said "Incremental audit" and nothing of why; the line
    names the audit it continued from (the one whose checkpoint it remembered), as the DAG's audit task where that audit
    started while the main job ran the DAG."""
    store = open_store(str(tmp_path / "store"))
    seal(store, run_events("prepare", [], [dataset("/data/a.csv", digest("a"))]))
    before = datetime.now(timezone.utc)
    first = audit(store)  # the DAG's audit task
    dag = (before, datetime.now(timezone.utc))
    seal(store, run_events("train", [dataset("/data/a.csv", digest("a"))], []))
    second = audit(store)  # the main job's own
    assert first.full and not second.full
    reports = audit_reports(store)
    newest = next(reports)
    assert newest["auditId"] == second.audit_id
    earlier = list(reports)
    assert incremental_reason(newest, earlier, dag) == (
        f"(incremental: the example DAG's audit task audited this store first (audit {first.audit_id} of "
        f"{earlier[0]['startedAt']}), so this audit examined only the bundles new since)")
    assert incremental_reason(newest, earlier, (dag[0] - timedelta(hours=2), dag[0] - timedelta(hours=1))) == (
        f"(incremental: this auditor audited this store before (audit {first.audit_id} of {earlier[0]['startedAt']}), "
        "so this audit examined only the bundles new since)")  # an audit before the DAG ran: not the DAG's task
    assert incremental_reason(earlier[0], [], dag) is None  # a full audit: the audit's own line says why
    assert incremental_reason(newest, [], dag) is None  # the earlier audit's report is gone: nothing to name


def test_a_report_larger_than_the_bound_is_refused_not_read_whole(tmp_path: Path, monkeypatch) -> None:
    """The reports were read whole, whatever their size (a store's writer could hand the main job gigabytes); each is read
    no further than REPORT_LIMIT, and a larger one is refused naming it and the fix."""
    import pytest

    from prov_common.audit import published
    from prov_common.store.errors import ObjectTooLargeError

    store = open_store(str(tmp_path / "store"))
    seal(store, run_events("prepare", [], [dataset("/data/a.csv", digest("a"))]))
    result = audit(store)
    size = len((tmp_path / "store" / result.report_json).read_bytes())
    monkeypatch.setattr(published, "REPORT_LIMIT", size - 1)
    read, get = [], store.get
    store.get = lambda key, limit=None: read.append((key, limit)) or get(key, limit)
    with pytest.raises(ObjectTooLargeError) as refused:
        next(audit_reports(store))
    assert read == [(result.report_json, size - 1)]
    assert f"audit report '{result.report_json}'" in refused.value.what and f"larger than {size - 1:,} bytes" in refused.value.what
    assert "tdprov audit" in refused.value.fix
    monkeypatch.setattr(published, "REPORT_LIMIT", size)
    assert next(audit_reports(store))["auditId"] == result.audit_id
