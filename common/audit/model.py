"""Audit data: what each run did (as far as the audit needs), findings, check results (no I/O)."""
from __future__ import annotations

import re

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from prov_common.errors import TdprovError
from prov_common.text import camel_keys, counted, job_json, job_path
from prov_common.w3cprov.events import extent_text
from prov_common.w3cprov.identity import VersionKey, dataset_label, distinct_labels, version_key
from prov_common.w3cprov.ids import names_content

# checks, in report order
CHECK_SIGNATURES = "signatures"
CHECK_LOG = "log"
CHECK_PROV = "prov"
CHECK_COMPLETENESS = "completeness"
CHECK_QUALITY = "quality"
CHECK_UNFINISHED = "unfinished"
CHECK_REHASH = "rehash"
CHECK_SOURCES = "sources"
CHECK_INVENTORY = "inventory"
CHECK_SNAPSHOTS = "snapshots"
CHECK_TITLES = {
    CHECK_SIGNATURES: "Signatures and manifests",
    CHECK_LOG: "Checkpoint chain and Merkle tree, consistent with the auditor's memory and witnesses",
    CHECK_INVENTORY: "Store inventory: every logged run and audit object listed, once, unchanged",
    CHECK_PROV: "PROV documents",
    CHECK_COMPLETENESS: "Completeness: every input traces to a recorded run or a registered source",
    CHECK_QUALITY: "Quality: Pandera failures and runs that used failing data",
    CHECK_UNFINISHED: "Runs that started and never ended",
    CHECK_REHASH: "Data still hashes to its recorded digest",
    CHECK_SNAPSHOTS: "Snapshots: every copy a run recorded keeping is still in the store, as kept",
    CHECK_SOURCES: "Source records: signed, and personal data with documented consent or legal basis",
}


REHASH_HINT = "pass --rehash"
"""How 'tdprov audit' is asked to re-hash (:func:`rehash_not_run`)."""


def rehash_not_run(how: str = REHASH_HINT) -> str:
    """The detail of the re-hash check of an audit not asked to re-hash; ``how``: how its caller asks for one."""
    return f"not run: {how} to hash the data where it lives"


ERROR = "error"
NOTE = "note"  # shown in the report, does not make the audit fail


TRAINING_JOB_TYPES = ("TRAIN", "TRAINING", "MODEL_TRAINING")
RULE_JOB_TYPE, RULE_JOB_NAME = "jobType", "job name"
RULE_TEXT = {
    RULE_JOB_TYPE: "marked as training (OpenLineage jobType TRAINING)",
    RULE_JOB_NAME: "guessed from the job name (fallback: mark it with training=True)",
}
_PARENT_JOB_TYPES = ("DAG", "PIPELINE")  # runs whose tasks do the work
_TRAINING_WORDS = {"train", "training", "trained", "fit", "fitted", "model", "models"}
_DATA_WORDS = {"set", "sets", "split", "splits", "data", "dataset", "test", "eval", "evaluate", "evaluation", "features"}


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, the object (store key, run or dataset), what, and the fix."""

    check: str
    object: str
    what: str
    fix: str
    severity: str = ERROR
    run_id: str | None = None
    items: tuple[str, ...] = field(default=(), compare=False)  # all a long finding names, ``what`` the first few
    # which of its check's findings it is, for the code that tells them apart (never by their words, which change): the
    # unfinished check's "unended" and "planted" errors (audit/unended.py), the inventory's "emptied" (audit/emptied.py);
    # "" for the others
    kind: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The finding as the auditor's state, memory and signed records keep it: without ``items`` and ``kind``, as
        before it had them (an older tdprov reads it); a finding is known by its text."""
        return {k: v for k, v in asdict(self).items() if v is not None and k not in ("items", "kind")}

    def view(self) -> dict[str, Any]:
        """:meth:`to_dict` with its fields named as in the rest of tdprov's JSON (``runId``): a finding as report.json,
        ``tdprov audit --json`` and the Dagster audit's metadata show it. What is kept and signed keeps ``run_id``."""
        return camel_keys(self.to_dict())

    def report_dict(self) -> dict[str, Any]:
        """:meth:`view` with ``items`` and ``kind``, when it has them: the report's JSON lists all that ``what`` counts,
        and marks the findings a reader tells apart by their kind, not by their words."""
        return {**self.view(), **({"items": list(self.items)} if self.items else {}), **({"kind": self.kind} if self.kind else {})}


