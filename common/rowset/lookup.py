"""Look a record up in a stored row set: three small range reads, checked against the signed rows root."""
from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prov_common.bundle import layout
from prov_common.bundle.events import parse_events_jsonl
from prov_common.bundle.model import Manifest
from prov_common.bundle.storage import signed_file
from prov_common.canonical_json import loads
from prov_common.lineage.facet_names import CONTENT_HASH
from prov_common.errors import VerificationError
from prov_common.file_uri import local_dataset
from prov_common.hashing.raw import blake3_digest
from prov_common.lineage.secret_text import REDACTED
from prov_common.text import shown_value
from prov_common.w3cprov.events import items_of, object_at
from prov_common.rowset.format import FENCE_ENTRY, HEADER, SCHEMA_LIMIT, Header, RowProof, bucket_of, schema_bytes
from prov_common.signing import INTOTO_PAYLOAD_TYPE, Statement, TrustStore, open_envelope
from prov_common.store.base import Store
from prov_common.store.identity import FIX_OTHER_STORE, foreign_store

FIRST_READ = 4096  # header, schema and (for small sets) the fence in one request


@dataclass(frozen=True)
class SignedRowSet:
    """Where a version's row set is, the rows root that the bundle's signed statement covers, and the size of its file
    as the bundle's signed manifest lists it (no offset of its fence lies beyond it)."""

    run_id: str
    key: str
    rows_root: str
    size: int
    schema: tuple[tuple[str, str], ...] | None = None  # (column, logical type) as the signed schema facet gives them


def signed_manifest(store: Store, run_id: str, trust: TrustStore) -> Manifest:
    """The manifest of the bundle of ``run_id``, after checking that a trusted key signed the statement that
    names it, that both are of ``run_id`` (not a bundle moved under its folder, as 'tdprov verify' checks) and that
    it is this store's (not copied from another: :func:`~prov_common.store.identity.foreign_store`); the bundle's
    other files are then checked against it, each by :func:`signed_file`."""
    prefix = layout.bundle_prefix(run_id)
    statement_key = prefix + layout.STATEMENT_FILE
    opened = open_envelope(store.get(statement_key, layout.SMALL_OBJECT_LIMIT), trust, INTOTO_PAYLOAD_TYPE, what=statement_key)
    statement = Statement.from_json(opened.envelope.payload, statement_key)
    manifest_bytes = store.get(prefix + layout.MANIFEST_FILE, layout.SMALL_OBJECT_LIMIT)
    named = (statement.predicate.get("manifest") or {}).get("digest", {})
    if f"blake3:{named.get('blake3')}" != blake3_digest(manifest_bytes):
        raise VerificationError(f"the manifest of bundle {run_id} is not the one its signed statement names.",
                                fix="run 'tdprov verify' on the store")
    manifest = Manifest.from_json(manifest_bytes)
    named_runs = {str(manifest.run_id), str(statement.predicate.get("runId"))} - {run_id}
    if named_runs:  # moved or copied under another run's folder: not the record of this run ('tdprov verify' finds it so)
        raise VerificationError(f"the bundle in {prefix} is of run {', '.join(sorted(named_runs))}, not {run_id}: it was moved or "
                                "copied there.", fix=f"run 'tdprov verify {run_id}' and restore the bundle from a replica")
    if (elsewhere := foreign_store(store, manifest.store_id)) is not None:
        raise VerificationError(f"bundle {run_id} is {elsewhere}", fix=FIX_OTHER_STORE)
    return manifest


def signed_row_set(store: Store, run_id: str, digest: str, trust: TrustStore,
                   dataset: tuple[str, str] | None = None) -> SignedRowSet | None:
    """The row set recorded for version ``digest`` (of ``dataset``, its (namespace, name) as tdprov names it,
    when given) in the bundle of ``run_id``, after checking the chain signature -> manifest -> events that
    carries its root; None when the bundle records none."""
    prefix = layout.bundle_prefix(run_id)
    manifest = signed_manifest(store, run_id, trust)
    events_bytes = signed_file(store, run_id, manifest, layout.EVENTS_FILE)
    for event in parse_events_jsonl(events_bytes, prefix + layout.EVENTS_FILE):
        for entry in [*items_of(event, "outputs"), *items_of(event, "inputs")]:
            if not isinstance(entry, dict):
                continue
            facet = _facet(entry, CONTENT_HASH)
            path, root = facet.get("rowDigestsFile"), facet.get("rowsRoot")
            if not isinstance(path, str) or dataset is not None and local_dataset(str(entry.get("namespace")), str(entry.get("name"))) != dataset:
                continue
            if facet.get("digest") == digest and path in manifest.by_path and root:
                return SignedRowSet(run_id, prefix + path, str(root), manifest.by_path[path].size, _signed_schema(entry))
    return None


def _stored_schema(data: bytes, key: str) -> list[tuple[str, str]]:
    """The (column, logical type) pairs of the schema ``data`` of row set ``key``; :class:`VerificationError` naming the
    row set when it is not JSON or not a list of two texts each (a record would be read by columns it does not name)."""
    try:
        schema = loads(data)
    except ValueError as exc:
        raise _malformed_schema(key, str(exc)) from exc
    if not isinstance(schema, list):
        raise _malformed_schema(key, f"it is {shown_value(schema)}, not a list of [column, type] pairs")
    for number, field in enumerate(schema, 1):
        if not (isinstance(field, list) and len(field) == 2 and all(isinstance(part, str) for part in field)):
            raise _malformed_schema(key, f"its column {number} is {shown_value(field)}, not a [column, type] pair of text")
    return [(name, kind) for name, kind in schema]


