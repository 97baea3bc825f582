"""Run the DAGs of outlets_written.py, outlets_shared.py and then deferred_outlet.py in one process (the test's own
with tdprov alone, through :func:`run_dags`; a test's subprocess beside the OpenLineage provider feeding
ProvenanceTransport); prints ``{dag_id: {task_id: state}}`` as one JSON line.

Usage: python outlets_run.py OUT_DIR   (AIRFLOW_HOME, AIRFLOW__TDPROV__STORE and, beside the provider,
AIRFLOW__OPENLINEAGE__TRANSPORT set)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def run_dags(out: Path) -> dict[str, dict[str, str]]:
    """Run the three DAGs writing under ``out`` in this process; ``{dag_id: {task_id: state}}``."""
    from airflow_dags import deferred_outlet, outlets_shared, outlets_written
    from airflow_dags.harness import run_dag

    # the deferred task's DAG last: it drops the listener's memory of the tries it saw start
    dags = [outlets_written.dag(out), outlets_shared.dag(out), deferred_outlet.dag(out)]
    # no wait for the files just made to age: a try that the listener saw start is judged by what its outlets held
    # then, not by when they changed (were it judged by change times, those files would count as written)
    states = {}
    for dag in dags:
        run = run_dag(dag, logical_date=outlets_written.START)
        states[dag.dag_id] = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return states


def main(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(json.dumps(run_dags(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
