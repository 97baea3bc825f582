"""Only the outlets a task try wrote are its outputs, with tdprov alone and beside the OpenLineage provider: a try
that fails or skips itself wrote none (they are named in the ``tdprov_outlets`` facet)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, child_env, events_of, tdprov_env


HERE = Path(__file__).resolve().parent
PROVIDER = {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "prov_common.bundle.transport.ProvenanceTransport"})}


@pytest.mark.parametrize("mode", ["alone", "provider"])
def test_only_the_outlets_a_try_wrote_are_its_outputs(tmp_path: Path, mode: str, ol_validator) -> None:
    store = tmp_path / "store"
    env = child_env(**tdprov_env(store), **(PROVIDER if mode == "provider" else {}))
    done = subprocess.run([sys.executable, str(HERE / "airflow_dags" / "outlets_written_run.py"), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    states = json.loads(done.stdout.strip().splitlines()[-1])
    # the sensor is not satisfied by a try that wrote nothing
    assert states == {"write": "failed", "skipper": "skipped", "wait_skipped": "failed"}
    by_job = {s.job_name.split(".", 1)[-1]: s for s in bundles_of(store) if "." in s.job_name}
    assert [(s, by_job[s].state, by_job[s].outputs) for s in ("write", "skipper")] == [
        ("write", "FAIL", ()), ("skipper", "COMPLETE", ())]

    def not_written(task: str) -> list[dict]:
        events = events_of(store, by_job[task].run_id)
        for event in events:
            ol_validator.validate_event(event)
        facets = [e["run"]["facets"]["tdprov_outlets"] for e in events if "tdprov_outlets" in e["run"]["facets"]]
        return [{k: v for k, v in o.items() if k in ("name", "reason", "version")} for o in facets[-1]["notWritten"]]

    assert not_written("write") == [{"name": str(tmp_path / "p.csv"), "reason": "failed"}]
    assert not_written("skipper") == [{"name": str(tmp_path / "s.csv"), "reason": "skipped"}]
