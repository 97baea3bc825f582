"""Find a sealed bundle matching a job, dataset or digest in the store (shared by sensor and trigger)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from prov_common.bundle import BundleSummary, list_bundles
from prov_common.bundle.layout import index_cursor
from prov_common.bundle.model import DatasetRef
from prov_common.bundle.watch import missing_store
from prov_common.errors import BadInputError
from prov_common.signing import TrustStore
from prov_common.w3cprov.identity import DIGEST_RULE, at_location, digest_query, digest_starts, moment

if TYPE_CHECKING:
    from prov_common.bundle.events import RunIdentity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleQuery:
    """What bundle to wait for. Every given criterion must match.

    job: job name (``<dag_id>.<task_id>`` or ``<dag_id>``) of the namespace ``job_namespace`` (None: any), or
    ``namespace/name`` as ``tdprov runs`` shows a job (that job alone, whatever ``job_namespace`` says); dataset: URI or path of an output dataset, or
    ``airflow-asset:<name>`` for a logical asset (an ``Asset(name=...)`` with no URI);
    digest: content digest of an output (with ``dataset``: of that output, the dataset at that version), its hex
    digits in either case, in full or its first 12 or more as ``tdprov runs`` prints them (kept in lower case);
    state: run state (default ``COMPLETE``);
    since: only bundles sealed at or after this ISO time (a naive time is UTC; default: any), as their signed
    manifest says: a bundle sealed before it and delivered later (from a spool) does not count;
    job_dag: with ``job``, the DAG the run must be of: that DAG's own run (job ``job_dag``) or a task try whose parent
    run is one of its runs. A job name alone does not tell task 'load' of DAG 'etl.daily' from task 'daily.load' of DAG
    'etl' (the provider's ``<dag_id>.<task_id>``: one job, and one run id at one logical date).
    """

    job: str | None = None
    dataset: str | None = None
    digest: str | None = None
    state: str | None = "COMPLETE"
    since: str | None = None
    job_namespace: str | None = None
    job_dag: str | None = None

    def __post_init__(self) -> None:
        if not (self.job or self.dataset or self.digest):
            raise BadInputError("a bundle sensor needs job=, dataset= or digest=",
                                fix="e.g. LineageBundleSensor(job='train.features', ...)")
        if self.job_dag is not None and not self.job:
            raise BadInputError(f"a bundle sensor's job_dag={self.job_dag!r} is given without job=.",
                                fix=f"name the job too, e.g. job='{self.job_dag}.<task_id>' (or leave job_dag out)")
        if self.digest:
            query = digest_query(self.digest)
            if query is None:
                raise BadInputError(f"a bundle sensor's digest={self.digest!r} is not a content digest or the start of one.",
                                    fix=DIGEST_RULE)
            object.__setattr__(self, "digest", query)
        if self.since is not None and moment(self.since) is None:
            raise BadInputError(f"a bundle sensor's since={self.since!r} is not an ISO 8601 time of years 1 to 9999 (in UTC).",
                                fix="e.g. since='2026-05-01T00:00:00+00:00' (or leave it out: the start of the DAG run)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, summary: BundleSummary) -> bool:
        if self.job and not self._job_matches(summary):
            return False
        if self.state and summary.state.upper() != self.state.upper():
            return False
        if not self._sealed_since(summary):
            return False
        if not (self.dataset or self.digest):
            return True
        from prov_airflow.capture import dataset_key

        wanted = dataset_key(self.dataset) if self.dataset else None
        return any(self._output_matches(o, wanted) for o in summary.outputs)

    def _job_matches(self, summary: BundleSummary) -> bool:
        """The run's job is the one asked for: a job is its namespace and name, so a name of this deployment's jobs
        does not match another namespace's job of that name (a staging deployment writing to the same store); with
        ``job_dag``, a job of that DAG (its run's is told by :meth:`of_job_dag`)."""
        if self.job_dag is not None and summary.job_name != self.job_dag and not summary.job_name.startswith(self.job_dag + "."):
            return False
        return self.job == summary.job or (
            self.job == summary.job_name and self.job_namespace in (None, summary.job_namespace))

    def of_job_dag(self, summary: BundleSummary, run: RunIdentity | None) -> str | None:
        """None when the sealed run of ``summary`` is of a run of DAG ``job_dag`` (or no ``job_dag`` is asked for), as
        the parent run its signed events name tells (``run``, as verification read them; None: not read): the DAG's own
        run is of job ``job_dag`` and not a task try of a DAG whose id it starts with, a task try's parent run is of job
        ``job_dag`` in the try's own namespace (a deployment's DAG runs are of its namespace); else the DAG whose run it
        is of, as ``namespace/dag_id`` when of another namespace (or 'no DAG' when its parent cannot be told)."""
        if self.job_dag is None:
            return None
        of = _dag_of(summary.job_name, run.parent if run is not None else None)
        dag = None if of is None else of[1] if of[0] == summary.job_namespace else f"{of[0]}/{of[1]}"
        if summary.job_name == self.job_dag:
            return None if dag is None else dag  # a DAG run, or a task try of another DAG named like it
        return None if dag == self.job_dag else dag or "no DAG"

    def named_elsewhere(self, summary: BundleSummary) -> bool:
        """The run would match but for its job's namespace: a bare job name that another namespace's job also has
        (a Dagster job, another deployment), which the caller names with ``namespace/name``."""
        return (self.job == summary.job_name and self.job_namespace not in (None, summary.job_namespace)
                and replace(self, job_namespace=None).matches(summary))

    def _output_matches(self, output: DatasetRef, wanted: tuple[str, str] | None) -> bool:
        """One output that is the dataset (``wanted``, as :func:`dataset_key` names it; an output another producer
        named in a namespace spelled otherwise, ``s3a://b``, or a prefix recorded with its ``/``, is it too:
        :func:`~prov_common.w3cprov.identity.at_location`) and has the digest asked for: both at once when both are
        given (``dataset`` at version ``digest``, never the dataset from one output and the digest from another)."""
        if wanted is not None and not at_location(wanted, output.namespace, output.name):
            return False
        return not self.digest or digest_starts(output.version, self.digest)

    def _sealed_since(self, summary: BundleSummary) -> bool:
        """Whether the bundle was sealed at or after ``since`` (a seal time that is no time: its index key, at or
        after ``since``, says enough)."""
        since, sealed = moment(self.since), moment(summary.sealed_at)
        return since is None or sealed is None or sealed >= since

    def start_cursor(self) -> str | None:
        """Where the index listing starts: an entry is indexed when its bundle is delivered, at or after its sealing."""
        since = moment(self.since)
        return None if since is None else index_cursor(since)


def find_bundle(store: Any, query: BundleQuery, trust: TrustStore, told: set[tuple[str, str]] | None = None) -> BundleSummary | None:
    """First matching bundle indexed since the query's ``since`` (re-listed on every poke, so a bundle
    that a slow writer indexes late is not skipped) whose bundle verifies against ``trust``.

    Index entries are not signed, so a match is verified before it counts: an entry whose bundle does not
    verify (missing, altered, signed by a key not trusted) is skipped with a warning, and a sound bundle
    whose entry was altered counts only if its signed manifest matches the query (and is returned as the
    manifest says). ``told``: the (run id, reason) pairs already warned of, by a sensor or trigger that
    polls again; each is warned of once (and added), while the bundle is still verified at every poll
    (a key trusted since then counts)."""
    from prov_common.audit.recorded import examined_run
    from prov_common.bundle.storage import summary_of_bundle

    for summary in list_bundles(store, since_cursor=query.start_cursor()):
        if not query.matches(summary):
            _tell_named_elsewhere(query, summary, told)
            continue
        run, why, sound = examined_run(store, trust, summary)
        first_time = why is not None and _first_telling(told, summary.run_id, why)
        if not sound:
            if first_time:
                log.warning("tdprov: run %s matches, but its bundle does not verify (%s): not taken. Fix: 'tdprov verify %s' "
                            "names every problem; if the bundle is sound, trust its signer's key (trusted_keys)", summary.run_id,
                            why, summary.run_id)
            continue
        signed = summary if why is None else summary_of_bundle(store, summary.run_id)  # the entry, when it is the manifest's
        if first_time:
            log.warning("tdprov: the index entry of run %s is not what its signed bundle says (%s): the bundle counts",
                        summary.run_id, why)
        if signed is None or not query.matches(signed):
            continue
        if (other := query.of_job_dag(signed, run)) is not None:  # the signed job and the parent its signed events name
            _tell_other_dag(query, signed, other, told)
            continue
        _tell_taken(query, signed, run)
        return signed
    return None


def _dag_of(job_name: str, parent: tuple[str, str, str] | None) -> tuple[str, str] | None:
    """The DAG whose task try the run of job ``job_name`` is, by its ``parent`` run (run id, job namespace, job name):
    the parent's job, namespace and name, when its name is the start of the job's name (``<dag>.<task>``); None for a
    run with no parent (a DAG's own run) or one whose parent is of another job."""
    return (parent[1], parent[2]) if parent is not None and job_name.startswith(parent[2] + ".") else None


def _tell_taken(query: BundleQuery, summary: BundleSummary, run: RunIdentity | None) -> None:
    """Say which run a ``job=`` without ``job_dag=`` took, by the parent run its signed events name (``run``, as
    verification read them; None: not read, nothing said): a job name alone does not tell task 'load' of DAG
    'etl.daily' from task 'daily.load' of DAG 'etl' (one job, 'etl.daily.load')."""
    if not query.job or query.job_dag is not None or run is None:
        return
    parent = run.parent
    job = summary.job
    if parent is None:
        log.info("tdprov: took run %s of job %s, which names no parent run (of Airflow: a DAG's own run)", summary.run_id,
                 job)
    elif _dag_of(summary.job_name, parent) == (summary.job_namespace, parent[2]):  # a try of its deployment's DAG
        dag = parent[2]
        log.info("tdprov: took run %s of job %s: a try of task %r of DAG %r (its DAG run %s). job= alone also takes a "
                 "task of another DAG named alike; job_dag=%r waits for this DAG's task only", summary.run_id, job,
                 summary.job_name[len(dag) + 1:], dag, parent[0], dag)
    else:
        log.info("tdprov: took run %s of job %s, whose parent run is %s of job %s/%s", summary.run_id, job, parent[0],
                 parent[1], parent[2])


def _first_telling(told: set[tuple[str, str]] | None, run_id: str, what: str) -> bool:
    """Whether ``what`` of run ``run_id`` is told for the first time (remembered in ``told``; None: always told)."""
    if told is not None and (run_id, what) in told:
        return False
    if told is not None:
        told.add((run_id, what))
    return True


def _tell_named_elsewhere(query: BundleQuery, summary: BundleSummary, told: set[tuple[str, str]] | None) -> None:
    """Warn once of a run whose job has the bare name asked for in another namespace (not taken: a job is its
    namespace and name), naming how to wait for it."""
    if not query.named_elsewhere(summary) or not _first_telling(told, summary.run_id, "namespace"):
        return
    log.warning("tdprov: run %s of job %s has the name asked for, but of namespace %r, not this deployment's %r: not "
                "taken. Fix: to wait for that job, name it job=%r", summary.run_id, summary.job, summary.job_namespace,
                query.job_namespace, summary.job)


def _tell_other_dag(query: BundleQuery, summary: BundleSummary, dag: str, told: set[tuple[str, str]] | None) -> None:
    """Warn once of a run of the job asked for that is of another DAG's run than ``job_dag`` (not taken)."""
    if not _first_telling(told, summary.run_id, "dag"):
        return
    log.warning("tdprov: run %s of job %s/%s is of %s, not of DAG %r: not taken (a job '<dag_id>.<task_id>' names "
                "tasks of DAGs named alike, such as task 'load' of DAG 'etl.daily' and task 'daily.load' of DAG 'etl', "
                "which share one run id at one logical date)", summary.run_id, summary.job_namespace, summary.job_name,
                dag if dag == "no DAG" else f"a run of DAG {dag!r}", query.job_dag)


MAX_LISTING_ERRORS = 5
"""Failed listings of the store in a row after which a wait for a bundle fails (the sensor's ``max_errors``)."""


class BundleWait:
    """One wait for a bundle, polled by the sensor (every poke) or the trigger (every poll) by the same rules:
    a store that cannot be listed fails the wait only ``max_errors`` times in a row (each failure is logged); a
    store location where nothing is is named once (the wait goes on: the first recorded run creates the store);
    a match that does not verify is warned of once (see :func:`find_bundle`)."""

    def __init__(self, query: BundleQuery, max_errors: int = MAX_LISTING_ERRORS) -> None:
        if max_errors < 1:
            raise BadInputError(f"a bundle sensor's max_errors={max_errors!r} is less than 1.",
                                fix=f"give the failed listings in a row that fail the wait, e.g. {MAX_LISTING_ERRORS}")
        self.query, self.max_errors = query, max_errors
        self.errors = 0
        self.told: set[tuple[str, str]] = set()
        self._said_missing = False

    def poll(self, connect: Callable[[], tuple[Any, TrustStore]]) -> BundleSummary | None:
        """The matching bundle, or None for now; ``connect`` gives the store and the trusted keys. Raises the
        listing's error once ``max_errors`` listings in a row have failed."""
        try:
            store, trust = connect()
            found = find_bundle(store, self.query, trust, self.told)
            missing = None if found is not None or self._said_missing else missing_store(store)
        except Exception as exc:  # noqa: BLE001 - a store briefly unreachable: the next poll may succeed
            self.errors += 1
            log.warning("tdprov: cannot list bundles (%s/%s failed in a row): %s", self.errors, self.max_errors, exc)
            if self.errors >= self.max_errors:
                raise
            return None
        self.errors = 0
        if missing is not None:
            self._said_missing = True
            log.warning("tdprov: %s", missing)
        return found


def found_payload(summary: BundleSummary) -> dict[str, Any]:
    """What the sensor returns (XCom) for a matching bundle."""
    return {"run_id": summary.run_id, "job": summary.job_name, "job_namespace": summary.job_namespace, "state": summary.state,
            "sealed_at": summary.sealed_at, "outputs": [o.to_dict() for o in summary.outputs]}