ITEMS_KEPT = 1_000
"""Items at most the audit state or catalog keeps of a finding (:attr:`Finding.items`: the files of a folded finding of a
bundle, the open links of a training run's): an audit that carries the finding lists these in its report, its text
counting them all, so that what is kept does not grow with the files planted in a bundle."""


def items_apart(findings: Sequence[Finding]) -> list[list[Any]]:
    """For each finding of ``findings`` that has items, its position and its first :data:`ITEMS_KEPT`: kept apart from
    the findings (:meth:`Finding.to_dict`), which an older tdprov reads without them (``findingItems``)."""
    return [[i, list(f.items[:ITEMS_KEPT])] for i, f in enumerate(findings) if f.items]


def items_field(findings: Sequence[Finding]) -> dict[str, Any]:
    """``{"findingItems": ...}`` (:func:`items_apart`) to add to a record of ``findings``; empty when none has items."""
    kept = items_apart(findings)
    return {"findingItems": kept} if kept else {}


def with_items(findings: list[Finding], raw: Any) -> list[Finding]:
    """``findings`` given the items that :func:`items_apart` kept of them (``raw``; none from an older tdprov)."""
    items = {int(i): tuple(str(x) for x in keys[:ITEMS_KEPT]) for i, keys in raw or ()}
    return [replace(f, items=items[i]) if i in items else f for i, f in enumerate(findings)]


def kinds_apart(findings: Sequence[Finding]) -> dict[str, str]:
    """For each finding of ``findings`` that has a kind, its position (as text) and :attr:`Finding.kind`: kept apart from
    the findings (:meth:`Finding.to_dict`), which an older tdprov reads without them (``findingKinds``)."""
    return {str(i): f.kind for i, f in enumerate(findings) if f.kind}


def with_kinds(findings: list[Finding], raw: Any) -> list[Finding]:
    """``findings`` given the kinds that :func:`kinds_apart` kept of them (``raw``; none from an older tdprov, whose
    findings are told apart by their text)."""
    if raw is not None and not isinstance(raw, dict):
        raise ValueError("its findingKinds is not an object")
    kinds = {int(i): str(kind) for i, kind in (raw or {}).items()}
    return [replace(f, kind=kinds[i]) if i in kinds else f for i, f in enumerate(findings)]


