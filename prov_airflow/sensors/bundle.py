"""LineageBundleSensor: wait for a new lineage bundle matching a job, dataset or digest."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, BaseSensorOperator, PokeReturnValue

from prov_airflow.matching import MAX_LISTING_ERRORS, BundleQuery, BundleWait, found_payload

log = logging.getLogger(__name__)

FAILED_LISTINGS_KEY = "tdprov_failed_listings"
"""The key of the task's state store under which reschedule mode keeps the failed listings in a row between pokes,
as ``{"try": try number, "errors": count}``: a count kept by another try (one that ended without the poke's exception
resetting it: a task timeout, a lost worker) is not this try's."""


class LineageBundleSensor(BaseSensorOperator):
    """Succeeds when the store holds a sealed bundle matching every given criterion.

    :param job: job name, ``<dag_id>.<task_id>`` for a task run or ``<dag_id>`` for a DAG run, of this deployment's
        OpenLineage namespace (``[openlineage] namespace``); a job of another namespace (another deployment, Dagster)
        as ``namespace/name``, as ``tdprov runs`` shows it.
    :param dataset: URI or path of a dataset the run wrote, or ``airflow-asset:<name>`` for a logical asset
        (an ``Asset(name=...)`` with no URI).
    :param digest: content digest (``blake3:...``) of a dataset the run wrote: in full or its first 12 or more hex
        digits (as ``tdprov runs`` prints them), in either case; anything else is refused.
    :param job_dag: with ``job``, the DAG the run must be of (its own run, or a try of one of its tasks): a job name
        alone does not tell task ``load`` of DAG ``etl.daily`` from task ``daily.load`` of DAG ``etl``, which share
        one run id at one logical date.
    :param state: run state to match (default ``COMPLETE``; ``None`` for any).
    :param since: ISO time; only bundles sealed since then count (as their signed manifest says: one sealed
        before and delivered later from a spool does not). Default: the start of this DAG run.
    :param tdprov_conn_id: ``tdprov`` connection of the store; default ``[tdprov]``/``TDPROV_*``.
    :param deferrable: wait in the triggerer (:class:`~prov_airflow.triggers.bundle.LineageBundleTrigger`).
    :param max_errors: the store cannot be listed this many times in a row: the sensor fails (default 5), in
        poke mode, in reschedule mode and in the triggerer alike. In ``mode="reschedule"`` the count is kept
        between pokes in the task's state store (``context["task_state_store"]``, Airflow 3.3+), with the try
        number, so each try counts from zero; on an Airflow without one, one failed listing fails the try there
        (Airflow's ``retries`` apply).

    ``mode="poke"`` and ``mode="reschedule"`` work as for any sensor. Pushes the bundle's run id, job,
    state and outputs to XCom. Only a bundle that verifies against the connection's trusted keys counts:
    an index entry alone (unsigned) never succeeds the sensor. A store location where nothing is is named
    in the log (once per wait), and the wait goes on.
    """

    template_fields: Sequence[str] = ("job", "dataset", "digest", "since", "job_dag")

    def __init__(self, *, job: str | None = None, dataset: str | None = None, digest: str | None = None,
                 state: str | None = "COMPLETE", since: str | None = None, tdprov_conn_id: str | None = None,
                 deferrable: bool = False, max_errors: int = MAX_LISTING_ERRORS, job_dag: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not _templated(digest):  # a template is checked once rendered, when the sensor runs
            BundleWait(BundleQuery(job=job, dataset=dataset, digest=digest, state=state, job_dag=job_dag), max_errors)  # fails early
        self.job, self.dataset, self.digest, self.state, self.since = job, dataset, digest, state, since
        self.job_dag = job_dag
        self.tdprov_conn_id = tdprov_conn_id
        self.deferrable = deferrable
        self.max_errors = max_errors
        self._wait: BundleWait | None = None  # kept across pokes (poke mode): errors in a row, what was warned of

    def _query(self, context: Any) -> BundleQuery:
        since = self.since
        if since is None:
            started = getattr(context.get("dag_run"), "start_date", None)
            since = started.isoformat() if started is not None else None
        from prov_airflow import naming

        return BundleQuery(job=self.job, dataset=self.dataset, digest=self.digest, state=self.state, since=since,
                           job_namespace=naming.namespace() if self.job else None, job_dag=self.job_dag)

    def poke(self, context: Any) -> PokeReturnValue:
        from prov_airflow.hooks.provenance import ProvenanceHook

        kept = context.get("task_state_store") if self.reschedule else None
        try_number = getattr(context.get("ti"), "try_number", None)
        if self._wait is None:
            self._wait = BundleWait(self._query(context), 1 if self.reschedule and kept is None else self.max_errors)
        if kept is not None:  # each poke of reschedule mode is a new start: the count of failures waits in the store
            self._wait.errors = _kept_errors(kept, try_number)
        before = self._wait.errors
        hook = ProvenanceHook(self.tdprov_conn_id)
        try:
            summary = self._wait.poll(lambda: (hook.get_conn(), hook.get_trust()))
        except Exception:
            self._wait.errors = 0  # the wait failed: a retry starts counting afresh
            raise
        finally:
            if kept is not None and self._wait.errors != before:
                _keep_errors(kept, try_number, self._wait.errors)
        if summary is None:
            return PokeReturnValue(is_done=False)
        self.log.info("tdprov: bundle of run %s (%s) matches", summary.run_id, summary.job_name)
        return PokeReturnValue(is_done=True, xcom_value=found_payload(summary))

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from prov_airflow.triggers.bundle import LineageBundleTrigger

        self.defer(
            trigger=LineageBundleTrigger(self._query(context).to_dict(), self.tdprov_conn_id, self.poke_interval,
                                         self.max_errors),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") != "success":
            raise AirflowException(f"tdprov: waiting for a lineage bundle failed: {(event or {}).get('message')}")
        return event["bundle"]


def _kept_errors(kept: Any, try_number: int | None) -> int:
    """The failed listings in a row that the task's state store holds from earlier pokes of try ``try_number`` (0 for
    another try's count, or anything else)."""
    try:
        value = kept.get(FAILED_LISTINGS_KEY, None)
    except Exception as exc:  # noqa: BLE001 - the count is a tolerance; the sensor's timeout still bounds the wait
        log.warning("tdprov: cannot read the failed listings in a row from the task's state store (%s); counting from 0", exc)
        return 0
    if not isinstance(value, dict) or value.get("try") != try_number:
        return 0
    errors = value.get("errors")
    return errors if type(errors) is int and errors >= 0 else 0


def _keep_errors(kept: Any, try_number: int | None, errors: int) -> None:
    """Keep ``errors`` of try ``try_number`` in the task's state store for the next poke; a store that refuses it is
    logged, not raised (it must not hide why the poke failed)."""
    try:
        kept.set(FAILED_LISTINGS_KEY, {"try": try_number, "errors": errors})
    except Exception as exc:  # noqa: BLE001
        log.warning("tdprov: cannot keep the failed listings in a row (%s) in the task's state store: %s", errors, exc)


def _templated(value: str | None) -> bool:
    """Whether a templated field's value is a Jinja template (rendered only when the task runs)."""
    return value is not None and ("{{" in value or "{%" in value)
