"""The bundles of one Airflow DAG run, found by run id and verified (models and the reading of them).

A DAG run's bundles are named by the OpenLineage provider's run ids: one for the DAG run, one per
task instance try. They are computed from the metadata database, not searched for in the store.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from prov_common.bundle.model import DatasetRef
from prov_common.text import counted, job_json, job_path

from prov_airflow import naming

PAGE_SIZE = 100
"""Bundles verified per page by default: a DAG run of thousands of mapped task tries is verified a page at a time."""
MAX_PAGE_SIZE = 500
"""The largest page a caller may ask for (``limit``)."""


@dataclass(frozen=True)
class RunKey:
    """One OpenLineage run of a DAG run: the DAG run itself (``task_id`` None) or a task instance try, whose parent is
    one of ``parents``, the run ids its DAG run had (one per clear: a try before a clear names the earlier one); its job
    is ``job_name`` in ``job_namespace``, the deployment's OpenLineage namespace (``[openlineage] namespace``);
    ``dag_run``: the DAG id and Airflow run id of that DAG run (None: not known)."""

    job_namespace: str
    job_name: str
    run_id: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int = 0
    parents: tuple[str, ...] = ()
    dag_run: tuple[str, str] | None = None


@dataclass(frozen=True)
class BundleStatus:
    """A run's bundle: where it is, what it records and whether it verifies."""

    key: RunKey
    location: str
    status: str  # "verified", "failed" or "missing"
    state: str | None = None
    outputs: tuple[DatasetRef, ...] = ()
    inputs: tuple[DatasetRef, ...] = ()
    findings: tuple[str, ...] = ()
    missing: str | None = None
    """Why the bundle is missing, as :func:`why_missing` tells its kind (``absent``: nothing of its run is in the store)."""

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    def to_dict(self) -> dict[str, Any]:
        """The bundle as the page's JSON gives it, its job as ``tdprov runs --json`` gives it: ``{namespace, name}``."""
        return {
            "job": job_json(self.key.job_namespace, self.key.job_name), "runId": self.key.run_id, "taskId": self.key.task_id,
            "mapIndex": self.key.map_index, "tryNumber": self.key.try_number, "bundle": self.location,
            "status": self.status, "state": self.state, "findings": list(self.findings),
            "inputs": [d.to_dict() for d in self.inputs], "outputs": [d.to_dict() for d in self.outputs],
        }


@dataclass(frozen=True)
class DagRunBundles:
    """A page of the bundles of one Airflow DAG run: ``bundles`` are those from ``offset`` on, of ``total`` in all
    (the DAG run's, then one per task try, in that order); a page holds at most ``limit``."""

    dag_id: str
    run_id: str
    store: str
    bundles: tuple[BundleStatus, ...]
    total: int
    offset: int = 0
    limit: int = PAGE_SIZE
    warning: str | None = None
    """What the page says when nothing of its bundles is in the store: the namespace may differ (:func:`namespace_warning`)."""

    @property
    def start(self) -> int:
        """The offset of this page's first bundle, ``total`` for a page past the end."""
        return min(self.offset, self.total)

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page (None on the last)."""
        after = self.offset + self.limit
        return after if after < self.total else None

    @property
    def previous_offset(self) -> int | None:
        """The offset of the previous page (None on the first)."""
        return max(0, self.start - self.limit) if self.offset > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"dagId": self.dag_id, "runId": self.run_id, "store": self.store, "total": self.total,
                "offset": self.offset, "limit": self.limit, "nextOffset": self.next_offset,
                "previousOffset": self.previous_offset, "warning": self.warning,
                "bundles": [b.to_dict() for b in self.bundles]}


def run_keys(dag_id: str, run_id: str, session: Any) -> list[RunKey]:
    """The OpenLineage runs of an Airflow DAG run: the DAG run, then every try of every task instance.

    Raises ``LookupError`` when the metadata database has no such DAG run, naming it and where to find one that is there.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from sqlalchemy import select

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dag_run is None:
        raise LookupError(f"DAG run {run_id!r} of DAG {dag_id!r} is not in the Airflow metadata database. Fix: open the "
                          "DAG run's tdprov bundles tab in the Airflow UI, or choose it under Browse > tdprov bundles "
                          "(/tdprov/: the recent DAG runs you may read); a DAG run that was deleted has no page")
    date = naming.dag_run_date(dag_run)
    parents = tuple(naming.dag_run_id(dag_id, date, clear) for clear in range((dag_run.clear_number or 0) + 1))
    namespace = naming.namespace()
    keys = [RunKey(namespace, naming.dag_job_name(dag_id), parents[-1], dag_run=(dag_id, run_id))]
    tries: set[tuple[str, int, int]] = set()
    for model in (TaskInstance, TaskInstanceHistory):
        for task_id, map_index, try_number in session.execute(
                select(model.task_id, model.map_index, model.try_number)
                .where(model.dag_id == dag_id, model.run_id == run_id)):
            if try_number:  # 0: never started, so no run
                tries.add((task_id, map_index, try_number))
    for task_id, map_index, try_number in sorted(tries):
        keys.append(RunKey(namespace, f"{dag_id}.{task_id}", naming.task_run_id(dag_id, task_id, try_number, date, map_index),
                           task_id, map_index, try_number, parents, (dag_id, run_id)))
    return keys


