"""Build a run's lineage bundle in memory: files, manifest and signed statement (no I/O)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from prov_common.bundle import layout, model
from prov_common.bundle.events import fold_one_run, fold_written_lines, order_checked, prov_json
from prov_common.bundle.model import PREDICATE_TYPE, TASK_INSTANCE_KEYS, Bundle, DatasetRef, FileEntry, Manifest
from prov_common.bundle.naming import DATASET_NAMING, dataset_annotations, dataset_name
from prov_common.bundle.refusal import combined, is_refusal
from prov_common.bundle.subjects import (
    DIGEST_SETS, DIGESTS_V1, DIGESTS_V2, KNOWN, check_version, digest_set, opaque_version, version_digests,
)
from prov_common.errors import BadInputError
from prov_common.hashing.raw import blake3_digest
from prov_common.w3cprov.mapping import PROV_MAPPING
from prov_common.store.buffers import Buffer, byte_view, checked_buffer
from prov_common.signing import INTOTO_PAYLOAD_TYPE, SigningKey, Subject, digest_map, make_statement, sign_envelope
from prov_common.w3cprov.event_lines import EventBytes
from prov_common.w3cprov.events import DatasetState, RunState
from prov_common.w3cprov.identity import iso_z


def _refs(datasets: list[DatasetState], digest_sets: str) -> tuple[DatasetRef, ...]:
    if digest_sets == DIGESTS_V1:
        return tuple(DatasetRef(d.namespace, d.name, d.version) for d in datasets)
    return tuple(DatasetRef(d.namespace, d.name, d.version, digest_set(d, digest_sets), opaque_version(d, digest_sets))
                 for d in datasets)


def _parent_run_id(state: RunState) -> str | None:
    run = state.run_facet("parent").get("run")
    value = run.get("runId") if isinstance(run, Mapping) else None
    return value if isinstance(value, str) else None


def task_instance_of(state: RunState) -> dict[str, int] | None:
    """The Airflow try number and map index of the run, from the ``taskInstance`` of its ``airflow`` run facet (as
    the OpenLineage provider and tdprov's listener write it; no ``map_index`` when the task is not mapped), if any."""
    instance = state.run_facet("airflow").get("taskInstance")
    if not isinstance(instance, Mapping):
        return None
    found = {k: instance[k] for k in TASK_INSTANCE_KEYS if type(instance.get(k)) is int}
    return found or None


def mapping_key_of(state: RunState) -> str | None:
    """The mapping key of a mapped step's run (``tdprov_runContext.mappingKey``: ``a`` of a Dagster op's step
    ``work[a]``), if any."""
    key = state.run_facet("tdprov_runContext").get("mappingKey")
    return key if isinstance(key, str) else None


def _descriptor(ref: DatasetRef, naming: str, digest_sets: str | None) -> dict[str, Any]:
    """in-toto ResourceDescriptor of a dataset version: its DigestSet when it has one, else its version in the
    annotations, which also carry its ``(namespace, name)`` under naming version 4 on."""
    name = dataset_name(ref.namespace, ref.name, naming)
    annotations: dict[str, Any] = dataset_annotations(ref.namespace, ref.name, naming)
    digest = version_digests(ref.version, ref.digests, digest_sets)
    if digest is not None:
        return {"name": name, "digest": digest, **({"annotations": annotations} if annotations else {})}
    return {"name": name, "annotations": {**annotations, "version": ref.version}}


def statement_for(manifest: Manifest, manifest_digest: str, naming: str | None = None) -> bytes:
    """The in-toto statement: subjects = output dataset versions with their DigestSets (by the
    manifest's ``digestSets`` version); predicate names inputs and the manifest, by ``manifest_digest``
    (``blake3:<hex>`` of its bytes; version 2 adds its ``sha256``). Datasets are named by ``naming``
    (default: the manifest's ``datasetNaming``, else the current naming), which from version 4 on also
    annotates each with its ``(namespace, name)``: their URIs can coincide."""
    digest: dict[str, str] | None = digest_map(manifest_digest)
    if digest is None:
        raise BadInputError(f"manifest digest {manifest_digest!r} is not algo:hex.", fix="pass blake3_digest(manifest bytes)")
    if check_version(manifest.digest_sets) != DIGESTS_V1:
        digest["sha256"] = hashlib.sha256(manifest.to_json()).hexdigest()
    naming = naming or manifest.dataset_naming or DATASET_NAMING
    sets = manifest.digest_sets
    subjects = [Subject(dataset_name(o.namespace, o.name, naming), d, dataset_annotations(o.namespace, o.name, naming) or None)
                for o in manifest.outputs if (d := version_digests(o.version, o.digests, sets))]
    if not subjects:  # a run with no hashed output (e.g. a failed run) is still attested, via its manifest
        subjects = [Subject(layout.bundle_key(manifest.run_id, layout.MANIFEST_FILE), digest)]
    predicate = {
        "runId": manifest.run_id,
        "job": {"namespace": manifest.job_namespace, "name": manifest.job_name},
        "state": manifest.state,
        "endedAt": manifest.ended_at,
        "sealedAt": manifest.sealed_at,
        "inputs": [_descriptor(i, naming, sets) for i in manifest.inputs],
        "outputs": [_descriptor(o, naming, sets) for o in manifest.outputs],
        "manifest": {"name": layout.MANIFEST_FILE, "digest": digest},
    }
    return make_statement(subjects, PREDICATE_TYPE, predicate).to_json()


def within_bound(run_id: str, attachments: Mapping[str, bytes]) -> Mapping[str, bytes]:
    """``attachments`` as a bundle every reader accepts holds them: with its events and PROV at most
    :data:`~prov_common.bundle.model.MANIFEST_FILES_MAX` files. Past that, the refused events are kept in one file
    (:func:`~prov_common.bundle.refusal.combined`), none dropped; a bundle still past it is refused before anything
    is written, naming run ``run_id``, its count and the fix."""
    limit = model.MANIFEST_FILES_MAX - 2  # events.jsonl and prov.json
    if len(attachments) <= limit:
        return attachments
    refused = {p: d for p, d in attachments.items() if is_refusal(p)}
    kept = {p: d for p, d in attachments.items() if p not in refused}
    if refused:
        kept.update([combined(refused)])
    if len(kept) > limit:
        raise BadInputError(
            f"run {run_id} has {len(kept):,} attachments, more than a bundle holds ({limit:,} beside its events and "
            f"PROV; readers call a manifest listing more than {model.MANIFEST_FILES_MAX:,} files malformed), so it is "
            "not sealed and nothing of it is written.",
            fix="attach fewer, larger files (many small ones as one Parquet table or archive under extra/); the run's "
                f"events and attachments stay staged under {layout.staging_prefix(run_id)}: remove the attachments "
                f"past the bound there, then run 'tdprov store seal {run_id}'")
    return kept


@dataclass(frozen=True)
class Derived:
    """What a run's events (and attachments) give, before signing: files, manifest and its bytes; ``events``: the events
    in order (derived by :func:`derive_written`: what ``tdprov show`` lists of each)."""

    events: list[dict[str, Any]]
    state: RunState
    files: dict[str, bytes]
    manifest: Manifest
    manifest_bytes: bytes


def attachment_buffer(path: str, data: object) -> Buffer:
    """``data``, an attachment's bytes to be stored at ``path``; :class:`BadInputError` when it is no buffer."""
    return checked_buffer(data, f"attachment {path!r}", "pass the file's bytes")


def derive_bundle(
    events: Iterable[Any],
    attachments: Mapping[str, bytes] | None,
    *,
    sealed_at: datetime | None = None,
    hashed: Sequence[FileEntry] | None = None,
    digest_sets: str | None = DIGEST_SETS,
    prov_mapping: str = PROV_MAPPING,
    local_names: bool = True,
    versions_apart: bool = True,
    store_id: str | None = None,
    sealed: bool = False,
) -> Derived:
    """The bundle's files and manifest from its events, folded once (pure; :func:`build_bundle`
    signs it, verification compares it with what is stored).

    ``hashed``: the manifest's file entries when the caller already holds them, so no file is hashed
    again (verification passes the stored ones, each checked against its bytes); None hashes the files.
    ``digest_sets``: the DigestSet version to record (verification passes the stored manifest's; None: 1); the oldest
    version from 2 on that gives the run's datasets the same DigestSets (and opaque versions) is recorded.
    ``prov_mapping``: the PROV mapping version to derive ``prov.json`` by (verification passes the stored
    manifest's when this version derives it, :data:`~prov_common.w3cprov.mapping.DERIVABLE_MAPPINGS`).
    ``local_names``: fold local file names as tdprov names them (False re-derives a bundle sealed before that).
    ``versions_apart``: fold each version of a dataset apart (False re-derives a bundle sealed before that).
    ``store_id``: the id of the store the bundle is for (``prov_common.store.identity``), recorded in the manifest.
    ``sealed``: re-derive a sealed bundle (its event times read as :func:`~prov_common.w3cprov.events.parse_time` does).
    """
    check_version(digest_sets)  # before the events are read, as ever
    ordered = order_checked(events, sealed=sealed)
    if not ordered.checked:
        raise BadInputError("no events given for the bundle.", fix="pass the OpenLineage events of one run")
    state = fold_one_run(ordered.checked, local_names=local_names, versions_apart=versions_apart)  # each checked once
    return _derived(state, ordered.events(), ordered.jsonl(), attachments, sealed_at=sealed_at, hashed=hashed,
                    digest_sets=digest_sets, prov_mapping=prov_mapping, store_id=store_id)


def derive_written(data: bytes | EventBytes, name: str, *, sealed_at: datetime, hashed: Sequence[FileEntry],
                   digest_sets: str | None, prov_mapping: str, local_names: bool, versions_apart: bool,
                   each_line: Callable[[bytes], None] | None = None) -> Derived | None:
    """:func:`derive_bundle` of a sealed bundle's ``events.jsonl`` bytes ``data`` (named ``name``; held whole, or read
    in parts; the other arguments as there, ``sealed``), folded line by line
    (:func:`~prov_common.bundle.events.fold_written_lines`), so that what is held grows with the run's PROV and count
    of events, not with the file: its ``events`` are what ``tdprov show`` lists of each
    (:func:`~prov_common.bundle.events.event_listed`); its files hold no ``events.jsonl``: it is ``data``, as given.
    None when ``data`` is not what :func:`derive_bundle` writes of its events (a line not canonical, repeated, out of
    order; events of several runs): :func:`derive_bundle` of them parsed then tells how. :class:`BadInputError` as
    there, a digest-set version this tdprov does not know refused before any line is read. ``each_line``: as
    :func:`~prov_common.w3cprov.event_lines.fold_event_lines` takes it."""
    check_version(digest_sets)
    folded = fold_written_lines(data, name, local_names=local_names, versions_apart=versions_apart, each_line=each_line)
    if folded is None:
        return None
    state, listed = folded
    return _derived(state, listed, None, None, sealed_at=sealed_at, hashed=hashed, digest_sets=digest_sets,
                    prov_mapping=prov_mapping)


def _derived(state: RunState, events: list[dict[str, Any]], events_file: bytes | None,
             attachments: Mapping[str, bytes] | None, *, sealed_at: datetime | None, hashed: Sequence[FileEntry] | None,
             digest_sets: str | None, prov_mapping: str, store_id: str | None = None) -> Derived:
    """What :func:`derive_bundle` gives of the run ``state`` folded from its ``events`` (as ordered), which
    ``events_file`` holds (None: the caller has it, with ``hashed``; its files then hold none; the other arguments as
    there)."""
    sets = check_version(digest_sets)
    layout.check_run_id(state.run_id)
    inputs, outputs = _refs(state.inputs, sets), _refs(state.outputs, sets)
    if sets != DIGESTS_V1:  # the oldest version that gives these DigestSets (so these refs): what more verifiers read
        datasets = state.inputs + state.outputs
        digest_sets = next(v for v in KNOWN[KNOWN.index(DIGESTS_V2):] if _refs(datasets, v) == inputs + outputs)
    attachments = within_bound(state.run_id, attachments or {})
    files: dict[str, bytes] = {layout.PROV_FILE: prov_json(state, prov_mapping)}
    if events_file is not None:
        files[layout.EVENTS_FILE] = events_file
    for path, data in sorted(attachments.items()):
        files[layout.check_attachment_path(path)] = byte_view(attachment_buffer(path, data))  # type: ignore[assignment]  # a bytearray's, not copied
    manifest = Manifest(
        run_id=state.run_id,
        job_namespace=state.job_namespace,
        job_name=state.job_name,
        state=state.state,
        started_at=iso_z(state.started) or "",
        ended_at=iso_z(state.ended),
        sealed_at=iso_z(sealed_at or datetime.now(timezone.utc)) or "",
        event_count=len(events),
        parent_run_id=_parent_run_id(state),
        inputs=inputs,
        outputs=outputs,
        files=tuple(hashed) if hashed is not None else tuple(FileEntry(p, blake3_digest(d), len(d)) for p, d in sorted(files.items())),
        prov_mapping=prov_mapping,
        dataset_naming=DATASET_NAMING,
        digest_sets=digest_sets,
        store_id=store_id,
        task_instance=task_instance_of(state),
        mapping_key=mapping_key_of(state),
    )
    return Derived(events, state, files, manifest, manifest.to_json())


def build_bundle(
    events: Iterable[Any],
    attachments: Mapping[str, bytes] | None,
    signer: SigningKey,
    *,
    sealed_at: datetime | None = None,
    store_id: str | None = None,
    sealed: bool = False,
) -> Bundle:
    """The bundle of one run's events (dicts or openlineage-python RunEvents) and attachments.

    ``attachments`` maps bundle paths (see :func:`layout.samples_path`, :func:`layout.rows_path`) to bytes.
    ``sealed_at`` (default now) is recorded in the manifest and orders the store's index.
    ``store_id``: the id of the store it is for (:func:`prov_common.store.identity.writer_store_id`), signed through
    the manifest, so that a copy of the bundle in another store is found; None leaves it out (as in bundles sealed
    before stores had an identity, which readers accept).
    ``sealed``: the events were checked by the writer that staged them (times read as in a sealed bundle, see
    :func:`derive_bundle`).
    """
    d = derive_bundle(events, attachments, sealed_at=sealed_at, store_id=store_id, sealed=sealed)
    envelope = sign_envelope(statement_for(d.manifest, blake3_digest(d.manifest_bytes)), INTOTO_PAYLOAD_TYPE, [signer])
    return Bundle(d.state.run_id, d.files, d.manifest, d.manifest_bytes, envelope.to_json(), signer.key_id)


class BundleBuilder:
    """Collects one run's events and attachments, then :meth:`build` seals them (no I/O)."""

    def __init__(self, signer: SigningKey) -> None:
        self.signer = signer
        self.events: list[Any] = []
        self.attachments: dict[str, bytes] = {}

    def add_event(self, event: Any) -> "BundleBuilder":
        self.events.append(event)
        return self

    def attach(self, path: str, data: bytes) -> "BundleBuilder":
        self.attachments[layout.check_attachment_path(path)] = data
        return self

    def build(self, *, sealed_at: datetime | None = None, store_id: str | None = None) -> Bundle:
        return build_bundle(self.events, self.attachments, self.signer, sealed_at=sealed_at, store_id=store_id)
