"""The Dagster audit job's config: settings it cannot carry out are refused before the audit, naming the setting and
the fix; ``read_only`` audits a store without writing into it. Executed in process with a real Dagster instance (in
memory)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance

from prov_common.store import open_store
from prov_dagster import ProvenanceResource, provenance_audit_job
from test_gaps_dagster_audit import AUDIT_OP, _chain_built, store  # noqa: F401 - fixtures

pytestmark = pytest.mark.xdist_group("dagster_audit_config")  # one worker builds the chain's store (_chain_built)


@pytest.fixture
def instance():
    """A Dagster instance in memory: these tests are about the job's config, not what the instance keeps (one on disk
    cost some 0.4 s of CPU and seconds of writes to make, more than most of these tests)."""
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _run(instance, uri: str, **config):
    return provenance_audit_job.execute_in_process(
        instance=instance, resources={"provenance": ProvenanceResource(store=uri)},
        run_config={"ops": {AUDIT_OP: {"config": config}}}, raise_on_error=False)


def _failure(result) -> str:
    """The message of the step failure: the error raised in the op (or the Failure's description)."""
    assert not result.success
    data = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data
    if data.user_failure_data is not None:
        return data.user_failure_data.description
    error = data.error.cause or data.error
    return error.message


def _audit_objects(uri: str) -> list[str]:
    return sorted(k for prefix in ("log/", "audit/") for k in open_store(uri).list(prefix))


def test_a_report_dir_that_is_a_file_is_refused_before_auditing(store: str, instance, tmp_path: Path) -> None:  # noqa: F811
    afile = tmp_path / "afile"
    afile.write_text("x")
    before = _audit_objects(store)
    for report_dir, said in ((afile, "is a file"), (afile / "reports", f"cannot be made: {afile} is a file")):
        message = _failure(_run(instance, store, report_dir=str(report_dir)))
        assert "BadInputError" in message and f"report_dir '{report_dir}' {said}" in message
        assert "Fix: set report_dir to a folder in the tdprov_audit op's config" in message
        assert "FileExistsError" not in message and "NotADirectoryError" not in message
    assert _audit_objects(store) == before  # refused before the audit wrote anything


def test_a_remember_in_that_is_a_file_names_remember_in_not_tdprov_store(store: str, instance, tmp_path: Path) -> None:  # noqa: F811
    afile = tmp_path / "afile"
    afile.write_text("x")
    message = _failure(_run(instance, store, remember_in=[str(afile)]))
    assert f"remember_in '{afile}' is a file" in message and "under remember_in in the tdprov_audit op's config" in message
    assert "TDPROV_STORE" not in message


def test_read_only_needs_a_report_dir_and_takes_no_accept_checkpoint(store: str, instance, tmp_path: Path) -> None:  # noqa: F811
    message = _failure(_run(instance, store, read_only=True))
    assert "report_dir is not set" in message and "Fix: set report_dir to a folder" in message and "--report" not in message
    message = _failure(_run(instance, store, read_only=True, report_dir=str(tmp_path / "r"), accept_checkpoint="restored"))
    assert "accept_checkpoint" in message and "read_only: false" in message


def test_read_only_audit_writes_the_report_to_report_dir_and_nothing_into_the_store(store: str, instance,  # noqa: F811
                                                                                   tmp_path: Path) -> None:
    before = _audit_objects(store)
    report_dir = tmp_path / "reports"
    result = _run(instance, store, read_only=True, report_dir=str(report_dir))
    assert result.success, _failure(result)
    assert _audit_objects(store) == before
    assert json.loads((report_dir / "report.json").read_bytes()) and (report_dir / "report.html").is_file()
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["clean"].value is True and metadata["bundles_examined"].value == 3
    assert str(report_dir / "report.json") in str(metadata["report_json"].value)


def test_a_store_it_cannot_write_points_at_the_jobs_read_only_config(instance, tmp_path: Path) -> None:
    message = _failure(_run(instance, str(tmp_path / "not-there")))
    assert "needs write access to log/ and audit/" in message
    assert "read_only: true and report_dir: DIR in the tdprov_audit op's config" in message
    assert "tdprov audit --read-only" not in message


def test_a_rehash_not_asked_for_names_the_jobs_config_not_the_cli_option(store: str, instance,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    """The skipped re-hash check's description, in the Dagster UI, and the report the job wrote said "pass --rehash",
    an option of 'tdprov audit' this job does not have: both name the job's rehash config."""
    report_dir = tmp_path / "reports"
    result = _run(instance, store, report_dir=str(report_dir))
    assert result.success, _failure(result)
    hint = "not run: set rehash: true in the tdprov_audit op's config (ops: tdprov_audit: config:) to hash the data where it lives"
    [rehash] = [e for e in result.get_asset_check_evaluations() if e.check_name == "rehash"]
    assert rehash.description == f"Data still hashes to its recorded digest: {hint}", rehash.description
    [reported] = [c for c in json.loads((report_dir / "report.json").read_bytes())["checks"] if c["name"] == "rehash"]
    assert reported["detail"] == hint, reported
    assert "--rehash" not in (report_dir / "report.html").read_text()
