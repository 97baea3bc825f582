"""tdprov facts in the extra of the asset events a task emits: the content digest and the bundle URI; and the
versions they name, read back as the inputs of the DAG runs those events triggered (:func:`triggering_inputs`).

Airflow 3 sends a task's asset events with its success, before the success listeners run, so the
outlets are hashed in a post-execute hook (the operator's ``post_execute`` callable, chained with the
task's own) that the listener installs when the task starts; the listener then reuses those digests.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prov_common.hashing.shard_model import extent_counts
from prov_airflow.capture import DatasetCapture, Named, named_items

if TYPE_CHECKING:  # the OpenLineage client loads with the first event, not with the plugin
    from prov_common.lineage.datasets import DatasetRef

log = logging.getLogger(__name__)

EXTRA_KEY = "tdprov"
"""Key of the asset event ``extra`` that holds tdprov's facts (``digest``, ``bundle``, ``runId``, ``rows``, ``shards``)."""


def outlet_extra(capture: DatasetCapture, bundle: str, run_id: str) -> dict[str, Any]:
    """What tdprov adds to the asset event of one outlet: the bundle and run, and when hashing completed
    the digest, the rows of a table and the shard count of a sharded dataset."""
    facts: dict[str, Any] = {"bundle": bundle, "runId": run_id}
    digest = capture.digest
    if digest is not None:
        facts["digest"] = digest.digest
        rows, shards = extent_counts(digest)
        facts.update({key: n for key, n in (("rows", rows), ("shards", shards)) if n is not None})
    return facts


def is_alias(item: Any) -> bool:
    """Whether the outlet ``item`` is an ``AssetAlias`` (no dataset itself: see :func:`alias_events`)."""
    from airflow.sdk import AssetAlias

    return isinstance(item, AssetAlias)


def alias_events(outlet_events: Any) -> list[tuple[Any, Any]]:
    """``(asset, event)`` for each asset the task added through an alias
    (``outlet_events[AssetAlias(...)].add(Asset(...))``): outlets known only at run time."""
    from airflow.sdk import Asset, AssetAlias

    added: list[tuple[Any, Any]] = []
    for key in outlet_events:
        if isinstance(key, AssetAlias):
            for event in getattr(outlet_events[key], "asset_alias_events", None) or []:
                added.append((Asset(name=event.dest_asset_key.name, uri=event.dest_asset_key.uri), event))
    return added


def annotate(outlet_events: Any, outlets: list[Any], aliased: list[tuple[Any, Any]], named: list[Named],
             captures: list[DatasetCapture], bundle: str, run_id: str) -> int:
    """Put tdprov's facts into ``outlet_events[asset].extra`` for each Asset outlet, and into the ``extra`` of
    each asset event added through an alias (``aliased``: :func:`alias_events` of ``outlet_events``); returns how many.

    The task's own ``extra`` keys are kept; only the ``tdprov`` key is set. An outlet is matched to its capture by
    the dataset it names, as the hashing named it (``named``: ``s3a://b/k`` to the capture of ``s3://b/k``,
    :func:`~prov_airflow.capture.capture_named`).
    """
    from airflow.sdk import Asset

    captured = {c.uri: c for c in captures}
    by_dataset = {n.key: captured[n.uri] for n in named if n.uri in captured}  # hashed as first named
    by_item = {id(n.item): by_dataset.get(n.key) for n in named}

    def capture_of(item: Any) -> DatasetCapture | None:
        return by_item.get(id(item))

    count = 0
    for outlet in outlets:
        capture = capture_of(outlet)
        if not isinstance(outlet, Asset) or capture is None:
            continue
        outlet_events[outlet].extra[EXTRA_KEY] = outlet_extra(capture, bundle, run_id)
        count += 1
    for asset, event in aliased:
        capture = capture_of(asset)
        if capture is not None:
            event.extra[EXTRA_KEY] = outlet_extra(capture, bundle, run_id)
            count += 1
    return count


