"""Build OpenLineage RunEvents (START / COMPLETE / FAIL ...) with openlineage-python's classes."""
from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    error_message_run,
    ownership_job,
    parent_run,
    processing_engine_run,
    source_code_location_job,
)
from openlineage.client.generated.base import JobFacet, RunFacet

from prov_common import PRODUCER, __version__
from prov_common.errors import BadInputError
from prov_common.lineage.context import RunContext
from prov_common.lineage.datasets import DatasetRef, input_dataset, output_dataset, quality_test_facet
from prov_common.lineage.facets import RUN_CONTEXT, RunContextRunFacet
from prov_common.lineage.naming import DEFAULT_JOB_NAMESPACE
from prov_common.lineage.redact import redact_text
from prov_common.lineage.validate import EVENT_TYPES
from prov_common.text import job_path
from prov_common.times import TIME_FIX, rfc3339



@dataclass(frozen=True)
class ParentRef:
    """The run that started this one (e.g. the Airflow DAG run of a task, the Dagster run of a step),
    and optionally the root of the whole hierarchy."""

    run_id: str
    job_namespace: str
    job_name: str
    root_run_id: str | None = None
    root_job_namespace: str | None = None
    root_job_name: str | None = None


def build_run_event(
    event_type: str | RunState,
    *,
    run_id: str,
    job_name: str,
    job_namespace: str = DEFAULT_JOB_NAMESPACE,
    inputs: Iterable[DatasetRef] = (),
    outputs: Iterable[DatasetRef] = (),
    parent: ParentRef | None = None,
    context: RunContext | None = None,
    error: str | BaseException | None = None,
    event_time: datetime | str | None = None,
    job_facets: Mapping[str, JobFacet] | None = None,
    run_facets: Mapping[str, RunFacet] | None = None,
) -> RunEvent:
    """One OpenLineage RunEvent of ``job_namespace``/``job_name``, run ``run_id`` (a UUID).

    Inputs and outputs carry version, schema, content-hash and quality facets (see
    :func:`~prov_common.lineage.datasets.input_dataset`); quality results of the outputs also form the
    run-level ``test`` facet. ``context`` adds ``tdprov_runContext`` and ``processing_engine`` (and the
    job's ``ownership`` and ``sourceCodeLocation`` when known); ``error`` adds ``errorMessage``
    (redacted). ``event_time`` defaults to now (UTC).
    """
    state = _event_type(event_type)
    inputs, outputs = tuple(inputs), tuple(outputs)
    facets: dict[str, RunFacet] = {}
    if parent is not None:
        facets["parent"] = parent_facet(parent)
    if context is not None:
        facets[RUN_CONTEXT] = run_context_facet(context)
        facets["processing_engine"] = processing_engine_facet(context)
    tests = quality_test_facet(outputs)
    if tests is not None:
        facets["test"] = tests
    if error is not None:
        facets["errorMessage"] = error_facet(error)
    facets.update(run_facets or {})
    job_facet_map: dict[str, JobFacet] = dict(context_job_facets(context) if context is not None else {})
    job_facet_map.update(job_facets or {})
    time_text = _event_time(event_time)  # refused with its own fix, before the run id's
    try:
        return RunEvent(
            eventType=state,
            eventTime=time_text,
            run=Run(runId=str(run_id), facets=facets),
            job=Job(namespace=job_namespace, name=job_name, facets=job_facet_map),
            inputs=[input_dataset(ref) for ref in inputs],
            outputs=[output_dataset(ref) for ref in outputs],
            producer=PRODUCER,
        )
    except ValueError as exc:
        raise BadInputError(
            f"cannot build the {state.value} event of job {job_path(job_namespace, job_name)} (run {run_id!r}): {exc}",
            fix="run_id must be a UUID (uuid7 recommended: str(openlineage.client.uuid.generate_new_uuid()))",
        ) from exc