def check(store: Any, trust: Any, store_uri: str, key: RunKey, entries_of: Callable[[str], list[str]] | None = None) -> BundleStatus:
    """Verify the bundle of ``key`` (``verify_bundle``: signature, manifest, events, and the index entry its ``indexed``
    record names, which ``tdprov runs`` lists, as ``tdprov verify RUN_ID`` and ``tdprov show`` check it) and summarise it.
    ``entries_of``: the index keys of a run whose ``indexed`` record is gone (by default the index is listed for it)."""
    from prov_common.bundle.layout import bundle_location
    from prov_common.bundle.missing import checked_nothing, why_missing
    from prov_common.bundle.verify import verify_and_derive

    checked = verify_and_derive(store, key.run_id, trust, recorded_entry=True, entries_of=entries_of)
    report, manifest = checked.report, checked.manifest
    location = bundle_location(store_uri, key.run_id)
    if manifest is None and not report.ok:
        if not checked_nothing(report, key.run_id):
            return BundleStatus(key, location, "missing", findings=tuple(str(f) for f in report.findings))
        why = why_missing(store, key.run_id, entries_of)
        return BundleStatus(key, location, "missing", findings=(str(why),), missing=why.kind)
    if report.ok and manifest is not None and (
            other := another_runs(manifest, key) or another_dag_runs(key, _dag_run_of(checked))) is not None:
        return BundleStatus(key, location, "missing", findings=(other,))
    status = "verified" if report.ok else "failed"
    return BundleStatus(key, location, status, state=manifest.state if manifest else None,
                        outputs=tuple(manifest.outputs) if manifest else (),
                        inputs=tuple(manifest.inputs) if manifest else (),
                        findings=tuple(str(f) for f in report.findings))


def another_runs(manifest: Any, key: RunKey) -> str | None:
    """Why the bundle sealed at ``key``'s run id, whose ``manifest`` is given, is another run's (None when it is the run
    of ``key``): of another job (a job is its namespace and name: a deployment of another ``[openlineage] namespace``
    whose DAG has this one's id shares its run ids), or of a task try of another DAG run. The provider gives task 'c'
    of DAG 'a.b' and task 'b.c' of DAG 'a' one job and, at one logical date, one run id; the run sealed first keeps it."""
    parent = manifest.parent_run_id
    if (manifest.job_namespace, manifest.job_name) == (key.job_namespace, key.job_name) and (not key.parents or parent in (None, *key.parents)):
        return None
    from prov_common.bundle.events import SHARED_RUN_ID_FIX

    whose = f" with parent run {parent}" if parent else ""
    return _given_its_id(key, f"another run's, of job {job_path(manifest.job_namespace, manifest.job_name)}{whose}",
                         f"DAG run {key.parents[-1]}", SHARED_RUN_ID_FIX)


def another_dag_runs(key: RunKey, sealed: tuple[str, str] | None) -> str | None:
    """Why the bundle sealed at ``key``'s run id, whose events name the Airflow DAG run ``sealed`` (DAG id and run id,
    :func:`~prov_common.bundle.events.airflow_dag_run_of`), is another DAG run's: one of the DAG of ``key`` at its logical
    date (``dag.test()`` run twice, a DAG run deleted and triggered again), whose runs the provider gives the same run
    ids, the run sealed first keeping them. None when it is the DAG run of ``key``, another DAG's, or either is unknown
    (a manifest names no DAG run: :func:`another_runs` tells the rest)."""
    from prov_common.bundle.events import SAME_DATE_FIX, another_dag_run

    other = another_dag_run(key.dag_run, sealed)
    if other is None or key.dag_run is None:
        return None
    return _given_its_id(key, f"another DAG run's, Airflow DAG run {other} of DAG {key.dag_run[0]} at this one's logical "
                              "date", f"DAG run {key.dag_run[1]}", SAME_DATE_FIX)


