"""Fixtures of the Dagster tests that run assets against a local store: the store folder (``TDPROV_STORE``) and an
ephemeral Dagster instance. Import them into a test module to use them."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store folder of the test's own, set as ``TDPROV_STORE``."""
    path = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(path))
    return path


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """An ephemeral Dagster instance."""
    with DagsterInstance.ephemeral() as inst:
        yield inst


def run_failure(result: Any) -> str:
    """The text of the errors a run that did not succeed reported."""
    errors = [getattr(ev.event_specific_data, "error", None) for ev in result.all_events]
    return " ".join(error.to_string() for error in errors if error is not None)


def evaluate_failure_sensor(result: Any, instance: DagsterInstance, provenance: Any, repository_def: Any = None) -> None:
    """Evaluate tdprov's run-failure sensor on the failed run ``result`` with ``provenance`` (its ProvenanceResource)
    and, when given, the code location's ``repository_def``, as Dagster's daemon would."""
    from dagster import build_run_status_sensor_context

    from prov_dagster import provenance_failure_sensor

    provenance_failure_sensor(build_run_status_sensor_context(
        sensor_name="provenance_failure_sensor", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=result.dagster_run, repository_def=repository_def, resources={"provenance": provenance}))


def delivered(store: Any) -> None:
    """Wait for the writes to ``store`` (a path, URI or opened store) that this process's transports went on with in
    the background once they took longer than their bound (``timeout``, 10 s: "it continues in the background", as on
    a loaded machine's slow disk), as a process must before it reads the store right after ``materialize``: the
    transport of each recorder on ``store`` is closed, which waits for its writing thread (its next write starts
    another), as a producer closes its transport. What the IO manager's teardown waits for itself is not waited for."""
    from prov_dagster import recorder
    from prov_dagster.transport import store_uri

    uri = store_uri(str(getattr(store, "uri", store)))
    with recorder._recorders_lock:  # noqa: SLF001 - every recorder of this process, whichever config made it
        recorders = list(recorder._recorders.values())  # noqa: SLF001
    for each in recorders:
        if store_uri(each.settings.store) == uri:
            each.transport().close()
