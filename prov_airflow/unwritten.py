"""Declared outlets a task try did not write: kept out of its outputs, named in the ``tdprov_outlets`` run facet.

An outlet is a declaration. A try records as outputs only the outlets it wrote: none when it failed, skipped
itself or had its state set outside its process; not one that is not there when it ends (``missing``: a local
file, folder or glob, an S3 object); and not one it left ``unchanged``. A local file, folder or glob is unchanged when it holds what it held when the
try started (the same shards, each with the same size, modification time, inode and change time: see
:class:`~prov_common.hashing.shard_model.LocalState`), an S3 object when it has the same ETag and VersionId, as
this process's listener noted them then. Without that note (a try resumed after a deferral; an S3 object whose
HEAD request failed or did not answer within ``[tdprov] hash_timeout``, with a warning) it is unchanged when its
data last changed before the try started: a file's status-change time, the latest of those of a local folder's or glob's shards and folders, an
S3 object's ``LastModified``, with :data:`CLOCK_SKEW` seconds allowed; a sharded dataset on S3, where a removed
key leaves no trace, always counts as written. Those are named in the facet instead (never dropped silently);
the audit notes the unchanged ones.

Beside the OpenLineage provider, :func:`provider_event` first names the provider's datasets as tdprov names
them (:mod:`~prov_airflow.provider_names`). Its START, FAIL and ABORT events, and the COMPLETE it sends for a skip, list
the declared outlets as outputs. :func:`provider_event`, which ``ProvenanceTransport`` applies as the events
enter tdprov, moves the outputs without a version out of them into the same facet, using what this process's
listener noted for the try (:func:`remember`) just before the provider's terminal event.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prov_common.bounded import keep_newest
from prov_common.file_uri import local_dataset
from prov_common.hashing.remote import S3_SCHEMES
from prov_common.hashing.shard_model import LocalState
from prov_common.lineage.facet_names import OUTLETS
from prov_common.w3cprov.identity import iso_z

from prov_airflow.capture import DatasetCapture, dataset_key, named_key, to_uri
from prov_airflow.provider_names import dataset_version, noted_assets, renamed

if TYPE_CHECKING:  # the facets load the OpenLineage client: when a try's outlets are told, not with the plugin
    from prov_common.lineage.facets import OutletsRunFacet, UnwrittenOutlet

log = logging.getLogger(__name__)

CLOCK_SKEW = 2.0
"""Seconds by which the clock that stamps the data (a file system, S3) may lag the worker's."""
UNCHANGED, MISSING, FAILED, SKIPPED, OUTSIDE, DECLARED = ("unchanged", "missing", "failed", "skipped", "set outside the task",
                                                         "declared")
PROVIDER_PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage"
"""How the official OpenLineage Airflow provider signs its events (``producer``, followed by its version)."""
_REMEMBERED = 1000


def _iso(seconds: float) -> str:
    return iso_z(datetime.fromtimestamp(seconds, timezone.utc))


def split_written(captures: Iterable[DatasetCapture], started: float | None,
                  before: Mapping[str, LocalState] | None = None) -> tuple[list[DatasetCapture], list[UnwrittenOutlet]]:
    """The hashed outlets of a try that started at ``started`` (epoch seconds), and those it did not write: one
    that is not there (``missing``: a local one, or an S3 object that does not exist), and an ``unchanged`` one: one that holds what it held at the
    start (``before``, by URI: :func:`~prov_airflow.capture.start_states`; an S3 object's ETag and VersionId), or,
    without that, whose data last changed before the try started (more than :data:`CLOCK_SKEW` seconds). An outlet
    neither is known of counts as written."""
    from prov_common.lineage.facets import UnwrittenOutlet

    written: list[DatasetCapture] = []
    unwritten: list[UnwrittenOutlet] = []
    for capture in captures:
        if capture.absent:
            unwritten.append(UnwrittenOutlet(*dataset_key(capture.uri), MISSING))
            log.warning("tdprov: outlet %s is not there after the try (no file; no shard in a folder or glob; no "
                        "object): not recorded as its output", capture.uri)
            continue
        if _wrote(capture, started, (before or {}).get(capture.uri)):
            written.append(capture)
            continue
        changed = capture.state.changed_at if capture.state is not None else capture.changed_at
        unwritten.append(UnwrittenOutlet(*dataset_key(capture.uri), UNCHANGED,
                                         version=capture.digest.digest if capture.digest else None,
                                         changedAt=_iso(changed) if changed is not None else None,
                                         startedAt=_iso(started) if started is not None else None))
        log.warning("tdprov: outlet %s is unchanged since the try started (last changed at %s; the try started at %s): "
                    "not recorded as written by it", capture.uri, _iso(changed) if changed is not None else "?",
                    _iso(started) if started is not None else "?")
    return written, unwritten