def _given_its_id(key: RunKey, whose: str, dag_run: str, fix: str) -> str:
    """The finding of the bundle at ``key``'s run id being ``whose`` (another run's, as named), of the DAG run ``dag_run``
    of ``key`` (as named), with ``fix``."""
    from prov_common.bundle.layout import staging_prefix

    this = "this DAG run" if key.task_id is None else f"this try, of {dag_run},"
    return (f"the bundle at run id {key.run_id} is {whose}: {this} was given the same run id, so its events are in no "
            f"bundle (they stay staged under {staging_prefix(key.run_id)}; 'tdprov audit' names them). Fix: {fix}")


def _dag_run_of(checked: Any) -> tuple[str, str] | None:
    """The Airflow DAG run the events of the verified bundle ``checked`` name, from their run facets as verifying it
    folded them (nothing read again); None when they name none or were not folded."""
    from prov_common.bundle.events import dag_run_in

    return dag_run_in(checked.derived.state.run_facets) if checked.derived is not None else None


def namespace_warning(bundles: tuple[BundleStatus, ...]) -> str | None:
    """What the page says when nothing of any of ``bundles`` is in the store (each ``absent``): the provider makes run ids
    from the job namespace, so workers of another ``[openlineage] namespace`` than the API server's, which the page
    computes them with, seal every bundle at run ids the page does not look at. None when a bundle is found."""
    if not bundles or any(b.missing != "absent" for b in bundles):
        return None
    namespace = bundles[0].key.job_namespace
    return (f"nothing of this DAG run's {counted(len(bundles), 'bundle')} is in the store at the run ids of job namespace "
            f"'{namespace}', the API server's [openlineage] namespace: the OpenLineage provider makes run ids from the "
            "namespace, so workers of another namespace seal their bundles at run ids this page does not look at. Fix: "
            "set [openlineage] namespace (AIRFLOW__OPENLINEAGE__NAMESPACE) for the API server as for the workers; if it "
            "is, the bundles may wait in the workers' spools ('tdprov flush' on each worker delivers them)")


def check_page(offset: int, limit: int) -> None:
    """Raise ``ValueError`` naming the bounds unless a page from ``offset`` of ``limit`` bundles is one that may be asked for."""
    if offset < 0 or not 0 < limit <= MAX_PAGE_SIZE:
        raise ValueError(f"a page of bundles starts at offset 0 or later and holds 1 to {MAX_PAGE_SIZE} bundles, "
                         f"not offset {offset} and limit {limit}. Fix: ask for ?offset=0&limit={PAGE_SIZE}")


def verified_page(dag_id: str, run_id: str, every: list[RunKey], store: Any, trust: Any, store_uri: str, offset: int,
                  limit: int) -> DagRunBundles:
    """The bundles of the DAG run from ``offset`` on, at most ``limit`` of ``every`` run of it (:func:`run_keys`),
    verified, with how many it has in all (the other pages' bundles are not read); ``store_uri`` as configured (it names
    the bundles' locations). The caller has checked the page (:func:`check_page`), before opening the store. The store's
    identity is read afresh first: the API server is a long-running process, whose copy may be out of date. The index is
    listed once at most, for the bundles whose ``indexed`` record is gone."""
    from prov_common.bundle.storage import EntriesOfRuns
    from prov_common.errors import BadInputError
    from prov_common.store.identity import reread_identity

    keys = every[offset:offset + limit]
    try:
        reread_identity(store)
    except BadInputError:
        pass  # each bundle that names a store says why (it reads the identity again)
    entries_of = EntriesOfRuns(store, (k.run_id for k in keys))
    bundles = tuple(check(store, trust, store_uri, k, entries_of) for k in keys)
    return DagRunBundles(dag_id, run_id, store_uri, bundles, len(every), offset, limit, namespace_warning(bundles))
