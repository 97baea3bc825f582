"""What an asset's definition and materializations show in the Dagster UI (no I/O here)."""
from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from prov_common.errors import BadInputError
from prov_common.file_uri import is_uri
from prov_common.hashing.shard_model import extent_counts
from prov_dagster.links import location_link
from prov_dagster.model import BundleStatus, DatasetRecord
from prov_dagster.policy import SCHEMA_KEY

if TYPE_CHECKING:
    import pandera.pandas as pa

SCHEMA_CHECKS_KEY = "tdprov/pandera_checks"
DIGEST_KEY = "tdprov/digest"  # the content digest of an asset the IO manager wrote (its data version)
DATA_KEY = "tdprov/data"  # where that version lives
NAMESPACE_KEY = "tdprov/namespace"  # the dagster:// namespace its asset key is written in (a deps=[...] reader names it so)
DIGEST_KIND_KEY = "tdprov/digest_kind"  # what that digest is of (table, file, shards): how a reader's statement names it
BUNDLE_KEY = "tdprov/bundle"
STORE_KEY = "tdprov/store"  # the store that bundle is sealed in (a URI without credentials): where a check of it is recorded
RECORDED_KEY = "tdprov/recorded"
NOT_RECORDED_KEY = "tdprov/not_recorded"
SPOOLED_KEY = "tdprov/spooled"

_COLUMN_TABLE_SCHEMA = TableSchema(
    columns=[
        TableColumn("column", "string"),
        TableColumn("type", "string"),
        TableColumn("digest", "string"),
    ]
)


def output_metadata(record: DatasetRecord, policy: str, bundle: str, status: BundleStatus, namespace: str) -> dict[str, Any]:
    """Digest, per-column digests, rows, schema, Pandera outcome, data location (none for a DataFrame given to
    ``record()``) with the ``namespace`` of its asset key (:func:`version_metadata`), and bundle location (see
    :func:`bundle_metadata`)."""
    digest = record.digest
    meta: dict[str, Any] = {
        **version_metadata(digest, record.uri, namespace),
        "tdprov/columns": MetadataValue.table(
            records=[TableRecord({"column": c.name, "type": c.logical_type, "digest": c.digest}) for c in digest.columns],
            schema=_COLUMN_TABLE_SCHEMA,
        ),
        "dagster/row_count": MetadataValue.int(digest.rows),
        "dagster/column_schema": MetadataValue.table_schema(
            TableSchema(columns=[TableColumn(name, logical_type) for name, logical_type in digest.schema_fields()])
        ),
    }
    meta.update(quality_metadata(record, policy))
    meta.update(bundle_metadata(bundle, status))
    return meta


def quality_metadata(record: DatasetRecord, policy: str) -> dict[str, Any]:
    """The quality policy and, when the output was validated, its Pandera outcome (what the ``pandera`` check reads)."""
    meta: dict[str, Any] = {"tdprov/quality_policy": MetadataValue.text(policy)}
    if record.quality is not None:
        meta["tdprov/pandera"] = MetadataValue.json(record.quality.to_dict())
        meta["tdprov/pandera_passed"] = MetadataValue.bool(record.quality.passed)
    return meta


def version_metadata(digest: Any, uri: str | None, namespace: str) -> dict[str, Any]:
    """What a step that reads an asset through ``deps=[...]`` (:mod:`prov_dagster.deps`) takes of its one version:
    its ``digest`` and what that digest is of, and, when it lives at ``uri``, where and the ``dagster://`` namespace its
    asset key is written in."""
    meta = {DIGEST_KEY: MetadataValue.text(digest.digest), DIGEST_KIND_KEY: MetadataValue.text(digest.kind)}
    if uri is not None:
        meta.update({DATA_KEY: data_location(uri), NAMESPACE_KEY: MetadataValue.text(namespace)})
    return meta


