"""Witness places the auditor writes: the newest checkpoint it verified, kept outside the audited store.

Besides its memory under ``TDPROV_HOME``, an auditor can keep the checkpoint in places of its
choice: another store or bucket (``tdprov audit --remember-in URI``, ``TDPROV_WITNESS``), the
Dagster instance (``prov_dagster.audit``) or an Airflow Variable (``prov_airflow.operators.audit``).
Every audit checks the store's log against what each place holds and writes the new checkpoint to
all of them only when the log extends every one: a place that was not updated keeps the gap visible
on every later audit, even when the auditor's memory is lost, until a person accepts the log as it
is (``--accept-checkpoint``).

In a store, each write is a new signed object (DSSE, payload type below) under
``witness/<sha-256 of the audited store URI, 16 hex>/<time>-<tree size>-<audit>.json``, written once
like every object; the newest by key is the one that counts. A record that does not verify under the
trusted keys is a finding, so only an auditor can move a witness.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from prov_common.audit.memory import KnownCheckpoint, store_id
from prov_common.audit.published import of_store
from prov_common.audit.witness import published_checkpoint
from prov_common.bundle.layout import SMALL_OBJECT_LIMIT, stamp
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, StoreUnavailableError, TdprovError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store
from prov_common.store.identity import read_identity
from prov_common.w3cprov.identity import moment
from prov_common.w3cprov.identity import iso_z

WITNESS_PREFIX = "witness/"
WITNESS_PAYLOAD_TYPE = "application/vnd.tdprov.audit-witness+json"


@runtime_checkable
class WitnessPlace(Protocol):
    """A place that keeps the newest checkpoint an auditor verified. ``name`` names it in findings."""

    name: str

    def read(self) -> KnownCheckpoint | None:
        """The checkpoint kept here (None when nothing is kept yet); raises TdprovError when unreadable."""
        ...

    def write(self, checkpoint: KnownCheckpoint, *, now: datetime, audit_id: str) -> None:
        """Keep ``checkpoint`` here (the log was proved to extend what was kept)."""
        ...


def witness_record(audited: str, checkpoint: KnownCheckpoint, *, now: datetime, audit_id: str) -> dict[str, Any]:
    """What a witness place keeps: the checkpoint, the store it is of, when and by which audit."""
    return {"store": audited, "keptAt": iso_z(now), "auditId": audit_id,
            "checkpoint": checkpoint.published()}


def kept_record(text: str | bytes, what: str, *, fix: str) -> Any:
    """The JSON of a checkpoint record kept in an orchestrator's own storage (``what``), refused naming it and ``fix``
    when it is not JSON."""
    try:
        return loads(text)
    except ValueError as exc:
        raise BadInputError(f"{what} is not JSON ({exc})", fix=fix) from exc


def recorded_checkpoint(record: Any, audited: str, what: str, *, fix: str) -> KnownCheckpoint:
    """The checkpoint of a :func:`witness_record`, refused when the record is of another store."""
    if not isinstance(record, dict) or str(record.get("store", "")).rstrip("/") != audited.rstrip("/"):
        raise BadInputError(f"{what} names another store ({record.get('store') if isinstance(record, dict) else record!r})",
                            fix=fix)
    return published_checkpoint(record, what)


class StoreWitness:
    """The checkpoints of ``audited`` kept, signed and written once, in another store (folder or ``s3://``)."""

    def __init__(self, place: Store, audited: str, signer: SigningKey, trust: TrustStore) -> None:
        self.place, self.audited, self.signer, self.trust = place, audited, signer, trust
        self.prefix = f"{WITNESS_PREFIX}{store_id(audited)}/"
        self.name = f"witness store '{place.uri.rstrip('/')}/{self.prefix}'"

    def newest_key(self) -> str | None:
        """The key of the newest record (one listing of this store's folder)."""
        newest = None
        for key in self.place.list(self.prefix):
            newest = key
        return newest

    def read(self) -> KnownCheckpoint | None:
        key = self.newest_key()
        if key is None:
            return None
        what = f"witness record '{self.place.uri.rstrip('/')}/{key}'"
        record = loads(open_envelope(self.place.get(key, SMALL_OBJECT_LIMIT), self.trust, WITNESS_PAYLOAD_TYPE, what=what,
                                     position=lambda payload: loads(payload)["checkpoint"]["treeSize"]).payload)
        kept = recorded_checkpoint(record, self.audited, what, fix="restore the witness folder from a backup")
        if key != self._key(kept, record):  # the key is not signed: an older record copied under a later key would pass for the newest
            raise BadInputError(f"{what} holds the record of checkpoint {kept.size} kept at {record.get('keptAt')}, which is not what "
                                "its key says: an older record was copied under a later key", fix="restore the witness folder from a backup")
        return kept

    def _key(self, checkpoint: KnownCheckpoint, record: dict[str, Any]) -> str | None:
        """The key a record is written under (from its signed time, checkpoint size and audit), None if it holds no time."""
        kept_at = moment(str(record.get("keptAt") or ""))
        if kept_at is None:
            return None
        return f"{self.prefix}{stamp(kept_at)}-{checkpoint.size:012d}-{str(record.get('auditId') or '')[:8]}.json"

    def write(self, checkpoint: KnownCheckpoint, *, now: datetime, audit_id: str) -> None:
        try:
            kept = self.read()
        except StoreUnavailableError:
            raise
        except TdprovError:  # a record that does not verify was reported when read; a resolution writes over it
            kept = None
        if kept is not None and (kept.size, kept.digest) == (checkpoint.size, checkpoint.digest):
            return  # nothing new: the witness does not grow with audits that append nothing
        record = witness_record(self.audited, checkpoint, now=now, audit_id=audit_id)
        key = self._key(checkpoint, record)
        assert key is not None
        self.place.put(key, sign_envelope(canonical_bytes(record), WITNESS_PAYLOAD_TYPE, [self.signer]).to_json())


def open_places(uris: Any, audited: Store, signer: SigningKey, trust: TrustStore, audited_id: str | None = None) -> list[WitnessPlace]:
    """Witness places of the store ``audited`` from URIs (folders or ``s3://bucket/prefix``) and ready-made places; a URI
    that is the audited store itself is refused (see :func:`_is_audited`; ``audited_id``: the id the audit judges the
    store's records by)."""
    from prov_common.store import open_store

    places: list[WitnessPlace] = []
    for item in uris:
        if not isinstance(item, str):
            places.append(item)
            continue
        try:
            place = open_store(item)
        except BadInputError as exc:
            raise BadInputError(f"witness place '{item}': {exc.what}",
                                fix="pass a folder or s3://bucket/prefix to --remember-in / TDPROV_WITNESS") from exc
        if _is_audited(place, audited, audited_id):
            raise BadInputError(f"witness place '{item}' is the audited store itself: it cannot witness its own log.",
                                fix="pass another folder or bucket to --remember-in / TDPROV_WITNESS")
        places.append(StoreWitness(place, audited.uri, signer, trust))
    return places


def _is_audited(place: Store, audited: Store, audited_id: str | None) -> bool:
    """Whether ``place`` is the store ``audited``, also when reached by another path (a bind mount, a share mounted
    elsewhere): known by the identity it holds, as the audit's records are (:func:`~prov_common.audit.published.of_store`),
    by URI when either has none (one read; an identity object that holds none, or that the place does not let this auditor
    read, is taken as none: a place that cannot be read is the log check's finding, :func:`read_place`)."""
    try:
        held = read_identity(place)
    except StoreUnavailableError:
        raise
    except TdprovError:
        held = None
    return of_store(place.uri, held.store_id if held else None, audited, audited_id)


def read_place(place: WitnessPlace) -> tuple[KnownCheckpoint | None, str | None]:
    """What ``place`` keeps, or the reason it cannot be read (a finding, never a silent pass)."""
    try:
        return place.read(), None
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        return None, f"{place.name} cannot be read or does not verify: {exc.what}"


__all__ = ["StoreWitness", "WITNESS_PREFIX", "WitnessPlace", "open_places", "read_place"]
