"""Hash the datasets a task declares, where they live, within a time and size budget.

Never raises: every dataset yields a :class:`DatasetCapture`, hashed or with the reason it is not.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from prov_common.file_uri import DBFS, is_short_uri
from prov_common.hashing.model import ContentDigest  # no pandas: hashing loads it on first use
from prov_common.hashing.shard_model import LocalState, ShardedDigest
from prov_common.hashing.remote import (S3_NAMED_SCHEMES, S3_SCHEMES, named_if_missing, s3_object_size, s3_version,
                                        versioned_uri)

from prov_airflow.settings import ListenerLimits, setting_source
from prov_common.once import Once

log = logging.getLogger(__name__)
WARNED = Once(inherited=True)  # what a declared inlet or outlet names that cannot be recorded, warned once per process

Status = Literal["hashed", "logical", "missing", "too_large", "timeout", "error", "unsupported"]

LOGICAL_NAMESPACE = "airflow-asset"
"""Namespace of an ``Asset`` whose URI has no scheme (``Asset(name="daily_report")``): a logical name, no data.
The dataset's name is the asset's URI (its name when only a name is given), as Airflow keeps it."""
_LOGICAL_PREFIX = LOGICAL_NAMESPACE + ":"


@dataclass(frozen=True)
class DatasetCapture:
    """One declared dataset and what hashing it gave."""

    uri: str
    status: Status
    digest: ContentDigest | ShardedDigest | None = None
    message: str = ""
    row_set: Any = None  # prov_common.rowset.RowSet, at row granularity
    snapshot: bool = False  # keep a content-addressed copy (outlets)
    kept: Any = None  # prov_common.store.snapshots.KeptSnapshot: the copy kept before the event (its facet records it)
    changed_at: float | None = None  # outlets: when the data last changed (epoch seconds), None when not known
    state: LocalState | None = None  # outlets: what the file, folder, glob or S3 object held when hashed (None: not known)

    @property
    def complete(self) -> bool:
        """Recorded as declared: hashed, or a logical asset (which has no data to hash)."""
        return self.status in ("hashed", "logical")

    @property
    def absent(self) -> bool:
        """Nothing is there: a local file, folder, glob or S3 object that holds nothing (its ``state``, when noted),
        or one without a state that does not exist."""
        return self.state.empty if self.state is not None else self.status == "missing"


def to_uri(item: Any) -> str | None:
    """URI of an inlet/outlet: an ``Asset`` (``uri``), a lineage ``File`` (``url``), an OpenLineage ``Dataset``
    (``namespace`` and ``name``), an ``ObjectStoragePath`` (``protocol`` and ``path``), a path or a URI string;
    ``None`` for anything else.

    A path (``str`` without a scheme, ``PurePath``, a ``File``'s ``url``, a local ``ObjectStoragePath``) is made
    absolute; a URI written without ``//`` is kept as written (``dbfs:/mnt/x.csv``, a Databricks file; the naming
    refuses another ``scheme:/path`` of a path or ``File``: :func:`~prov_common.file_uri.short_uri`). An ``Asset`` URI
    without ``//`` but ``dbfs:/...`` is a logical name (Airflow's ``Asset(name=...)``), never a file in
    the working folder: ``airflow-asset:<its URI>`` (see :func:`logical_name`). An S3 ``Asset`` URI or ``File`` URL is
    read as Airflow reads it (:func:`airflow_object_uri`); a URI string keeps its key as written."""
    if isinstance(item, PurePath):
        return Path(item).absolute().as_uri()
    named = _named_uri(item)
    if named is not None:
        return named
    asset_uri = getattr(item, "uri", None)
    value = asset_uri or getattr(item, "url", None) or (item if isinstance(item, str) else None)
    if not isinstance(value, str) or not value:
        return None
    if "://" in value or (is_short_uri(value) and (not asset_uri or value.partition(":")[0].lower() == DBFS)):
        return value if isinstance(item, str) else airflow_object_uri(value)
    if isinstance(item, str) or not asset_uri:
        return Path(value).absolute().as_uri()
    return _LOGICAL_PREFIX + value


def airflow_object_uri(uri: str) -> str:
    """An ``Asset`` URI or a lineage ``File`` URL as Airflow reads it: of an S3 object (``s3``, ``s3a``, ``s3n``),
    ``?`` starts a query and ``#`` a fragment, neither part of the key (``S3Hook.parse_s3_url``, which the official
    OpenLineage provider names the asset by: ``s3://b/k.csv?x=1`` is ``("s3://b", "k.csv")``), so the URI is cut
    there; S3's own ``versionId`` in the query stays (that version of the object; its id percent-encoded, as Airflow
    writes it in an ``Asset`` URI, or as written: ids hold ``/``, ``+`` and ``=``). Other URIs are as given (their
    naming drops a query). A key as written (a URI string, an OpenLineage ``Dataset``'s name) keeps ``?`` and ``#``."""
    if uri.partition("://")[0].lower() not in S3_NAMED_SCHEMES or not ("?" in uri or "#" in uri):
        return uri
    base, _, rest = uri.partition("#")[0].partition("?")
    version = next((unquote(p[len("versionId="):]) for p in rest.split("&") if p.startswith("versionId=")), None)
    return versioned_uri(base, version) if version else base


def _cut_by_airflow(written: str) -> bool:
    """Whether reading ``written`` as Airflow reads an S3 ``Asset`` URI (:func:`airflow_object_uri`) drops part of it:
    a fragment, or a query that is more than S3's own ``versionId`` alone."""
    kept = airflow_object_uri(written)
    alone = "#" not in written and "&" not in written and s3_version(kept) is not None
    return kept != written and not (alone and written.partition("?")[0] == kept.partition("?")[0])


def _object_storage_uri(protocol: str, path: str) -> str:
    """URI of an ``ObjectStoragePath``'s ``protocol`` and ``path``: an S3 one's ``?versionId=<id>``, all that follows
    it, is the version its version-aware s3fs reads (``s3fs.S3FileSystem.split_path``), the id as written; any other
    ``?`` is part of its key, as s3fs keeps it."""
    key, found, version = path.partition("?versionId=")
    if protocol in S3_SCHEMES and found and version:
        return versioned_uri(f"{protocol}://{key}", version)
    return f"{protocol}://{path}"


def _named_uri(item: Any) -> str | None:
    """URI of an OpenLineage ``Dataset`` or an ``ObjectStoragePath`` (its ``str`` would hold its connection id)."""
    if hasattr(item, "uri") or hasattr(item, "url"):
        return None
    protocol, path = getattr(item, "protocol", None), getattr(item, "path", None)
    if isinstance(protocol, str) and isinstance(path, str) and path:  # before namespace: it has one too
        return Path(path).absolute().as_uri() if protocol in ("", "file", "local") else _object_storage_uri(protocol, path)
    namespace, name = getattr(item, "namespace", None), getattr(item, "name", None)
    if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
        from prov_common.lineage.naming import dataset_uri

        try:
            return dataset_uri(namespace, name)
        except ValueError:  # a relative name in namespace "file": named in a warning (warn_unnamed)
            return None
    return None


def warn_unnamed(item: Any) -> None:
    """Warn (once per process and item) that the declared inlet or outlet ``item`` names no dataset tdprov can
    record, and what to declare instead."""
    what = f"{item!r} ({type(item).__name__})"
    if not WARNED.first("unnamed", what):
        return
    log.warning("tdprov: inlet or outlet %s names no dataset tdprov can record: it is not recorded. Declare the data "
                "as an Asset with a URI (Asset('file:///abs/path'), Asset('s3://bucket/key')), a path, a lineage File, "
                "an OpenLineage Dataset(namespace, name) or an ObjectStoragePath instead", what)


def _warn_path_like(name: str | None) -> None:
    """Warn (once per asset and process) when a logical asset's name looks like a path (``Asset("/data/p.csv")``):
    it names no file."""
    if name is None or not name.startswith(("/", "./", "../")) or not WARNED.first("path-like", name):
        return
    written = Path(name).as_uri() if name.startswith("/") else "file:///abs/path"
    log.warning("tdprov: Asset(%r) names no file: an Asset URI without a scheme is a logical name, recorded without "
                "a digest as %s. Write Asset(%r) to have the file hashed", name, _LOGICAL_PREFIX + name, written)


def logical_name(uri: str) -> str | None:
    """The asset name of a logical asset's URI (:func:`to_uri`), ``None`` for a dataset with a location."""
    return uri[len(_LOGICAL_PREFIX):] if uri.startswith(_LOGICAL_PREFIX) else None


def dataset_key(uri: str) -> tuple[str, str]:
    """The (namespace, name) a dataset's URI (:func:`to_uri`) names: ``airflow-asset`` and its name for a logical
    asset, else as the OpenLineage naming spec gives it (:func:`~prov_common.lineage.naming.dataset_from_uri`)."""
    from prov_common.lineage.naming import dataset_from_uri

    name = logical_name(uri)
    return (LOGICAL_NAMESPACE, name) if name is not None else dataset_from_uri(uri)


def named_key(uri: str) -> tuple[str, str] | None:
    """:func:`dataset_key` of a declared inlet's or outlet's ``uri``, ``None`` when the naming refuses it (a port that
    is no number, an unclosed IPv6 bracket, an ``s3://`` with no key; Airflow takes such an ``Asset``): that one is
    not recorded, with a warning (once per process), and the task's other datasets are."""
    from prov_common.errors import BadInputError
    from prov_common.lineage.secret_text import redact_uri

    try:
        return dataset_key(uri)
    except (BadInputError, ValueError) as exc:
        shown = redact_uri(uri)
        if WARNED.first("unnamable", shown):
            log.warning("tdprov: inlet or outlet %s names no dataset tdprov can record (%s): it is not recorded; the "
                        "task's other datasets are. Fix: give it a URI of the OpenLineage naming spec "
                        "(scheme://host[:port]/path, file:///abs/path, s3://bucket/key)", shown, exc)
        return None


def local_path(uri: str) -> Path | None:
    """Filesystem path of a ``file://`` URI, ``None`` for other schemes."""
    from prov_common.hashing.targets import local_target

    return Path(local_target(uri)) if urlsplit(uri).scheme == "file" else None


def _size(target: str, shards: list | None) -> int | None:
    if shards is not None:
        return sum(ref.size for ref in shards)
    path = local_path(target)
    if path is not None:
        return path.stat().st_size  # FileNotFoundError is reported as "missing"
    if urlsplit(target).scheme in S3_SCHEMES:
        with named_if_missing(target):  # worded as tdprov hash words it, not as S3's answer to a HEAD
            return s3_object_size(target)
    return None


def changed_at(target: str, shards: list | None) -> float | None:
    """When the data at ``target`` last changed, in epoch seconds: a local file's status-change time (``st_ctime``:
    a copy that keeps the old modification time, ``cp -p``, still changes it), the latest of those of a local
    folder's or glob's shards and folders (:func:`~prov_common.hashing.shard_list.local_changed_at`), an S3
    object's ``LastModified``; ``None`` for a sharded dataset on S3 (a removed key changes none of the keys left)
    or when it cannot be read."""
    try:
        path = local_path(target)
        if path is not None and shards is not None:
            from prov_common.hashing.shard_list import local_changed_at

            return local_changed_at(str(path), shards)
        if shards is not None:
            return None
        if path is not None:
            return path.stat().st_ctime
        if urlsplit(target).scheme in S3_SCHEMES:
            from prov_common.hashing.remote import s3_last_modified

            return s3_last_modified(target)
    except Exception as exc:  # noqa: BLE001 - not known: the outlet is taken as written
        log.info("tdprov: cannot tell when %s last changed (%s: %s)", target, type(exc).__name__, exc)
    return None


def local_state(target: str, shards: list | None = None) -> LocalState | None:
    """What the local file, folder or glob at ``target`` (a ``file://`` URI) holds now
    (:func:`~prov_common.hashing.shard_list.local_state`; ``shards`` as listed for the hashing); ``None`` for
    data elsewhere, when it cannot be read, or for a URI no URL parser reads (``file://h:port/p``, ``file://[::1``:
    :func:`named_key` leaves it out, with a warning)."""
    try:
        path = local_path(target)
    except ValueError:  # BadInputError of file_uri.split_uri, or urlsplit's own
        return None
    if path is None:
        return None
    try:
        from prov_common.hashing.shard_list import local_state as state_of

        return state_of(str(path), shards)
    except Exception as exc:  # noqa: BLE001 - not known: the outlet is judged by its change time
        log.info("tdprov: cannot tell what %s holds (%s: %s)", target, type(exc).__name__, exc)
    return None


def object_state(target: str) -> LocalState | None:
    """What the one S3 object at ``target`` holds now, by one HEAD request: its size, ETag and VersionId (none on an
    unversioned bucket), its ``LastModified`` as the change time; empty when S3 says there is none. ``None`` for data
    elsewhere, an S3 prefix (``s3://b/p/``) or when S3 cannot be asked (the outlet is then judged by its change
    time)."""
    if urlsplit(target).scheme not in S3_SCHEMES or target.endswith("/"):
        return None
    from prov_common.hashing.remote import s3_head
    from prov_common.hashing.targets import is_not_found

    try:
        head = s3_head(target)
    except Exception as exc:  # noqa: BLE001 - botocore's errors: not found, denied, endpoint down
        if is_not_found(exc):
            return LocalState(frozenset())
        log.info("tdprov: cannot tell what %s holds (%s: %s)", target, type(exc).__name__, exc)
        return None
    etag, version = str(head.get("ETag", "")).strip('"'), head.get("VersionId") or ""
    return LocalState(frozenset({("", int(head["ContentLength"]), f"etag:{etag}:version:{version}")}),
                      head["LastModified"].timestamp())


def outlet_state(target: str, local_only: bool = False) -> LocalState | None:
    """What the outlet at ``target`` holds now: a local file, folder or glob (:func:`local_state`) or, unless
    ``local_only`` (a sharded dataset on S3, where a removed key leaves no trace), one S3 object
    (:func:`object_state`)."""
    state = local_state(target)
    return state if state is not None or local_only else object_state(target)


def _pinned_etag(state: LocalState | None) -> str | None:
    """The ETag of the one S3 object whose ``state`` (:func:`object_state`) its HEAD gave just before its hash: the
    hash reads the bytes with that ETag or is refused (``If-Match``), so they are the bytes ``state`` names. ``None``
    for any other data, and for an ETag no read can ask for (empty, weak or unprintable: an S3-compatible server's or a
    proxy's), whose object's state is then read again after the hash and compared."""
    if state is None or len(state.stamps) != 1:
        return None
    ((path, _, stamp),) = state.stamps
    if path or not stamp.startswith("etag:"):
        return None
    from prov_common.store.s3 import unaskable_etag, weak_etag

    etag = stamp.removeprefix("etag:").rpartition(":version:")[0]
    return etag if etag and not weak_etag(etag) and unaskable_etag("", etag, "") is None else None


def _pinned_read_refused(uri: str, exc: Exception) -> Exception | None:
    """What the refusal ``exc`` (:class:`~prov_common.hashing.s3_pin.ObjectChangedError`) of the hash of the S3 object
    ``uri``, read at the ETag its HEAD gave just before (:func:`_pinned_etag`), tells: that it is not there (S3's
    answer, as a read without the ETag names it: the outlet is missing) when it was removed since the HEAD; that
    another writer put it meanwhile (:func:`changed_while_hashed`) when S3 refused the ETag or answered other bytes;
    ``None`` when the answer gave its bytes no ETag or a weak one (an endpoint or a proxy that drops or alters it),
    which proves no write: the object is then hashed as one whose HEAD gives no ETag, its state read again after."""
    from prov_common.hashing.remote import missing_in_s3
    from prov_common.hashing.targets import is_not_found
    from prov_common.store.s3 import PinIgnoredError

    cause = exc.__cause__
    if isinstance(cause, PinIgnoredError):
        return changed_while_hashed(uri) if cause.changed else None
    if cause is not None and is_not_found(cause):
        return missing_in_s3(uri, cause) or cause
    return changed_while_hashed(uri)


def _changed_at(target: str, shards: list | None, state: LocalState | None) -> float | None:
    """:func:`changed_at`, taken from ``state`` for one S3 object (its HEAD gave ``LastModified``: not asked again)."""
    if state is not None and urlsplit(target).scheme in S3_SCHEMES:
        return state.changed_at
    return changed_at(target, shards)


def start_states(items: list[Any], limits: ListenerLimits | None = None,
                 seconds_left: float | None = None) -> dict[str, LocalState]:
    """What each local dataset and S3 object among ``items`` (a try's outlets) holds now, by URI (:func:`to_uri`):
    taken when the try starts, to tell at its end which outlets it wrote. Only stat calls and folder listings, and one
    HEAD request per S3 outlet (read as ``limits``' ``[tdprov] data_aws_conn_id`` says, :func:`data_clients`; without
    ``limits``, with the AWS environment); never raises.

    ``seconds_left``: how long they may take (:func:`run_bounded`; ``None``: no bound). The outlets not noted by then
    (an S3 endpoint or a mount that does not answer) are left out, with a warning: each is judged by when its data last
    changed (:func:`~prov_airflow.unwritten.split_written`)."""
    states: dict[str, LocalState] = {}
    # a connection that cannot be read gives no S3 state: the object is judged by its change time, with a warning
    clients, unreadable = data_clients_or_why(limits) if limits is not None else (None, "")
    uris = list(dict.fromkeys(uri for uri in map(to_uri, items) if uri is not None))
    lock, late, done = threading.Lock(), False, 0

    def work() -> None:
        nonlocal done
        with reading_data_with(clients):  # a new thread starts in a context of its own
            for uri in uris:
                state = outlet_state(uri, local_only=bool(unreadable))
                with lock:
                    if late:  # abandoned: what it holds now may be what the try wrote
                        return
                    if state is not None:
                        states[uri] = state
                    done += 1

    if seconds_left is None:
        work()
    elif not run_bounded(work, "tdprov-start-states", seconds_left):
        with lock:
            late = True
            left = uris[done:]
        timeout = limits.timeout if limits is not None else seconds_left
        log.warning("tdprov: what %s held when the try started was not noted within [tdprov] hash_timeout=%ss (an S3 "
                    "endpoint or a mount did not answer): each is judged written by the try by when its data last "
                    "changed. Fix: let the data be reached from where the task runs, or raise [tdprov] hash_timeout",
                    ", ".join(left), timeout)
    return states


def warn_if_query(item: Any, uri: str) -> None:
    """Warn when a ``file`` URI as written for ``item`` (its URI, or an ``Asset``'s name, which keeps the URI as
    given when no name is: Airflow drops from its ``uri`` a query or fragment it cannot read) holds a ``?`` or
    ``#``: they start a query and a fragment, which are not part of the path ``uri`` names. So does an S3 URI of an
    ``Asset`` or a lineage ``File`` (:func:`airflow_object_uri`)."""
    for written in (uri, getattr(item, "name", None)):
        if isinstance(written, str) and written.startswith("file:") and ("?" in written or "#" in written):
            if WARNED.first("query", written, uri):
                log.warning("tdprov: %s holds '?' or '#', which start a URI's query and fragment, not part of a file name: "
                            "it names %s. To have them in the file name, write '?' as %%3F and '#' as %%23 (a glob's '?' "
                            "too)", written, local_path(uri))
            return
    if isinstance(item, str) or not (hasattr(item, "uri") or hasattr(item, "url")):
        return  # a key as written (a URI string, an OpenLineage Dataset) keeps its '?' and '#'
    for written in (getattr(item, "uri", None) or getattr(item, "url", None), getattr(item, "name", None)):
        if isinstance(written, str) and "://" in written and _cut_by_airflow(written):
            if WARNED.first("query", written, uri):
                scheme, _, rest = written.partition("://")
                bucket, _, key = rest.partition("/")
                log.warning("tdprov: %s holds '?' or '#', which start a URI's query and fragment, not part of the S3 key "
                            "of an Asset or a lineage File (Airflow's S3 hook and the OpenLineage provider read it so): "
                            "it names %s. To name an object whose key holds them, declare "
                            "Dataset(namespace=%r, name=%r) (openlineage.client.event_v2)", written, uri,
                            f"{scheme}://{bucket}", key)
            return


def _row_set(uri: str, digest: ContentDigest | ShardedDigest) -> Any:
    from prov_common.rowset import row_set_of

    return row_set_of(digest, *dataset_key(uri))  # type: ignore[arg-type]


def data_clients(limits: ListenerLimits) -> Callable[[], Any] | None:
    """The maker of the S3 client that reads ``s3://`` data, from ``[tdprov] data_aws_conn_id`` (the
    connection is read now, on this thread), or ``None``: the AWS environment. Raises when it cannot be read."""
    if not limits.data_aws_conn_id:
        return None
    from prov_airflow.hooks.provenance import aws_s3_client_factory

    make_client = aws_s3_client_factory(limits.data_aws_conn_id)
    return lambda: make_client(None)


def reading_data_with(clients: Callable[[], Any] | None) -> AbstractContextManager[Any]:
    """The block in which ``s3://`` data is read with ``clients`` (see :func:`data_clients`)."""
    from prov_common.hashing.remote import s3_clients_from

    return nullcontext() if clients is None else s3_clients_from(clients)


def hash_one(uri: str, limits: ListenerLimits, seconds_left: float, granularity: str = "column",
             clients: Callable[[], Any] | None = None, stamp: bool = False, spool: Path | None = None) -> DatasetCapture:
    """Hash one dataset in a daemon thread, giving up after ``seconds_left`` (the thread is abandoned);
    at row granularity a table's row set is built as well. ``clients``: see :func:`data_clients`;
    ``stamp``: also note when the data last changed (:func:`changed_at`); ``spool``: the spool folder whose hidden
    folder holds a sharded version's row-set keys (the listener transport's,
    :func:`~prov_airflow.emitter.listener_spool`; None: the environment's)."""
    if local_path(uri) is None and urlsplit(uri).scheme not in S3_SCHEMES:
        return DatasetCapture(uri, "unsupported", message=f"scheme of {uri!r} is not hashed (file:// and s3:// are)")
    from prov_common.hashing.s3_pin import ObjectChangedError
    from prov_common.hashing.targets import (hash_dataset_here_if_unreachable, is_not_found, listed_shards,
                                             no_object_target, resolve_target)
    from prov_common.rowset.capture import has_rows, without_rows

    result: dict[str, Any] = {}

    def work() -> None:
        with reading_data_with(clients):  # a new thread starts in a context of its own
            _work()

    def digest_of(target: str, shards: list | None, etag: str | None = None) -> Any:
        """The digest of ``target`` (``shards``: its listing, None for one file or object); s3:// objects are read
        through prov_common.hashing.remote (``etag``: the ETag the object's bytes must have, else they are refused),
        file:// URIs are taken as paths."""
        return hash_dataset_here_if_unreachable(target, scheduler=limits.dask_scheduler, warn=log.warning,
                                                setting=setting_source("dask_scheduler"), file_sha256=True,
                                                granularity=granularity, shards=shards, spill=limits.dask_spill,
                                                spill_named=setting_source("dask_spill"), spool=spool, etag=etag)

    def _work() -> None:
        try:
            # what the hash reads, taken before it: an S3 object's HEAD gives its size too (no HEAD of its own)
            hashed = object_state(uri) if stamp else None
            if hashed is not None and not hashed.empty:
                target, size = uri, sum(stamp_size for _, stamp_size, _ in hashed.stamps)
            elif hashed is not None:  # its HEAD found no object: an Asset("s3://bucket/prefix/") arrives without its "/"
                target, size = no_object_target(uri), None
            else:
                target, size = resolve_target(uri)  # as above, for an outlet whose state is not noted
            shards = listed_shards(target)  # listed once: for the size check and the hashing
            if hashed is None or hashed.empty:
                hashed = local_state(target, shards) if stamp else None
            size = _size(target, shards) if size is None else size
            if size is not None and size > limits.max_bytes:
                result["capture"] = DatasetCapture(
                    uri, "too_large",
                    message=f"{uri} has {size} bytes, above [tdprov] max_bytes={limits.max_bytes}; not hashed",
                    state=hashed)
                return
            pinned = _pinned_etag(hashed)
            try:
                digest = digest_of(target, shards, pinned)
            except ObjectChangedError as exc:
                if not pinned:
                    raise
                if (refusal := _pinned_read_refused(uri, exc)) is not None:
                    raise refusal from exc
                pinned = None  # no write proven: hashed as an object whose HEAD gives no ETag, its state read again
                digest = digest_of(target, shards)
            # read at the ETag of its HEAD, the bytes hashed are those it names: not asked again
            state = hashed if pinned else outlet_state(target, local_only=shards is not None) if stamp else None
            if hashed is not None and state is not None and state != hashed:
                if not hashed.status_only_change(state):
                    raise changed_while_hashed(uri)
                # a change of status alone (a chmod): hashed once more, as one file is, and taken when that hash finds
                # the same bytes and nothing moves meanwhile; else another writer's, as any other change (a rewrite in
                # place, old mtime set back, before the first hash read it is read by both alike: docs/airflow.md)
                shards = listed_shards(target)
                again = digest_of(target, shards)
                if local_state(target) != state or again.digest != digest.digest:
                    raise changed_while_hashed(uri)
                digest = again
            rows = _row_set(uri, digest) if has_rows(digest) else None
            why = getattr(digest, "no_rows_because", None)
            if granularity == "row" and rows is None and why is None:  # one file that is not a table
                why = "the file is not a table (Parquet, CSV or JSON lines): it has no rows"
            result["capture"] = DatasetCapture(uri, "hashed", digest=without_rows(digest), row_set=rows,
                                               message=f"no row set: {why}" if why else "",
                                               changed_at=_changed_at(target, shards, state) if stamp else None,
                                               state=state)
        except BaseException as exc:  # noqa: BLE001 - reported, never raised into the task
            status: Status = "missing" if is_not_found(exc) else "error"
            result["capture"] = DatasetCapture(uri, status, message=f"{type(exc).__name__}: {exc}",
                                               state=local_state(uri) if stamp else None)

    if not run_bounded(work, f"tdprov-hash {uri}", seconds_left):
        return DatasetCapture(uri, "timeout",
                              message=f"hashing {uri} took longer than [tdprov] hash_timeout={limits.timeout}s")
    return result["capture"]


def run_bounded(work: Callable[[], None], name: str, seconds_left: float) -> bool:
    """Run ``work`` in a daemon thread named ``name``, waiting at most ``seconds_left`` for it: whether it finished in
    time. One that did not is abandoned, so even a call that blocks forever (a FIFO, a hung network mount, an S3
    endpoint that never answers) cannot hold up the task."""
    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    worker.join(max(seconds_left, 0.0))
    return not worker.is_alive()


def changed_while_hashed(uri: str) -> Exception:
    """The refusal of an outlet whose files changed between its listing and the end of its hash: the digest may be of
    a version another writer published, or one the try did not write, so it is credited to no try."""
    from prov_common.errors import BadInputError

    return BadInputError(f"{uri!r} changed while it was hashed: another writer wrote it meanwhile, so the digest cannot "
                         "be tied to what it holds or to this try.",
                         fix="let one task write it at a time, or declare it an outlet only of the task that writes it.")


def data_clients_or_why(limits: ListenerLimits) -> tuple[Callable[[], Any] | None, str]:
    """:func:`data_clients`, or why the connection could not be read (then no ``s3://`` data is read)."""
    try:
        return data_clients(limits), ""
    except Exception as exc:  # noqa: BLE001 - reported on every s3:// dataset, never raised into the task
        why = getattr(exc, "what", None) or f"{type(exc).__name__}: {exc}"
        return None, (f"[tdprov] data_aws_conn_id {limits.data_aws_conn_id!r} could not be read ({why}); fix the "
                      "connection, or unset the option to read s3:// data with the AWS environment")


@dataclass(frozen=True)
class Named:
    """A declared inlet or outlet and the dataset it names: its URI (:func:`to_uri`) and (namespace, name)
    (:func:`named_key`)."""

    item: Any
    uri: str
    key: tuple[str, str]


def named_items(items: list[Any]) -> list[Named]:
    """Each of ``items`` that names a dataset, named once; one that names none is left out with a warning (of
    :func:`warn_unnamed` or :func:`named_key`)."""
    named: list[Named] = []
    for item in items:
        uri = to_uri(item)
        if uri is None:
            warn_unnamed(item)
        elif (key := named_key(uri)) is not None:
            named.append(Named(item, uri, key))
    return named


def capture_all(items: list[Any], limits: ListenerLimits, options: Callable[[Any], Any] | None = None,
                stamp: bool = False) -> list[DatasetCapture]:
    """:func:`capture_named` of the datasets ``items`` name (:func:`named_items`)."""
    return capture_named(named_items(items), limits, options, stamp)


def capture_named(items: list[Named], limits: ListenerLimits, options: Callable[[Any], Any] | None = None,
                  stamp: bool = False, seconds_left: float | None = None) -> list[DatasetCapture]:
    """Hash every declared dataset once, sharing one time budget; logs each dataset that could not be hashed.
    Items that name one dataset (:func:`dataset_key`: ``s3://b/k`` and ``s3a://b/k``) are one, as first named.

    ``options(item)`` gives a dataset's :class:`~prov_airflow.rows.DatasetOptions` (granularity, snapshot);
    ``stamp``: note when each hashed dataset last changed (outlets); ``seconds_left``: the budget left of the
    hook's ``[tdprov] hash_timeout`` (``None``: all of it)."""
    deadline = time.monotonic() + (limits.timeout if seconds_left is None else seconds_left)
    captures: list[DatasetCapture] = []
    seen: set[tuple[str, str]] = set()
    clients, no_clients = data_clients_or_why(limits)
    spool, spool_read = None, False  # the listener's spool folder: read here (not in a hashing thread), on first need
    for named in items:
        item, uri, key = named.item, named.uri, named.key
        if key in seen:
            continue
        seen.add(key)
        warn_if_query(item, uri)
        wanted = options(item) if options is not None else None
        if logical_name(uri) is not None:
            capture = DatasetCapture(uri, "logical",
                                     message="a logical asset (no URI scheme): recorded by its URI, not hashed")
            log.info("tdprov: %s names no data (its URI has no scheme): recorded by its URI, without a digest", uri)
            _warn_path_like(logical_name(uri))
        elif no_clients and urlsplit(uri).scheme in S3_SCHEMES:
            capture = DatasetCapture(uri, "error", message=no_clients)
        else:
            granularity = wanted.granularity if wanted else "column"
            if granularity == "row" and not spool_read:
                from prov_airflow.emitter import listener_spool

                spool, spool_read = listener_spool(), True
            capture = hash_one(uri, limits, deadline - time.monotonic(), granularity, clients, stamp, spool)
        if wanted is not None and wanted.snapshot:
            capture = dataclasses.replace(capture, snapshot=True)
        if not capture.complete:
            if not (stamp and capture.absent):  # an absent outlet: prov_airflow.unwritten says so
                log.warning("tdprov: %s recorded without a content hash (%s): %s", uri, capture.status, capture.message)
        elif capture.status == "hashed" and capture.message:  # something missing that was asked for (a row set)
            log.warning("tdprov: %s recorded at column granularity, %s", uri, capture.message)
        captures.append(capture)
    return captures