def _wrote(capture: DatasetCapture, started: float | None, before: LocalState | None) -> bool:
    """Whether the try wrote the hashed outlet ``capture``: what it holds changed since ``before``; without that
    note or what it holds now, its data changed after the try ``started`` (or when it changed is not known), with a
    warning for an S3 object, whose ``LastModified`` is in whole seconds."""
    if before is not None and capture.state is not None:
        return capture.state != before
    if started is not None and capture.changed_at is not None and urlsplit(capture.uri).scheme in S3_SCHEMES:
        log.warning("tdprov: what S3 object %s held when the try started could not be read (its HEAD request failed "
                    "or did not answer within [tdprov] hash_timeout, or [tdprov] data_aws_conn_id could not be read): "
                    "it is judged written by the try by its LastModified, in whole seconds, so a write by another task "
                    "up to %s seconds before the try started counts as the try's. Fix: let the credentials that read "
                    "the data send a HEAD request for it (s3:GetObject), answered within [tdprov] hash_timeout",
                    capture.uri, int(CLOCK_SKEW) + 1)
    return started is None or capture.changed_at is None or capture.changed_at >= started - CLOCK_SKEW


def declared(outlets: Iterable[Any], reason: str) -> list[UnwrittenOutlet]:
    """The declared ``outlets`` (named, not read) as not written, for ``reason``."""
    from prov_common.lineage.facets import UnwrittenOutlet

    found: dict[tuple[str, str], UnwrittenOutlet] = {}
    for item in outlets:
        uri = to_uri(item)
        if uri is None:
            continue
        key = named_key(uri)  # a URI tdprov cannot name is not recorded as an output either
        if key is not None:
            found.setdefault(key, UnwrittenOutlet(*key, reason))
    return list(found.values())


def outlets_facets(not_written: list[UnwrittenOutlet]) -> dict[str, OutletsRunFacet]:
    """The ``tdprov_outlets`` run facet naming ``not_written`` (none when it is empty)."""
    from prov_common.lineage.facets import OutletsRunFacet

    return {OUTLETS: OutletsRunFacet(notWritten=list(not_written))} if not_written else {}


@dataclass(frozen=True)
class TryOutlets:
    """What the listener knows of a try's outlets: those it did not write, and why it wrote none (or ``None``)."""

    not_written: tuple[UnwrittenOutlet, ...] = ()
    wrote_nothing_because: str | None = None


_TRIES: OrderedDict[str, TryOutlets] = OrderedDict()
_LOCK = threading.Lock()


def remember(run_id: str, outlets: TryOutlets) -> None:
    """Note ``outlets`` of try ``run_id`` for the provider's terminal event, sent next in this process."""
    with _LOCK:
        keep_newest(_TRIES, run_id, outlets, _REMEMBERED)


def _recalled(run_id: str) -> TryOutlets | None:
    with _LOCK:
        return _TRIES.get(run_id)


def provider_event(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """``event`` with its datasets named as tdprov names them (:mod:`~prov_airflow.provider_names`: a lineage
    ``File``'s path or ``file:`` URL, a ``file://localhost`` asset) and the outputs it only declares moved into its
    ``tdprov_outlets`` facet, when it is an event of the OpenLineage Airflow provider (any other event is
    returned as it is).

    Outputs without a version are declarations in a START (``declared``), a FAIL or an ABORT, and in a COMPLETE
    of a try the listener noted as having written nothing (a skip) or whose outlet it found unchanged or missing;
    an output with a version (a content digest) is kept, as is every output of a COMPLETE the listener noted
    nothing about."""
    if not str(event.get("producer", "")).startswith(PROVIDER_PRODUCER):
        return event
    from prov_common.lineage.facets import OutletsRunFacet, UnwrittenOutlet

    kind, run = event.get("eventType"), event.get("run")
    assets = noted_assets(str(run.get("runId"))) if isinstance(run, Mapping) else {}
    event = {**event, **{side: renamed(event[side], assets) for side in ("inputs", "outputs") if side in event}}
    known = _recalled(str(run.get("runId"))) if isinstance(run, Mapping) else None
    reason = {"START": DECLARED, "FAIL": FAILED, "ABORT": FAILED}.get(str(kind))
    if kind != "START" and known is not None and known.wrote_nothing_because:
        reason = known.wrote_nothing_because
    noted = {local_dataset(o.namespace, o.name): o for o in (known.not_written if known and kind != "START" else ())}
    kept, moved = [], []
    for output in event.get("outputs") or ():
        key = local_dataset(str(output.get("namespace")), str(output.get("name")))
        unversioned = dataset_version({**output, "namespace": key[0], "name": key[1]}) is None
        if unversioned and (reason is not None or key in noted):
            moved.append(noted.get(key) or UnwrittenOutlet(key[0], key[1], reason or UNCHANGED))
        else:
            kept.append(output)
    if kind == "START":
        facet = OutletsRunFacet(declared=moved) if moved else None
    else:
        listed = list(noted.values()) + [o for o in moved if local_dataset(o.namespace, o.name) not in noted]
        facet = OutletsRunFacet(notWritten=listed) if listed else None
    if facet is None:
        return event
    from openlineage.client.serde import Serde

    facets = dict(run.get("facets") or {}) if isinstance(run, Mapping) else {}
    return {**event, "outputs": kept, "run": {**run, "facets": {**facets, OUTLETS: Serde.to_dict(facet)}}}