def data_location(uri: str) -> Any:
    """The ``tdprov/data`` value of a version that lives at ``uri``: a local path as a path, a URI as a URL (one
    written without ``//`` too, a Databricks file's ``dbfs:/mnt/x.csv``: :func:`~prov_common.file_uri.is_uri`)."""
    return MetadataValue.url(uri) if is_uri(uri) else MetadataValue.path(uri)


def bundle_metadata(bundle: str, status: BundleStatus) -> dict[str, Any]:
    """``tdprov/bundle``: a link to the bundle a step's run is sealed in; when none can be (``status.problem``:
    why), ``tdprov/recorded`` false and ``tdprov/not_recorded`` with the reason, never a link to nothing. While the
    records wait in the spool folder ``status.spooled`` (the store was unreachable), ``tdprov/spooled`` says so
    and what delivers them; ``tdprov/store`` names the store the bundle is sealed in (``status.store``)."""
    if status.problem is not None:
        return {RECORDED_KEY: MetadataValue.bool(False), NOT_RECORDED_KEY: MetadataValue.text(status.problem)}
    meta = {BUNDLE_KEY: location_link(bundle)}
    if status.store is not None:
        meta[STORE_KEY] = MetadataValue.text(status.store)
    if status.spooled is not None:
        meta[SPOOLED_KEY] = MetadataValue.text(
            f"the store was unreachable: this run's records wait in the spool {status.spooled} and the bundle is not at the "
            "link yet; "
            "the next tdprov write or 'tdprov flush' (with the same TDPROV_SPOOL) delivers them")
    return meta


RecordedNames = dict[tuple[str, tuple[str, str]], str]
"""How ``record()`` names each dataset it recorded in what it returns, by its name and its ``(namespace, name)``:
:func:`recorded_names`."""


def recorded_names(records: Iterable[DatasetRecord]) -> RecordedNames:
    """How ``record()``'s ``digests`` and its ``tdprov/digest/<name>``, ``tdprov/rows/<name>`` and
    ``tdprov/shards/<name>`` metadata name each of ``records``: by the name it was recorded under, or where another
    dataset's is that text too or looks alike (one key in two S3 buckets, ``café`` composed and decomposed), by a text
    that names it alone (its URI, spelled out where alike: :func:`~prov_common.w3cprov.identity.distinct_labels`), so
    neither hides the other; a name that is such a text of another dataset (a frame named ``inmemory://x`` beside one
    named ``x``) is told apart the same way."""
    from prov_common.w3cprov.identity import distinct_labels

    pairs = list(dict.fromkeys((r.name, r.dataset) for r in records))
    apart: set[tuple[str, tuple[str, str]]] = set()  # named by distinct_labels, not by their name
    while True:
        labels = distinct_labels(d for name, d in pairs if (name, d) in apart)
        shown = {(name, d): labels[d] if (name, d) in apart else name for name, d in pairs}
        alike: dict[str, set[tuple[str, str]]] = {}
        for (_, d), text in shown.items():
            alike.setdefault(unicodedata.normalize("NFC", text), set()).add(d)
        more = {p for p, text in shown.items() if len(alike[unicodedata.normalize("NFC", text)]) > 1} - apart
        if not more:
            return shown
        apart |= more


def read_back_names(read: Iterable[DatasetRecord], written: Iterable[DatasetRecord], names: RecordedNames) -> RecordedNames:
    """How ``record()`` names the version it read of a dataset the same call also writes (one name read and written,
    an asset that reads its last version): ``<name> (read)`` (``names``: :func:`recorded_names`), or ``<name> (read
    2)``, ... where another dataset is shown as that text, so the version read and the version written are two
    entries of ``digests`` and two ``tdprov/digest/...`` metadata keys, neither hiding the other."""
    out = {(r.name, r.dataset) for r in written}
    taken = {unicodedata.normalize("NFC", text) for text in names.values()}
    shown: RecordedNames = {}
    for key in dict.fromkeys((r.name, r.dataset) for r in read):
        if key not in out:
            continue
        text, n = f"{names[key]} (read)", 1
        while unicodedata.normalize("NFC", text) in taken:
            n += 1
            text = f"{names[key]} (read {n})"
        taken.add(unicodedata.normalize("NFC", text))
        shown[key] = text
    return shown


