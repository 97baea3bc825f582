"""This project's custom OpenLineage facets (attrs classes on openlineage-python's facet bases).

Each facet's ``_schemaURL`` points at its JSON Schema, shipped in the package as
``prov_common/schemas/<FacetClass>.json``; :func:`schema_path` finds the local copy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet
from openlineage.client.utils import RedactMixin

from prov_common import PRODUCER
from prov_common.lineage.facet_names import (  # noqa: F401 - the names are also imported from here
    AUDIT_CHECKPOINT, CONTENT_HASH, CONTENT_KINDS, OUTLETS, PANDERA, RUN_CONTEXT,
)

SCHEMA_BASE_URL = "https://raw.githubusercontent.com/tdprov/tdprov/main/common/schemas/"
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def schema_url(facet_class: str) -> str:
    """``_schemaURL`` of one of this project's facets (JSON Pointer into its shipped schema)."""
    return f"{SCHEMA_BASE_URL}{facet_class}.json#/$defs/{facet_class}"


def schema_path(url: str) -> Path:
    """Local copy of the JSON Schema that a tdprov ``_schemaURL`` points at."""
    return SCHEMAS_DIR / url.split("#", 1)[0].rsplit("/", 1)[-1]


class _TdprovFacet:
    """Mixin of this project's facets: tdprov as default producer, ``_schemaURL`` named after the class."""

    _producer: str

    def __attrs_post_init__(self) -> None:
        if not self._producer:
            self._producer = PRODUCER
        super().__attrs_post_init__()  # type: ignore[misc]

    @classmethod
    def _get_schema(cls) -> str:
        return schema_url(cls.__name__)


@attr.define
class ContentHashDatasetFacet(_TdprovFacet, DatasetFacet):
    """Canonical content digest of a dataset version, with per-column digests (``tdprov_contentHash``)."""

    digest: str
    algorithm: str
    kind: str | None = attr.field(default=None)  # one of CONTENT_KINDS; None: not known (a version named without reading it)
    bytes: int | None = attr.field(default=None)  # noqa: A003 - None: not known
    rows: int | None = attr.field(default=None)
    columns: dict[str, str] | None = attr.field(factory=dict)
    granularity: str | None = attr.field(default=None)
    rowDigestsFile: str | None = attr.field(default=None)  # noqa: N815
    fileSha256: str | None = attr.field(default=None)  # noqa: N815 - hex SHA-256 of the file's or object's bytes
    rowsRoot: str | None = attr.field(default=None)  # noqa: N815 - sha256 Merkle root of the row set (row granularity)
    shardCount: int | None = attr.field(default=None)  # noqa: N815 - kind "shards": how many shards the version has
    snapshot: dict[str, Any] | None = attr.field(default=None)  # the copy kept in the store before the event: object, bytes


@attr.define
class PanderaCheck(RedactMixin):
    """One check of a Pandera schema and its outcome."""

    name: str
    passed: bool
    failureCount: int  # noqa: N815
    column: str | None = attr.field(default=None)
    status: str | None = attr.field(default=None)  # "pass" | "fail" | "skip"

    _skip_redact: ClassVar[list[str]] = ["name", "column"]


@attr.define
class PanderaDatasetFacet(_TdprovFacet, DatasetFacet):
    """Result of validating a dataset version against a Pandera schema (``tdprov_pandera``)."""

    schemaName: str  # noqa: N815
    schemaDigest: str  # noqa: N815
    passed: bool
    failureCount: int  # noqa: N815
    checks: list[PanderaCheck] = attr.field(factory=list)
    rows: int | None = attr.field(default=None)
    samplesFile: str | None = attr.field(default=None)  # noqa: N815


@attr.define
class RunContextRunFacet(_TdprovFacet, RunFacet):
    """Who, where and how a run ran: code and library versions, redacted parameters, host (``tdprov_runContext``)."""

    host: str
    libraries: dict[str, str] = attr.field(factory=dict)
    parameters: dict[str, Any] = attr.field(factory=dict)
    codeVersion: str | None = attr.field(default=None)  # noqa: N815
    gitCommit: str | None = attr.field(default=None)  # noqa: N815
    executor: str | None = attr.field(default=None)
    user: str | None = attr.field(default=None)
    owner: str | None = attr.field(default=None)
    orchestrator: str | None = attr.field(default=None)
    partial: bool | None = attr.field(default=None)
    reexecutionOf: str | None = attr.field(default=None)  # noqa: N815 - the orchestrator run its own run re-executes
    reexecutionRoot: str | None = attr.field(default=None)  # noqa: N815 - the first run of those re-executions
    mappingKey: str | None = attr.field(default=None)  # noqa: N815 - a mapped step's mapping key (its op's job's run)


@attr.define
class AuditCheckpointRunFacet(_TdprovFacet, RunFacet):
    """The checkpoint an audit run verified and left (``tdprov_auditCheckpoint``): any system that keeps
    the event keeps a witness of the log. No checkpoint over a gap (``logGap``)."""

    store: str
    auditId: str  # noqa: N815
    clean: bool
    findings: int
    logGap: bool = attr.field(default=False)  # noqa: N815
    treeSize: int | None = attr.field(default=None)  # noqa: N815
    rootHash: str | None = attr.field(default=None)  # noqa: N815
    checkpointDigest: str | None = attr.field(default=None)  # noqa: N815
    checkpoint: str | None = attr.field(default=None)


@attr.define
class UnwrittenOutlet(RedactMixin):
    """A declared output the run did not write: its dataset, why (``reason``), and for ``unchanged`` the
    version it still has, when it last changed and when the run started (ISO 8601 times)."""

    namespace: str
    name: str
    reason: str  # "unchanged" | "missing" | "failed" | "skipped" | "set outside the task"
    version: str | None = attr.field(default=None)
    changedAt: str | None = attr.field(default=None)  # noqa: N815
    startedAt: str | None = attr.field(default=None)  # noqa: N815

    _skip_redact: ClassVar[list[str]] = ["namespace", "name", "reason", "version"]


@attr.define
class OutletsRunFacet(_TdprovFacet, RunFacet):
    """Declared outputs that are not outputs of the run (``tdprov_outlets``): ``notWritten``, those it did not
    write (never recorded as generated by it); ``declared``, those an event listed only as declared (the
    OpenLineage Airflow provider's START)."""

    notWritten: list[UnwrittenOutlet] = attr.field(factory=list)  # noqa: N815
    declared: list[UnwrittenOutlet] = attr.field(factory=list)


CUSTOM_FACETS: dict[str, type] = {
    CONTENT_HASH: ContentHashDatasetFacet,
    PANDERA: PanderaDatasetFacet,
    RUN_CONTEXT: RunContextRunFacet,
    AUDIT_CHECKPOINT: AuditCheckpointRunFacet,
    OUTLETS: OutletsRunFacet,
}
"""Facet key -> facet class, for every custom facet of this project."""
