"""Run DAGs whose task process dies once its START is staged, as a worker killed mid-task (run in a subprocess).

Usage: python killed_task_run.py DAG_ID INLET STORE [DAG_ID INLET STORE ...]   (the test's AIRFLOW_HOME through
``harness.child_env``). Airflow is imported once; each DAG runs in a process forked from this one, with
``[tdprov] store`` set to its STORE, which ends by SIGKILL: its task instance stays running in the metadata DB and
its run has a staged START and no terminal event. Exit code 0 once every one of them was killed so, 1 otherwise
(what each ended with on stderr). What this process loaded is frozen (``gc.freeze()``) before the forks: a child's
garbage collections leave it alone instead of walking, and so copying, its pages.
"""
from __future__ import annotations

import gc
import os
import signal
import sys
from pathlib import Path

import pendulum

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _killed_run(dag_id: str, inlet: str) -> None:
    """Run ``dag_id`` in this (forked) process, which its task kills."""
    from airflow_dags.harness import register_dag

    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    def work() -> None:
        from prov_airflow.delivery import DELIVERY

        DELIVERY.drain(60)  # the START is staged
        os.kill(os.getpid(), signal.SIGKILL)

    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=work, inlets=[inlet])
    register_dag(dag)
    dag.test(logical_date=START)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import serve_latest_version_only

    import airflow.providers.standard.operators.python  # noqa: F401  (imported once, before the forks)
    import airflow.sdk  # noqa: F401

    serve_latest_version_only()
    gc.freeze()  # what is loaded is every child's: their collections leave it alone (not walking, and so copying, it)
    failed = 0
    for dag_id, inlet, store in zip(argv[0::3], argv[1::3], argv[2::3], strict=True):
        pid = os.fork()
        if pid == 0:  # the DAG's own process: it reads its [tdprov] store, which this one never read
            os.environ["AIRFLOW__TDPROV__STORE"] = store
            try:
                _killed_run(dag_id, inlet)
            finally:
                os._exit(1)  # not reached: the task kills this process
        status = os.waitpid(pid, 0)[1]
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            print(f"{dag_id}: the run's process ended with status {status}, not by SIGKILL", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    os._exit(code)  # this process ran no DAG: nothing of Airflow's to end at exit