def extent_metadata(written: Iterable[DatasetRecord], names: RecordedNames) -> dict[str, Any]:
    """Rows and shard counts of recorded outputs, as ``tdprov/rows/<name>`` and ``tdprov/shards/<name>`` (``names``:
    :func:`recorded_names`; where the digest knows them): what the Dagster UI plots for a sharded corpus over time."""
    meta: dict[str, Any] = {}
    for record in written:
        rows, shards = extent_counts(record.digest)
        name = names[record.name, record.dataset]
        meta.update({f"tdprov/{kind}/{name}": MetadataValue.int(n) for kind, n in (("rows", rows), ("shards", shards))
                     if n is not None})
    return meta


_CHECKS_TABLE_SCHEMA = TableSchema(
    columns=[
        TableColumn("column", "string"),
        TableColumn("dtype", "string"),
        TableColumn("checks", "string"),
    ]
)


def schema_metadata(schema: Any, module: str | None = None) -> dict[str, Any]:
    """Definition metadata of an asset's Pandera schema: its import path as ``pandera_schema`` (which the
    IO manager loads) and a table of its columns and checks as ``tdprov/pandera_checks``.

    ``module``: where to look for a ``DataFrameSchema`` object by identity (the asset function's
    module). A schema with no import path (defined inside a function) is kept as the object.
    """
    from prov_common.quality.schema import load_schema  # Pandera loads for an asset that declares a schema

    path = schema_path(schema, module)
    metadata = {SCHEMA_KEY: MetadataValue.text(path) if path is not None else schema}
    try:
        metadata[SCHEMA_CHECKS_KEY] = schema_checks_table(load_schema(schema))
    except BadInputError:
        if not isinstance(schema, str):
            raise
        # a path whose module does not load yet (it may be the one being imported): validation names any problem
    return metadata


def schema_path(schema: Any, module: str | None = None) -> str | None:
    """``"pkg.module:Name"`` naming ``schema`` (as ``load_schema`` reads it), or ``None`` when it has none."""
    if isinstance(schema, str):
        return schema
    if isinstance(schema, MetadataValue):
        return str(schema.value)
    if isinstance(schema, type):
        module, name = schema.__module__, schema.__qualname__
    else:
        namespace = vars(sys.modules[module]) if module in sys.modules else {}
        name = next((n for n, value in namespace.items() if value is schema and not n.startswith("_")), "")
    if not name or "<locals>" in name or module is None or not _resolves(module, name, schema):
        return None
    return f"{module}:{name}"


def _resolves(module: str, name: str, schema: Any) -> bool:
    found: Any = sys.modules.get(module)
    for part in name.split("."):
        found = getattr(found, part, None)
    return found is schema


def schema_checks_table(schema: pa.DataFrameSchema) -> Any:
    """One row per column (dtype; checks, uniqueness, nullability) and one per table-level check."""
    rows = []
    for name, column in schema.columns.items():
        checks = [_check_label(c) for c in column.checks]
        checks += [flag for flag, on in (("unique", column.unique), ("not null", not column.nullable)) if on]
        rows.append(TableRecord({"column": str(name), "dtype": str(column.dtype), "checks": "; ".join(checks) or "-"}))
    rows += [TableRecord({"column": "<table>", "dtype": "-", "checks": _check_label(c)}) for c in schema.checks]
    return MetadataValue.table(records=rows, schema=_CHECKS_TABLE_SCHEMA)


def _check_label(check: Any) -> str:
    return str(getattr(check, "error", None) or getattr(check, "name", None) or check)