def distinct(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` once each by object and what (the first kept): one failure met on several paths is one finding."""
    out: dict[tuple[str, str], Finding] = {}
    for f in findings:
        out.setdefault((f.object, f.what), f)
    return list(out.values())


def failed_in(key: str, exc: BaseException) -> str:
    """The object that a failure met while reading ``key`` is in: the one its error names as its subject (a checkpoint
    read to verify ``key``), else ``key`` itself."""
    return (exc.subject or key) if isinstance(exc, TdprovError) else key


def schema_said(schema: str | None) -> str:
    """A Pandera schema's name as reports say it: ``(unnamed)`` for a result whose record names none (any producer can
    send the facet)."""
    return schema or "(unnamed)"


def no_outcome_said(schema: str | None, fault: str | None, fix: str | None = None) -> str:
    """How reports say a Pandera result of no known outcome, of a version: ``has no known outcome of Pandera schema S
    (FAULT)``, with ``fix`` added inside the parentheses (the audit names what would close the gap)."""
    return f"has no known outcome of Pandera schema {schema_said(schema)} ({fault}{f'; {fix}' if fix else ''})"


_RANK = {False: 0, None: 1, True: 2}  # which of two Pandera results of one version a row keeps: the lower


@dataclass(slots=True)
class QualityResult:
    """The Pandera outcome recorded for a dataset version: ``passed`` None when the record holds none (``fault`` says
    why: its ``passed`` missing or not a boolean), which does not count as passed. ``contradicts``: whether the record
    contradicts itself (:func:`~prov_common.w3cprov.quality.pandera_contradicts`), one of the faults ``fault`` names."""

    passed: bool | None
    schema: str | None = None
    failure_count: int = 0
    failed_checks: tuple[str, ...] = ()
    passed_checks: tuple[str, ...] = ()  # none in a record examined before they were kept
    fault: str | None = None
    contradicts: bool = False

    def said(self) -> str:
        """How reports say a result that did not pass, of the version: ``failed Pandera schema S: 2 failures in C`` or
        ``has no known outcome of Pandera schema S (FAULT)``."""
        if self.passed is None:
            return no_outcome_said(self.schema, self.fault)
        return (f"failed Pandera schema {schema_said(self.schema)}: {counted(self.failure_count, 'failure')} in "
                f"{', '.join(self.failed_checks) or 'see the samples in the bundle'}")

    def to_dict(self) -> dict[str, Any]:
        doc = {"passed": self.passed, "schema": self.schema, "failureCount": self.failure_count, "failedChecks": list(self.failed_checks)}
        doc = dict(doc, passedChecks=list(self.passed_checks)) if self.passed_checks else doc
        doc = dict(doc, contradicts=True) if self.contradicts else doc
        return dict(doc, fault=self.fault) if self.fault else doc

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "QualityResult":
        return cls(None if raw["passed"] is None else bool(raw["passed"]), raw.get("schema"), int(raw.get("failureCount") or 0),
                   tuple(raw.get("failedChecks") or ()), tuple(raw.get("passedChecks") or ()), raw.get("fault"),
                   bool(raw.get("contradicts")))


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """A check other than its Pandera schema recorded on a dataset version (a Dagster asset check, another producer's
    test): ``status`` ``pass``, ``fail`` or ``error`` (it raised: no outcome)."""

    name: str
    status: str
    severity: str | None = None
    description: str | None = None

    @property
    def failed(self) -> bool:
        """It failed, or raised and so did not pass."""
        return self.status in ("fail", "error")

    def said(self, fix: str | None = None) -> str:
        """What it found, as reports say it: ``failed check C (error: why)`` or ``check C raised an error, no outcome
        (why)``; ``fix`` is added inside the parentheses."""
        what = self.description if self.status == "error" else ": ".join(filter(None, [self.severity, self.description]))
        inner = "; ".join(filter(None, [what, fix]))
        head = (f"check {self.name} raised an error, no outcome" if self.status == "error"
                else f"{'failed' if self.status == 'fail' else 'passed'} check {self.name}")
        return head + (f" ({inner})" if inner else "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "severity": self.severity, "description": self.description}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "CheckOutcome":
        return cls(str(raw["name"]), str(raw["status"]), raw.get("severity"), raw.get("description"))


@dataclass(frozen=True, slots=True)
class RecordedSnapshot:
    """The copy of a version that its writer recorded keeping in the store (``tdprov_contentHash.snapshot``): the
    key of the object ``tdprov checkout`` reads first and its size."""

    object: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "bytes": self.bytes}

    @classmethod
    def parse(cls, raw: Any) -> "RecordedSnapshot | None":
        """The snapshot a facet (or catalog) records, or None when there is none or it is not one tdprov writes
        (:meth:`~prov_common.store.snapshots.KeptSnapshot.read_facet`)."""
        from prov_common.store.snapshots import KeptSnapshot  # the audit's reading of facets, not the audit job's definition

        found = KeptSnapshot.read_facet(raw)
        return None if found is None else cls(*found)


@dataclass(slots=True)
class DatasetUse:
    """A dataset a run read or wrote, with the version (content digest) and quality it recorded."""

    namespace: str
    name: str
    version: str | None = None
    quality: QualityResult | None = None
    rows: int | None = None
    location: str | None = None  # where the data lives, when the name is not a location (``symlinks`` facet)
    aliases: tuple[str, ...] = ()  # other names from the ``symlinks`` facet (a Dagster asset key): found by them too
    shards: int | None = None  # a sharded version (folder, prefix or glob of shards): how many shards
    snapshot: RecordedSnapshot | None = None  # the copy of the version its writer recorded keeping in the store
    checks: tuple[CheckOutcome, ...] = ()  # its other checks (a Dagster asset check): :func:`~prov_common.w3cprov.quality.other_checks`
    shown: str | None = field(default=None, compare=False)  # its label named apart from another alike: :func:`name_apart`
    opaque: bool = field(default=False, compare=False)  # a version written as a digest that names no content

    @property
    def names_content(self) -> bool:
        """Whether its version is a content digest (:func:`~prov_common.w3cprov.ids.names_content`), not an opaque
        version id (another producer's ``sha256:<hex>`` that tdprov never checked)."""
        return names_content(self.version) and not self.opaque

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` for URI namespaces, the path for ``file``, else ``namespace:name``."""
        return dataset_label(self.namespace, self.name)

    @property
    def label(self) -> str:
        """How reports name the dataset: its URI, or ``NAMESPACE::NAME`` where another dataset the report shows has
        that URI too (:func:`name_apart`)."""
        return self.shown or self.uri

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"namespace": self.namespace, "name": self.name, "version": self.version}
        if self.quality is not None:
            doc["quality"] = self.quality.to_dict()
        if self.rows is not None:
            doc["rows"] = self.rows
        if self.location is not None:
            doc["location"] = self.location
        if self.aliases:
            doc["aliases"] = list(self.aliases)
        if self.shards is not None:
            doc["shards"] = self.shards
        if self.snapshot is not None:
            doc["snapshot"] = self.snapshot.to_dict()
        if self.checks:
            doc["checks"] = [c.to_dict() for c in self.checks]
        if self.opaque:
            doc["opaqueVersion"] = True
        return doc

    @property
    def checked(self) -> bool:
        """A check result is recorded on it: its Pandera schema's or another check's."""
        return self.quality is not None or bool(self.checks)

    @property
    def failed(self) -> bool:
        """Its Pandera schema failed or has no known outcome, or another check failed or raised."""
        return bool(self.quality and not self.quality.passed) or any(c.failed for c in self.checks)

    @property
    def passed(self) -> bool | None:
        """Its outcome as reports give it: False when its Pandera schema or another check failed (or raised), None when
        none did but its Pandera result has no known outcome (or no result is recorded), else True."""
        if not self.checked:
            return None
        if (self.quality is not None and self.quality.passed is False) or any(c.failed for c in self.checks):
            return False
        return None if self.failed else True

    def failures(self) -> list[str]:
        """What failed on it, as reports say it: ``failed Pandera schema S: 2 failures in C``, ``has no known outcome of
        Pandera schema S (FAULT)``, ``failed check C``, ``check C raised an error``."""
        q = self.quality
        return ([q.said()] if q is not None and not q.passed else []) + [c.said() for c in self.checks if c.failed]

    def with_results_of(self, other: "DatasetUse") -> "DatasetUse":
        """This use, with the results ``other`` (a use of the same version) recorded besides: a failing Pandera result
        wins over one of no known outcome, which wins over a passing one, and each other check is kept once."""
        mine, theirs = self.quality, other.quality
        quality = theirs if mine is None or (theirs is not None and _RANK[theirs.passed] < _RANK[mine.passed]) else mine
        return replace(self, quality=quality, checks=tuple(dict.fromkeys([*self.checks, *other.checks])))

    @property
    def extent(self) -> str | None:
        """How much data the version holds, as reports say it ("1,000 rows in 12 shards"), or None."""
        return extent_text(self.rows, self.shards)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "DatasetUse":
        q = raw.get("quality")
        return cls(raw["namespace"], raw["name"], raw.get("version"), QualityResult.from_dict(q) if q else None, raw.get("rows"),
                   raw.get("location"), tuple(raw.get("aliases") or ()), raw.get("shards"), RecordedSnapshot.parse(raw.get("snapshot")),
                   tuple(CheckOutcome.from_dict(c) for c in raw.get("checks") or ()), opaque=raw.get("opaqueVersion") is True)


def name_apart(datasets: Iterable[DatasetUse]) -> None:
    """Name each of ``datasets`` (all that a report shows) apart from the others: one whose :attr:`DatasetUse.uri`
    another of them shares (``inmemory://x`` of the names ``x`` and ``/x``) is labelled ``NAMESPACE::NAME``
    (:func:`~prov_common.w3cprov.identity.distinct_labels`); the others keep their URI."""
    uses = list(datasets)
    labels = distinct_labels((d.namespace, d.name) for d in uses)
    for d in uses:
        text = labels[d.namespace, d.name]
        d.shown = text if text != d.uri else None


@dataclass
class RunRecord:
    """One sealed run as the audit remembers it between audits (kept in the signed audit catalog)."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str
    started_at: str | None
    ended_at: str | None
    sealed_at: str | None
    index_key: str
    manifest_digest: str
    key_id: str | None = None
    parent_run_id: str | None = None
    job_type: str | None = None
    inputs: list[DatasetUse] = field(default_factory=list)
    outputs: list[DatasetUse] = field(default_factory=list)
    bundle_findings: list[Finding] = field(default_factory=list)  # from verification when it was logged
    # the paths the signed manifest lists, when this audit examined the bundle (None: not read); not kept in the catalog
    files: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    # the finding of its refused staged objects when this audit examined it (unended.refused_in_bundle): the audit state
    # keeps it, not the catalog
    refusals: list[Finding] = field(default_factory=list, compare=False, repr=False)
    # the digests of the events its events.jsonl holds (events.line_digests) as verification read it, when this audit
    # examined it (None: not read): compared with the run's staged events without reading them again; not kept
    held_events: frozenset[str] | None = field(default=None, compare=False, repr=False)
    # whether its events hold a START, so that its PROV states ``started_at`` as its start (mapping 5; else
    # ``started_at`` is its first event's time), when read from its events (None: not read); not kept in the catalog
    start_recorded: bool | None = field(default=None, compare=False, repr=False)

    @property
    def job(self) -> str:
        """``namespace/name`` (:func:`~prov_common.text.job_path`), as the audit's findings and tables name the run's job."""
        return job_path(self.job_namespace, self.job_name)

    @property
    def job_json(self) -> dict[str, str | None]:
        """The run's job as tdprov's JSON gives one (:func:`~prov_common.text.job_json`)."""
        return job_json(self.job_namespace, self.job_name)

    @property
    def training_rule(self) -> str | None:
        """Why this run counts as one that trains a model, or None when it does not.

        ``"jobType"``: marked explicitly, by an OpenLineage ``jobType`` of TRAINING (also TRAIN,
        MODEL_TRAINING), which ``provenance_asset(training=True)`` and the Airflow ``training=True``
        options write. ``"job name"``: the documented fallback for runs with no such mark, from the last
        part of the job name (``<dag>.<task>``, ``<namespace>/<asset>``): a word such as train/fit/model in
        it and no word that names data (``train_model`` and ``model`` train; ``train_set``, ``test_split``,
        ``evaluate`` do not). A DAG-level run (``jobType`` DAG) is never guessed: its tasks are the runs."""
        kind = (self.job_type or "").upper()
        if kind in TRAINING_JOB_TYPES:
            return RULE_JOB_TYPE
        if kind in _PARENT_JOB_TYPES:
            return None
        words = set(re.split(r"[^a-z0-9]+", re.split(r"[./]", self.job_name.lower())[-1]))
        return RULE_JOB_NAME if words & _TRAINING_WORDS and not words & _DATA_WORDS else None

    @property
    def is_training(self) -> bool:
        """A run that trains a model (see :attr:`training_rule`)."""
        return self.training_rule is not None

    def to_dict(self) -> dict[str, Any]:
        """The record as the catalog keeps it, its findings without their items (an older tdprov reads it): a catalog
        object keeps those beside its records (:func:`items_apart`)."""
        doc = {k: v for k, v in asdict(self).items() if k not in ("inputs", "outputs", "bundle_findings", "files", "refusals",
                                                                    "held_events", "start_recorded")}
        doc["inputs"] = [d.to_dict() for d in self.inputs]
        doc["outputs"] = [d.to_dict() for d in self.outputs]
        doc["bundle_findings"] = [f.to_dict() for f in self.bundle_findings]
        return doc

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunRecord":
        kwargs = {k: v for k, v in raw.items() if k not in ("inputs", "outputs", "bundle_findings", "files")}
        return cls(
            **kwargs,
            inputs=[DatasetUse.from_dict(d) for d in raw.get("inputs", [])],
            outputs=[DatasetUse.from_dict(d) for d in raw.get("outputs", [])],
            bundle_findings=[Finding(**f) for f in raw.get("bundle_findings", [])],
        )


@dataclass
class QualityRow:
    """One validated dataset version: the runs that recorded its result and the runs that used it."""

    dataset: DatasetUse
    recorded_by: list[str] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.dataset.failed

    @property
    def key(self) -> VersionKey:
        """The version the row is of: (namespace, name, digest), never how it is printed (two datasets can print alike)."""
        return version_key(self.dataset.namespace, self.dataset.name, self.dataset.version)

    def to_dict(self) -> dict[str, Any]:
        """The report's row."""
        q = self.dataset.quality
        return {"dataset": self.dataset.label, "namespace": self.dataset.namespace, "name": self.dataset.name,
                "version": self.dataset.version, "schema": q.schema if q else None,
                "passed": self.dataset.passed, "failureCount": q.failure_count if q else 0,
                "failedChecks": list(q.failed_checks) if q else [], "checks": [c.to_dict() for c in self.dataset.checks],
                "failures": self.dataset.failures(), "recordedBy": self.recorded_by, "usedBy": self.used_by}

    def to_state(self) -> dict[str, Any]:
        """The form kept in the audit state."""
        return {"dataset": self.dataset.to_dict(), "recordedBy": self.recorded_by, "usedBy": self.used_by}

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> "QualityRow":
        return cls(DatasetUse.from_dict(raw["dataset"]), list(raw["recordedBy"]), list(raw["usedBy"]))


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    ran: bool = True
    detail: str = ""

    @property
    def title(self) -> str:
        return CHECK_TITLES.get(self.name, self.name)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def status(self) -> str:
        if not self.ran:
            return "skipped"
        return "fail" if self.errors else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "status": self.status, "checked": self.checked, "detail": self.detail,
                "findings": [f.report_dict() for f in self.findings]}