def parent_facet(parent: ParentRef) -> parent_run.ParentRunFacet:
    """Standard ``parent`` run facet, with ``root`` when the root run is known."""
    root = None
    if parent.root_run_id is not None:
        root = parent_run.Root(
            run=parent_run.RootRun(runId=parent.root_run_id, facets=None),
            job=parent_run.RootJob(
                namespace=parent.root_job_namespace or parent.job_namespace,
                name=parent.root_job_name or parent.job_name,
                facets=None,
            ),
        )
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id, facets=None),
        job=parent_run.Job(namespace=parent.job_namespace, name=parent.job_name, facets=None),
        root=root,
        producer=PRODUCER,
    )


def run_context_facet(context: RunContext) -> RunContextRunFacet:
    """``tdprov_runContext`` from a :class:`RunContext`."""
    return RunContextRunFacet(
        host=context.host,
        libraries=dict(context.libraries),
        parameters=dict(context.parameters),
        codeVersion=context.code_version,
        gitCommit=context.git_commit,
        executor=context.executor,
        user=context.user,
        owner=context.owner,
        orchestrator=context.orchestrator,
        partial=context.partial or None,
        reexecutionOf=context.reexecution_of,
        reexecutionRoot=context.reexecution_root,
        mappingKey=context.mapping_key,
    )


def processing_engine_facet(context: RunContext) -> processing_engine_run.ProcessingEngineRunFacet:
    """Standard ``processing_engine``: the orchestrator and its version (tdprov itself when there is none)."""
    return processing_engine_run.ProcessingEngineRunFacet(
        name=context.orchestrator or "tdprov",
        version=context.orchestrator_version or __version__,
        openlineageAdapterVersion=__version__,
        producer=PRODUCER,
    )


def context_job_facets(context: RunContext) -> dict[str, JobFacet]:
    """Job facets that the context knows: ``ownership`` (owner) and ``sourceCodeLocation`` (git)."""
    facets: dict[str, JobFacet] = {}
    if context.owner:
        facets["ownership"] = ownership_job.OwnershipJobFacet(
            owners=[ownership_job.Owner(name=context.owner)], producer=PRODUCER
        )
    if context.git_remote and context.git_commit:
        facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url=context.git_remote, version=context.git_commit, producer=PRODUCER
        )
    return facets


def error_facet(error: str | BaseException) -> error_message_run.ErrorMessageRunFacet:
    """Standard ``errorMessage`` facet; the message and stack trace are redacted."""
    if isinstance(error, BaseException):
        message = f"{type(error).__name__}: {error}"
        stack = "".join(traceback.format_exception(error)) if error.__traceback__ else None
    else:
        message, stack = str(error), None
    return error_message_run.ErrorMessageRunFacet(
        message=redact_text(message),
        programmingLanguage="python",
        stackTrace=redact_text(stack) if stack else None,
        producer=PRODUCER,
    )


def _event_type(event_type: str | RunState) -> RunState:
    if isinstance(event_type, RunState):
        return event_type
    try:
        return RunState(str(event_type).upper())
    except ValueError:
        raise BadInputError(
            f"event type {event_type!r} is not an OpenLineage run state",
            fix=f"use one of {', '.join(EVENT_TYPES)}",
        ) from None


def _event_time(value: datetime | str | None) -> str:
    if value is None:
        return datetime.now(UTC).isoformat()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise BadInputError(
                f"event_time {value.isoformat()} has no time zone", fix="pass an aware datetime, e.g. datetime.now(UTC)"
            )
        return value.isoformat()
    text = str(value)
    try:
        rfc3339(text)
    except ValueError as exc:
        raise BadInputError(f"event_time {text!r:.60} is not an RFC 3339 date-time: {exc}.", fix=TIME_FIX) from None
    if text[17:19] == "60":  # RFC 3339 allows it; openlineage-python's RunEvent (dateutil) does not
        raise BadInputError(f"event_time {text!r:.60} is a leap second, which an openlineage-python RunEvent cannot hold.",
                            fix="pass 23:59:59.999999 of that minute (tdprov orders a leap second so), or emit the event as "
                                "a dict through the transport, which keeps it as written")
    return text[:10] + "T" + text[11:]  # RunEvent wants the 'T' (or 't') that RFC 3339 lets a space replace