def _malformed_schema(key: str, reason: str) -> VerificationError:
    return VerificationError(f"row set {key} has a malformed schema ({reason}).", fix="restore it from a replica")


def _signed_schema(dataset: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The (column, type) pairs of a dataset's standard ``schema`` facet, in order; None when it has none."""
    fields = _facet(dataset, "schema").get("fields")
    if not isinstance(fields, list):
        return None
    return tuple((str(f.get("name")), str(f.get("type"))) for f in fields if isinstance(f, Mapping))


def _facet(entry: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The facet ``name`` of a dataset entry of a signed event; empty when its ``facets``, or the facet, is no JSON object
    (the seal refuses such an event, but a bundle signed by a stolen key may hold one)."""
    return object_at(object_at(entry, "facets"), name)


def _same_schema(stored: Sequence[tuple[str, str]], signed: Sequence[tuple[str, str]]) -> bool:
    """Whether the row set's schema is the signed one: the same columns and types in order, where a part the events'
    redaction replaced (a struct field named like a secret: ``struct<"token": ***``) matches whatever stands there."""
    return len(stored) == len(signed) and all(_same_text(s[0], g[0]) and _same_text(s[1], g[1]) for s, g in zip(stored, signed))


def _same_text(stored: str, signed: str) -> bool:
    if REDACTED not in signed:
        return stored == signed
    return re.fullmatch(".*".join(re.escape(part) for part in signed.split(REDACTED)), stored, re.S) is not None


def _columns(schema: Sequence[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"{name}: {kind}" for name, kind in schema) + "]"


def _signed_header(first: bytes, row_set: SignedRowSet) -> Header:
    """The header at the start ``first`` of ``row_set``'s file, refused before anything more is read by what it says
    when its shape and tree root are not those of the signed rows root, or when its schema length is not what tdprov
    writes for the signed events' columns (at most :data:`SCHEMA_LIMIT` when they do not tell it)."""
    key = row_set.key
    header = Header.parse(first, key)
    if header.root != row_set.rows_root:
        raise VerificationError(f"row set {key} has a header whose width, bits, rows and tree root ({header.width}, {header.bits}, "
                                f"{header.rows:,}, {header.tree_root.hex()[:16]}...) are not those of its signed rows root "
                                f"{row_set.rows_root}: its header was changed.", fix="restore it from a replica")
    signed = row_set.schema
    if signed is not None and not any(REDACTED in part for field in signed for part in field):
        written, exact = len(schema_bytes(signed)), True
    else:  # no schema facet, or a part of it redacted: its length is not known
        written, exact = SCHEMA_LIMIT, False
    if header.schema_length > written or exact and header.schema_length != written:
        given = "its signed columns take" if exact else "a row set's schema takes at most"
        raise VerificationError(f"row set {key} gives a schema of {header.schema_length:,} bytes in its header, where {given} "
                                f"{written:,}: its header was changed.", fix="restore it from a replica")
    return header


def prove_record(store: Store, row_set: SignedRowSet, record: Mapping[str, Any]) -> RowProof:
    """The proof, from the stored row set, that ``record`` is or is not a row of the set; checked."""
    from prov_common.hashing import row_digest_for_record

    key = row_set.key
    first = store.get_range(key, 0, FIRST_READ)
    header = _signed_header(first, row_set)
    if len(first) < header.fence_offset:
        first += store.get_range(key, len(first), header.fence_offset - len(first))
    schema = _stored_schema(first[HEADER.size:header.fence_offset], key)
    if row_set.schema is not None and not _same_schema(schema, row_set.schema):  # the rows root does not cover it: a changed one
        raise VerificationError(  # would turn a record into another row digest and answer "not contained"
            f"row set {key} turns records into row digests by the columns {_columns(schema)}, its signed events by "
            f"{_columns(row_set.schema)}: it was changed after sealing.", fix=f"run 'tdprov verify {row_set.run_id}' and restore the bundle from a replica")
    digest = row_digest_for_record(record, schema)[:header.width]
    bucket = bucket_of(digest, header.bits)
    at = header.fence_offset + FENCE_ENTRY * bucket
    fence = first[at:at + 2 * FENCE_ENTRY]
    if len(fence) < 2 * FENCE_ENTRY:
        fence = store.get_range(key, at, 2 * FENCE_ENTRY)
    if len(fence) < 2 * FENCE_ENTRY:
        raise VerificationError(f"row set {key} is truncated (it ends within its fence, before the end of bucket {bucket}).",
                                fix="restore it from a replica")
    start, stop = struct.unpack("<QQ", fence)
    records = header.fence_offset + FENCE_ENTRY * (2**header.bits + 1)  # the buckets' records: after the fence, to the end
    if not records <= start <= stop <= row_set.size:
        raise VerificationError(f"row set {key} has a fence that gives bucket {bucket} the bytes {start:,} to {stop:,}, outside "
                                f"its buckets' records (bytes {records:,} to {row_set.size:,}, the size its signed manifest "
                                "lists): its fence was changed.", fix="restore it from a replica")
    if not 0 <= stop - start - 32 * header.bits <= 1 << 26:
        raise VerificationError(f"row set {key} has a damaged fence at bucket {bucket}.", fix="restore it from a replica")
    body = store.get_range(key, start, stop - start)
    split = 32 * header.bits
    proof = RowProof(row_set.rows_root, header.rows, header.width, header.bits, bucket, digest, body[split:], body[:split])
    proof.check(row_set.rows_root)
    return proof
