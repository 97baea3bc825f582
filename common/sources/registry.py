"""Source records in the store: signed, written once under ``sources/<name>/<digest hex>.json``."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.errors import BadInputError, TdprovError, VerificationError
from prov_common.file_uri import is_uri
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.sources.merged import SourceVersion, by_version
from prov_common.sources.model import SOURCE_PAYLOAD_TYPE, SourceRecord, check_name
from prov_common.store.base import Store
from prov_common.store.identity import FIX_OTHER_STORE, foreign_store, writer_store_id
from prov_common.text import camel_keys
from prov_common.w3cprov.identity import iso_z, normal_version

if TYPE_CHECKING:
    from prov_common.config import Settings

SOURCES_PREFIX = "sources/"


def source_key(name: str, digest: str) -> str:
    return f"{SOURCES_PREFIX}{check_name(name)}/{digest.split(':', 1)[1]}.json"


def source_key_parts(key: str) -> tuple[str, str] | None:
    """The source name and digest hex (as written) that ``key`` names, the inverse of :func:`source_key`, judged from
    the key alone: its first folder under ``sources/`` and its file name. None when ``key`` is not a ``.json`` under
    ``sources/``."""
    if not key.startswith(SOURCES_PREFIX) or not key.endswith(".json"):
        return None
    name = key.removeprefix(SOURCES_PREFIX).partition("/")[0]
    return name, key.rsplit("/", 1)[-1].removesuffix(".json")


@dataclass(frozen=True)
class StoredSource:
    """A source record read from the store, with its key and the key id that signed it."""

    record: SourceRecord
    key: str
    signer: str

    def view(self) -> dict[str, Any]:
        """The source as ``tdprov source list --json`` and report.json show it: the record's fields named as in the rest
        of tdprov's JSON (``registeredAt``, ``storeId``, ``originGeography``), its ``key`` and its ``signer``. The signed
        record keeps its own names (:meth:`SourceRecord.to_dict`); the names inside ``extra`` are the issuer's."""
        return {**camel_keys(self.record.to_dict()), "key": self.key, "signer": self.signer}


def absolute_location(location: str) -> str:
    """A local path as the absolute path pipelines name it by (``data/v.csv`` run in ``/srv`` is ``/srv/data/v.csv``):
    a relative one would mean another file to each reader of the record. URIs as given, ``file:/abs`` and
    ``dbfs:/mnt/v.csv`` among them (:func:`~prov_common.file_uri.is_uri`); ``file:v.csv`` is no URI but a
    relative file of that name."""
    if is_uri(location):
        return location
    from prov_common.lineage.naming import opened_path  # loads on use, as hashing does

    return opened_path(location)


def register_source(store: Store, record: SourceRecord, signer: SigningKey) -> StoredSource:
    """Sign and store ``record``, for this store's identity (``store_id``, unless the record names one), at its location
    made absolute (:func:`absolute_location`, as ``tdprov source add`` records it); registering the same name and digest
    twice keeps the first record (a record of the same digest at the same location under another name adds fields: see
    :mod:`.merged`)."""
    if record.location:
        record = replace(record, location=absolute_location(record.location))
    key = source_key(record.name, record.digest)
    if store.exists(key):
        raise BadInputError(
            f"source '{record.name}' with digest {record.digest} is already registered ({key}); registered records are never "
            "changed.",
            fix=f"to add fields this record lacks, register the same data at the same location again under another name with "
                f"them (e.g. --name {record.name}-2 and the missing options): the audit reads the records of one digest at one "
                "location together, the newest "
                "record giving a field that several set; data that changed is registered as a new version (its new digest)",
        )
    if not record.registered_at:
        record = replace(record, registered_at=iso_z(datetime.now(UTC)))  # to the microsecond: records of one digest are ordered by it
    if record.store_id is None:
        record = replace(record, store_id=writer_store_id(store))
    env = sign_envelope(record.to_json(), SOURCE_PAYLOAD_TYPE, [signer])
    store.put(key, env.to_json())
    return StoredSource(record, key, signer.key_id)


def read_source(store: Store, key: str, trust: TrustStore) -> StoredSource:
    """Read and verify one record; a bad signature or changed bytes, or a record signed for another store (copied from
    it), raise :class:`VerificationError`."""
    opened = open_envelope(store.get(key, SMALL_OBJECT_LIMIT), trust, SOURCE_PAYLOAD_TYPE, what=f"source record '{key}'")
    try:
        record = SourceRecord.from_json(opened.payload)
    except (BadInputError, ValueError, TypeError) as exc:
        raise VerificationError(f"source record '{key}' is malformed ({exc})") from exc
    if source_key(record.name, record.digest) != key:
        raise VerificationError(f"source record '{key}' names '{record.name}' {record.digest}: it was moved")
    if (elsewhere := foreign_store(store, record.store_id)) is not None:
        raise VerificationError(f"source record '{key}' is {elsewhere}", fix=FIX_OTHER_STORE)
    return StoredSource(record, key, opened.key_id)


def iter_sources(store: Store, trust: TrustStore, problems: list[tuple[str, TdprovError]] | None = None) -> Iterator[StoredSource]:
    """Every verified source record; records that fail go to ``problems`` (or raise when it is None)."""
    for key in store.list(SOURCES_PREFIX):
        if not key.endswith(".json"):
            continue
        try:
            yield read_source(store, key, trust)
        except TdprovError as exc:
            if problems is None:
                raise
            problems.append((key, exc))


Listing = tuple[list[StoredSource], list[tuple[str, TdprovError]]]
"""The store's verified source records, and the keys of those that do not verify with why (:func:`source_listing`)."""


def source_listing(store: Store, trust: TrustStore) -> Listing:
    """Every source record in ``store``, listed and verified: those that verify, and the others' keys with why."""
    problems: list[tuple[str, TdprovError]] = []
    return list(iter_sources(store, trust, problems)), problems


def settings_source_listing(settings: Settings, store: Store | None = None) -> Listing:
    """:func:`source_listing` of the store of ``settings`` (or ``store``), verified with the trust ``settings`` name
    (``StoreUnavailableError`` when the store cannot be reached)."""
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store

    return source_listing(store if store is not None else open_store(settings=settings), trust_from_settings(settings))


def registered_versions(store: Store, trust: TrustStore, digest: str) -> list[SourceVersion]:
    """The verified records of ``digest`` in ``store``, under any name, read together per source version (digest and
    location, :func:`.merged.by_version`): equal bytes registered at two locations are two versions. Empty when none
    verifies (records that fail verification are left out, as the audit leaves them out)."""
    wanted = normal_version(digest)
    wanted_hex = wanted.split(":", 1)[1]
    records = []
    for key in store.list(SOURCES_PREFIX):
        parts = source_key_parts(key.lower())  # a key's hex digits and ``.json`` in either case
        if parts is None or parts[1] != wanted_hex:
            continue
        try:
            record = read_source(store, key, trust).record
        except VerificationError:
            continue
        if normal_version(record.digest) == wanted:
            records.append(record)
    return by_version(records)


def find_source(sources: list[StoredSource], ref: str) -> list[StoredSource]:
    """Records matching a name or a digest."""
    return [s for s in sources if ref in (s.record.name, s.record.digest)]