def after_execute(task: Any, hook: Callable[[Any], None]) -> None:
    """Run ``hook(context)`` after ``task`` executed successfully, before Airflow reports success.

    ``task`` is the operator copy of this task run. The task's own ``post_execute`` callable runs first;
    an error of ``hook`` is logged and never fails the task.
    """
    previous = getattr(task, "_post_execute_hook", None)

    def post_execute(context: Any, result: Any = None) -> None:
        if previous is not None:
            previous(context, result)
        try:
            hook(context)
        except Exception as exc:  # noqa: BLE001 - provenance must never fail a task
            log.warning("tdprov: could not record the outlets' digests in their asset events (%s: %s); "
                        "the task is not affected", type(exc).__name__, exc)

    task._post_execute_hook = post_execute


def triggering_inputs(dag_run: Any) -> list[DatasetRef]:
    """The versions whose asset events started ``dag_run`` (``consumed_asset_events``; none for a run not triggered by
    assets), as inputs of the DAG run (:func:`_triggering_input`). An event whose asset this Airflow cannot take as an
    ``Asset`` (a URI it refuses) is left out with a warning naming it; the others are kept."""
    from airflow.sdk import Asset

    refs: list[DatasetRef] = []
    for event in _consumed_events(dag_run):
        try:
            asset = Asset(name=event.asset.name, uri=event.asset.uri)
        except (TypeError, ValueError) as exc:  # one event must not cost the DAG run the others
            log.warning("tdprov: asset event %s of the asset %r (id %s) that triggered DAG run %s of %s names no asset "
                        "this Airflow accepts (%s: %s); the DAG run is recorded with the other versions that triggered "
                        "it, not this one. Fix: give the asset a URI Airflow accepts in the DAGs that declare it",
                        event.id, event.asset.uri, event.asset_id, dag_run.run_id, dag_run.dag_id, type(exc).__name__,
                        exc)
            continue
        ref = _triggering_input(asset, event.extra)
        if ref is not None:
            refs.append(ref)
    return refs


def _triggering_input(asset: Any, extra: Any) -> DatasetRef | None:
    """The version one asset event names, as an input of the DAG run it triggered: ``asset`` named as tdprov names it
    as an inlet (``None``: a name refused, warned of), its version the ``digest`` the producer's listener put in the
    event's ``extra`` (the version the producer sealed, not hashed again: the data may have changed since). An event
    without that digest (its producer had no listener or could not hash the asset, the digest is no content digest,
    the ``extra`` is no mapping) gives the asset without a version."""
    from openlineage.client.facet_v2 import dataset_version_dataset
    from prov_common import PRODUCER
    from prov_common.lineage.datasets import DatasetRef
    from prov_common.w3cprov.ids import names_content

    named = named_items([asset])
    if not named:
        return None
    facts = extra.get(EXTRA_KEY) if isinstance(extra, dict) else None
    digest = facts.get("digest") if isinstance(facts, dict) else None
    facets = ({"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=digest, producer=PRODUCER)}
              if isinstance(digest, str) and names_content(digest) else {})
    return DatasetRef(namespace=named[0].key[0], name=named[0].key[1], facets=facets)


def _consumed_events(dag_run: Any) -> list[Any]:
    """The asset events ``dag_run`` consumed, with their assets: from the scheduler's own ``DagRun`` when it is bound
    to a session, else read from the metadata DB by its DAG and run id."""
    from airflow.models.asset import AssetEvent
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import inspect, select
    from sqlalchemy.orm import joinedload

    state = inspect(dag_run, raiseerr=False)
    if state is not None and state.session is not None:
        return list(dag_run.consumed_asset_events)
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_run.dag_id, DagRun.run_id == dag_run.run_id)
                             .options(joinedload(DagRun.consumed_asset_events).joinedload(AssetEvent.asset)))
        return list(run.consumed_asset_events) if run is not None else []
