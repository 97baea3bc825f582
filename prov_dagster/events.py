"""OpenLineage events of a Dagster step, built with the core's event builder.

Job: ``dagster://<namespace>`` / ``<step key>`` (stable however the run was launched; ``asset:<asset key>`` for an
asset's step whose key the step key does not name); parent: the
Dagster run (``<run namespace>`` / ``job:<Dagster job name>``, never a step's job; one namespace for all the run's
steps, :func:`~prov_dagster.config.run_namespace`). Datasets: named after where the data lives
(OpenLineage naming, see :mod:`prov_dagster.naming`), version = content digest; the asset key rides
along in the standard ``symlinks`` facet (``dagster://<namespace>`` / ``<asset key>``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import RunEvent
from openlineage.client.facet_v2 import dataset_version_dataset, job_type_job, symlinks_dataset

from prov_common import PRODUCER
from prov_common.lineage.context import RunContext, collect_run_context
from prov_common.lineage.datasets import DatasetRef
from prov_common.lineage.facets import CONTENT_HASH
from prov_common.lineage.events import ParentRef, build_run_event
from prov_dagster.check_results import AssetCheck, checks_on
from prov_dagster.model import DatasetRecord, StepIdentity
from prov_dagster.naming import ASSET_SYMLINK_TYPE, dagster_job

if TYPE_CHECKING:
    from prov_dagster.recorder import StepRun


_TRAINING = job_type_job.JobTypeJobFacet(processingType="BATCH", integration="DAGSTER", jobType="TRAINING", producer=PRODUCER)


@lru_cache(maxsize=8)
def _context(owner: str | None) -> RunContext:
    return collect_run_context(orchestrator="dagster", owner=owner)


def _run_context(ident: StepIdentity, owner: str | None) -> RunContext:
    """The context of the run of step ``ident``, naming the Dagster run its Dagster run re-executes and the mapping key
    of a mapped op's step."""
    context = _context(owner)
    if ident.reexecution_of is None and ident.mapping_key is None:
        return context
    return replace(context, reexecution_of=ident.reexecution_of, reexecution_root=ident.reexecution_root,
                   mapping_key=ident.mapping_key)


def step_event(
    run: StepRun, state: str, *, namespace: str, inputs: Sequence[DatasetRecord] | None = None,
    error: BaseException | str | None = None, event_time: datetime | None = None,
) -> RunEvent:
    """The ``state`` event of ``run`` with ``inputs`` (default: all it has loaded) and everything it has written so far,
    at ``event_time`` (None: now)."""
    ident = run.identity
    owners = [o for r in run.outputs for o in r.owners]
    failed = state in ("FAIL", "ABORT")
    # a check of an asset the step writes (its check_specs) is of the version written, never of one it read of that
    # asset (a self-dependent asset reads its own earlier partition)
    read_checks = [c for c in run.checks if not c.own]
    return build_run_event(
        state,
        run_id=run.ol_run_id,
        job_name=ident.job_ol_name,
        job_namespace=namespace,
        inputs=[dataset_ref(r, namespace, checks=read_checks, records=run.inputs) for r in (run.inputs if inputs is None else inputs)],
        outputs=[dataset_ref(r, namespace, failed=failed, checks=run.checks, records=run.outputs) for r in run.outputs]
        if state != "START" else [],
        parent=_parent(run, namespace),
        context=_run_context(ident, owners[0] if owners else None),
        error=error,
        job_facets={"jobType": _TRAINING} if run.training else None,
        event_time=event_time,
    )


def _parent(run: StepRun, namespace: str) -> ParentRef | None:
    """The Dagster run of a step, as a run of its Dagster job in the run's namespace, one for all its steps (the step's
    own ``namespace`` when none is known; None: recorded outside a Dagster run)."""
    ident = run.identity
    if ident.job_name is None:
        return None
    return ParentRef(run_id=ident.dagster_run_id, job_namespace=ident.run_namespace or namespace,
                     job_name=dagster_job(ident.job_name))


def dataset_ref(record: DatasetRecord, namespace: str, *, failed: bool = False, checks: Sequence[AssetCheck] = (),
                records: Sequence[DatasetRecord] = ()) -> DatasetRef:
    """A core ``DatasetRef`` of a recorded asset version, named by where it lives; an asset's key
    (a record without its own namespace) goes into the ``symlinks`` facet, and the results of the asset ``checks``
    on that asset go with it (``records``: the others read, or written, beside it: a partitioned check's result goes
    on its partition only, :func:`~prov_dagster.check_results.checks_on`)."""
    facets: dict[str, Any] = {}
    ds_namespace, ds_name = record.dataset  # its own when named by the caller (a registered source, a file given by path)
    if record.namespace is None:
        facets["symlinks"] = asset_symlinks(record.asset_namespace or namespace, record.name)
    if record.digest is None and record.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=record.version, producer=PRODUCER)
        if record.content is not None:  # what is known of the digest (sources.source_input, deps)
            facets[CONTENT_HASH] = record.content
    quality = record.quality
    return DatasetRef(
        namespace=ds_namespace,
        name=ds_name,
        digest=record.digest,
        quality=quality,
        samples_file=record.samples_file,
        severity=("error" if failed else "warn") if quality is not None else None,
        row_digests_file=record.row_set.path if record.row_set is not None else None,
        rows_root=record.row_set.root if record.row_set is not None else None,
        snapshot=record.snapshot,
        checks=checks_on(record, checks, records),
        facets=facets,
    )


def asset_symlinks(namespace: str, asset: str) -> symlinks_dataset.SymlinksDatasetFacet:
    """Standard ``symlinks`` facet naming a dataset by its asset key in the deployment's ``dagster://`` namespace."""
    return symlinks_dataset.SymlinksDatasetFacet(
        identifiers=[symlinks_dataset.Identifier(namespace=namespace, name=asset, type=ASSET_SYMLINK_TYPE)],
        producer=PRODUCER,
    )
