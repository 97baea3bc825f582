"""A DAG whose deferrable task's outlet is written while the task is deferred (by an external job), then resumed (run
by outlets_run.py, after the other DAGs). In a deployment the resumed part runs in a new task process, whose listener
never saw the try start: this run drops all the listener keeps of the try (when it started, what its outlets held then,
its inputs) during the deferral, as a new process has none of it; everything else is a real ``dag.test()``."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import DAG, Asset, BaseOperator

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def forget_tries(listener) -> None:
    """Drop what ``listener`` keeps of the tries it saw start, as the listener of a new task process has nothing."""
    with listener._lock:
        for kept in (listener._inputs, listener._outputs, listener._started, listener._before):
            kept.clear()


def dag(out: Path) -> DAG:
    """The DAG; its task's outlet is ``out / "export.csv"``, which does not exist before the try."""
    from prov_airflow.listener import get_listener

    target = out / "export.csv"

    class ExternalJob(BaseOperator):
        def execute(self, context):
            def job() -> None:  # the external system writes the export while the task is deferred
                time.sleep(0.5)
                target.write_text("a\n1\n2\n")
                forget_tries(get_listener())  # the task process that started the try is gone

            threading.Thread(target=job).start()
            self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=4)), method_name="resume")

        def resume(self, context, event=None) -> None:
            assert target.exists()

    with DAG("tdprov_deferred_outlet", start_date=START, schedule=None) as made:
        ExternalJob(task_id="export", outlets=[Asset(target.as_uri())])
    return made
