"""The test harness's trimming of dag.test()'s execution API (tests/airflow_dags/execution_api.py) where Airflow or
Cadwyn no longer have the internals it reads: the API is built as Airflow builds it, and no test but the one that
names the harness fails."""
from __future__ import annotations

import pytest

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)


def test_the_execution_api_is_built_as_airflow_builds_it_where_the_internals_the_harness_reads_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an ImportError fell back: a Cadwyn whose ``Version`` takes other arguments (or an Airflow without the
    ``bundle`` or the app factory read) raised out of every dag.test(), and out of the autouse fixture of every Airflow
    test module. Each now builds the API as Airflow does."""
    import airflow.api_fastapi.execution_api.app as app_module
    import airflow.api_fastapi.execution_api.versions as versions
    import cadwyn

    from airflow_dags import execution_api

    def changed(*args, **kwargs):
        raise TypeError("Version() takes other arguments now")

    import inspect

    # the factory as Airflow has it (a test of this worker may have wrapped it already: that wrapper would trim)
    monkeypatch.setattr(app_module, "create_task_execution_api_app", inspect.unwrap(app_module.create_task_execution_api_app))
    monkeypatch.setattr(cadwyn, "Version", changed)
    execution_api.serve_latest_version_only.__wrapped__()
    every = versions.bundle
    app = app_module.create_task_execution_api_app()
    assert versions.bundle is every and [v.value for v in app.versions] == [v.value for v in every.versions]
    monkeypatch.delattr(app_module, "create_task_execution_api_app")
    execution_api.serve_latest_version_only.__wrapped__()  # nothing to wrap: nothing raised
