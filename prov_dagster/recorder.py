"""Each Dagster step as one OpenLineage run: START on first touch, COMPLETE or FAIL at the end.

The IO manager reports what a step loaded and wrote; the recorder keeps that per (Dagster run, step)
and emits the events through an ``OpenLineageClient`` whose transport is tdprov's
``ProvenanceTransport``, which stages them in the store and seals a signed bundle per run on the
terminal event. The OpenLineage run id of a step is derived from the Dagster run id and step key,
so the run-failure sensor can close a step that crashed in another process.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from dagster import InputContext, OutputContext

from prov_common.hashing import FileDigest, TableDigest
from prov_common.quality import QualityResult
from prov_dagster import _compat
from prov_dagster.naming import step_run_id


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset version a step read or wrote."""

    name: str
    digest: TableDigest | FileDigest | None
    uri: str | None = None
    partition: str | None = None
    quality: QualityResult | None = None
    owners: tuple[str, ...] = ()
    namespace: str | None = None  # None: the recorder's dagster:// namespace (datasets named after asset keys)
    version: str | None = None  # the version when there is no digest object (a registered source)

    @property
    def version_id(self) -> str | None:
        return self.digest.digest if self.digest is not None else self.version


@dataclass(frozen=True)
class StepIdentity:
    """Which Dagster step an OpenLineage run stands for."""

    dagster_run_id: str
    job_name: str
    step_key: str
    attempt: int = 0  # retries of a step (RetryPolicy) are runs of their own

    @property
    def ol_run_id(self) -> str:
        return step_run_id(self.dagster_run_id, self.step_key, self.attempt)


@dataclass
class StepRun:
    """What one step loaded and wrote so far, and whether its OpenLineage run has started or ended."""

    recorder: "Recorder"
    identity: StepIdentity
    inputs: list[DatasetRecord] = field(default_factory=list)
    outputs: list[DatasetRecord] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    started: bool = False
    ended: bool = False

    @property
    def ol_run_id(self) -> str:
        return self.identity.ol_run_id

    def input(self, record: DatasetRecord) -> None:
        """Record a dataset version the step loaded (the exact one, never "the latest")."""
        self.inputs.append(record)
        self.start()

    def output(self, record: DatasetRecord, *, output_name: str = "result", expected: tuple[str, ...] = ()) -> str | None:
        """Record a written dataset version; after the last expected output, complete the run.

        Returns the bundle location once the run is complete, else ``None``.
        """
        self.outputs.append(record)
        self.handled.add(output_name)
        self.start()
        if set(expected) <= self.handled:
            return self.complete()
        return None

    def no_output(self, *, output_name: str, expected: tuple[str, ...] = ()) -> None:
        """An expected output that carries nothing (``None``); completes the run if it has started."""
        self.handled.add(output_name)
        if self.started and set(expected) <= self.handled:
            self.complete()

    def complete(self) -> str:
        """Emit COMPLETE; the transport seals the bundle. Returns the bundle location."""
        return self._end("COMPLETE", error=None, failed_output=None)

    def fail(self, *, error: BaseException | str, failed_output: DatasetRecord | None = None) -> str:
        """Emit FAIL (with the failed output, if any, and the error); returns the bundle location."""
        return self._end("FAIL", error=error, failed_output=failed_output)

    def start(self) -> None:
        """Emit START once (with the inputs recorded so far)."""
        if not self.started:
            self.started = True
            self.recorder.emit_step(self, "START")

    def _end(self, state: str, error: BaseException | str | None, failed_output: DatasetRecord | None) -> str:
        self.start()
        if failed_output is not None:
            self.outputs.append(failed_output)
        if not self.ended:
            self.ended = True
            self.recorder.emit_step(self, state, error=error)
            self.recorder.forget(self.identity)
        return self.recorder.bundle_location(self.ol_run_id)


class Recorder:
    """Emits the OpenLineage events of steps to one store, in one namespace."""

    def __init__(self, settings: Any, namespace: str) -> None:
        self.settings = settings
        self.namespace = namespace
        self._steps: dict[StepIdentity, StepRun] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def step_for(self, context: OutputContext | InputContext) -> StepRun:
        """The step run of the step executing ``context`` (one outside a run for direct calls)."""
        found = _compat.run_context(context)
        identity = StepIdentity(*found) if found else StepIdentity(str(uuid.uuid4()), "direct", context.name or "direct")
        return self.step(identity)

    def step(self, identity: StepIdentity) -> StepRun:
        with self._lock:
            run = self._steps.get(identity)
            if run is None:
                run = self._steps[identity] = StepRun(self, identity)
                fresh = True
            else:
                fresh = False
        if fresh and identity.attempt:
            self._close_earlier_attempts(identity)
        return run

    def _close_earlier_attempts(self, identity: StepIdentity) -> None:
        """A retry means the earlier attempts failed: seal each one that started and was not closed."""
        from prov_common.bundle import layout

        store = self.transport().store
        for attempt in range(identity.attempt):
            earlier = StepIdentity(identity.dagster_run_id, identity.job_name, identity.step_key, attempt)
            with self._lock:
                run = self._steps.get(earlier)
            if run is None:
                prefix = layout.staging_prefix(earlier.ol_run_id)
                sealed = store.exists(layout.bundle_key(earlier.ol_run_id, layout.STATEMENT_FILE))
                if sealed or next(iter(store.list(prefix)), None) is None:
                    continue
                run = StepRun(self, earlier, started=True)  # its START is staged in the store
            if not run.ended:
                run.fail(error=f"step {identity.step_key} attempt {attempt} failed; Dagster retried it as attempt {identity.attempt}")

    def forget(self, identity: StepIdentity) -> None:
        with self._lock:
            self._steps.pop(identity, None)

    def emit_step(self, run: StepRun, state: str, *, error: BaseException | str | None = None) -> None:
        from prov_dagster.events import step_event

        for record in run.outputs if state != "START" else ():
            self._attach_samples(run, record)  # attachments first: the terminal event seals the bundle
        self.client().emit(step_event(run, state, namespace=self.namespace, error=error))

    def _attach_samples(self, run: StepRun, record: DatasetRecord) -> None:
        quality = record.quality
        if quality is None or quality.passed or quality.failure_sample.empty:
            return
        from prov_dagster.events import samples_attachment

        name, data = samples_attachment(record)
        self.transport().attach(run.ol_run_id, name, data)

    def client(self) -> Any:
        if self._client is None:
            from openlineage.client import OpenLineageClient

            self._client = OpenLineageClient(transport=self.transport())
        return self._client

    def transport(self) -> Any:
        from prov_dagster.transport import make_transport

        if not hasattr(self, "_transport"):
            self._transport = make_transport(self.settings)
        return self._transport

    def bundle_location(self, ol_run_id: str) -> str:
        from prov_dagster.transport import bundle_location

        return bundle_location(self.settings, ol_run_id)


_recorders: dict[tuple[Any, str], Recorder] = {}
_recorders_lock = threading.Lock()


def recorder_for(config: Any) -> Recorder:
    """The process's recorder for a ``ProvenanceConfig`` (same store and namespace -> same recorder)."""
    settings = config.settings()
    namespace = config.namespace_uri()
    with _recorders_lock:
        recorder = _recorders.get((settings, namespace))
        if recorder is None:
            recorder = _recorders[(settings, namespace)] = Recorder(settings, namespace)
        return recorder
