"""Run the DAGs of outlets_written.py, outlets_shared.py and then deferred_outlet.py in one process (a test's
subprocess, tdprov alone or beside the OpenLineage provider feeding ProvenanceTransport); prints
``{dag_id: {task_id: state}}`` as one JSON line.

Usage: python outlets_run.py OUT_DIR   (AIRFLOW_HOME, AIRFLOW__TDPROV__STORE and, beside the provider,
AIRFLOW__OPENLINEAGE__TRANSPORT set)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags import deferred_outlet, outlets_shared, outlets_written
    from airflow_dags.harness import run_dag

    # the deferred task's DAG last: it drops the listener's memory of the tries it saw start
    dags = [outlets_written.dag(out), outlets_shared.dag(out), deferred_outlet.dag(out)]
    time.sleep(3)  # the files made last changed before any try starts (beyond the 2 s allowed for clock skew)
    states = {}
    for dag in dags:
        run = run_dag(dag, logical_date=outlets_written.START)
        states[dag.dag_id] = {ti.task_id: ti.state for ti in run.get_task_instances()}
    print(json.dumps(states))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
