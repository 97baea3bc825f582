"""A DAG whose deferrable task's outlet is written while the task is deferred (by an external job: here its trigger,
which fires once the export is written), then resumed (run by outlets_run.py, after the other DAGs). In a deployment
the resumed part runs in a new task process, whose listener never saw the try start: this run drops all the listener
keeps of the try (when it started, what its outlets held then, its inputs) during the deferral, as a new process has
none of it; everything else is a real ``dag.test()``."""
from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Asset, BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def forget_tries(listener) -> None:
    """Drop what ``listener`` keeps of the tries it saw start, as the listener of a new task process has nothing."""
    with listener._lock:
        for kept in (listener._inputs, listener._outputs, listener._started, listener._before):
            kept.clear()


class ExportWritten(BaseTrigger):
    """The external system writing ``target`` while the task is deferred; fires once it is written and the task
    process that started the try is gone (no fixed wait)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def serialize(self) -> tuple[str, dict]:
        return (f"{__name__}.ExportWritten", {"target": self.target})

    async def run(self):
        from prov_airflow.listener import get_listener

        Path(self.target).write_text("a\n1\n2\n")
        forget_tries(get_listener())  # the task process that started the try is gone
        yield TriggerEvent(self.target)


def dag(out: Path) -> DAG:
    """The DAG; its task's outlet is ``out / "export.csv"``, which does not exist before the try."""
    target = out / "export.csv"

    class ExternalJob(BaseOperator):
        def execute(self, context):
            self.defer(trigger=ExportWritten(str(target)), method_name="resume")

        def resume(self, context, event=None) -> None:
            assert target.exists()

    with DAG("tdprov_deferred_outlet", start_date=START, schedule=None) as made:
        ExternalJob(task_id="export", outlets=[Asset(target.as_uri())])
    return made
