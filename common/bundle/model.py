"""Bundle models: manifest, the objects of a bundle, index summaries, verification reports (no I/O)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any


from prov_common.canonical_json import INT_LIMIT, canonical_bytes, loads
from prov_common.errors import BadInputError, with_fix
from prov_common.hashing.raw import blake3_digest
from prov_common.text import counted, first_of, job_json, job_path

BUNDLE_FORMAT = "https://tdprov.dev/lineage-bundle/v1"
PREDICATE_TYPE = BUNDLE_FORMAT
UNRECORDED_PROV_MAPPING = "tdprov-prov/1"  # what made the PROV of manifests without "provMapping"


@dataclass(frozen=True)
class FileEntry:
    path: str
    digest: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class DatasetRef:
    """A dataset the run read or wrote, with its version (content digest when hashed) and, in manifests
    of digest sets version 2, its in-toto DigestSet (``digests``: sha256 of the bytes, table digest)."""

    namespace: str
    name: str
    version: str | None = None
    digests: Mapping[str, str] | None = field(default=None, hash=False)
    opaque: bool = False  # a version written as a content digest that tdprov does not vouch for (digest sets 6 on)

    @property
    def names_content(self) -> bool:
        """Whether the version is a content digest: written as one and not recorded as an opaque version id."""
        from prov_common.w3cprov.ids import names_content

        return names_content(self.version) and not self.opaque

    @property
    def uri(self) -> str:
        """The dataset's URI per the OpenLineage naming spec (``s3://bucket/key``, ``file:///a.csv``)."""
        from prov_common.bundle.naming import dataset_name

        return dataset_name(self.namespace, self.name)

    @property
    def label(self) -> str:
        """How ``tdprov runs`` shows the dataset (:func:`~prov_common.bundle.naming.dataset_shown`): its URI, unless
        that is another dataset's location."""
        from prov_common.bundle.naming import dataset_shown

        return dataset_shown(self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"namespace": self.namespace, "name": self.name, "version": self.version}
        if self.digests is not None:
            out["digest"] = dict(self.digests)
        if self.opaque:
            out["opaqueVersion"] = True
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "DatasetRef":
        digests = raw.get("digest")
        if digests is not None and not (isinstance(digests, dict) and all(isinstance(v, str) for v in digests.values())):
            raise TypeError(f"digest of dataset {raw.get('name')!r} is not a map of algorithm to hex")
        return cls(str(raw["namespace"]), str(raw["name"]), _text_or_none(raw, "version"), digests, raw.get("opaqueVersion") is True)


def _text_or_none(raw: Mapping[str, Any], key: str) -> str | None:
    """``raw[key]`` when it is text or absent/null (None); a number, list or object there is a TypeError naming
    ``key``, so that a damaged record is refused where it is read, not where a reader first treats it as text."""
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{key} is {type(value).__name__}, not text")


def _size(entry: Mapping[str, Any]) -> int:
    """A file entry's ``size``: a whole number of bytes canonical JSON holds (0 to 2**53 - 1). Another value there is a
    TypeError naming it: a size of 10**30 was taken as the bound of a read, which stopped every verify with an
    OverflowError, and -1 read nothing."""
    value = entry["size"]
    if type(value) is not int or not 0 <= value <= MAX_SIZE:
        raise TypeError(f"the size of {str(entry.get('path'))!r} is {value!r}, not a number of bytes")
    return value


MAX_SIZE = INT_LIMIT
"""The largest size a manifest can give a file: the largest integer canonical JSON writes."""


TASK_INSTANCE_KEYS = ("try_number", "map_index")
"""What a bundle records of an Airflow task instance: the ``taskInstance`` keys of the provider's ``airflow`` run facet
that tell a task's tries and a mapped task's instances apart."""


def _task_instance(raw: Mapping[str, Any]) -> dict[str, int] | None:
    """``raw["taskInstance"]``: None when absent, else a map of :data:`TASK_INSTANCE_KEYS` to whole numbers (a
    TypeError naming it otherwise)."""
    value = raw.get("taskInstance")
    if value is None:
        return None
    if not (isinstance(value, dict) and value and set(value) <= set(TASK_INSTANCE_KEYS)
            and all(type(v) is int for v in value.values())):
        raise TypeError(f"taskInstance is {value!r}, not a map of {' and '.join(TASK_INSTANCE_KEYS)} to whole numbers")
    return dict(value)


def task_instance_text(instance: Mapping[str, int]) -> str:
    """``try 2, map index 3`` (the parts the run has), as ``show`` and ``runs`` print a task instance."""
    return ", ".join(f"{key.replace('_number', '').replace('_', ' ')} {instance[key]}" for key in TASK_INSTANCE_KEYS
                     if key in instance)


def _run_dict(x: "Manifest | BundleSummary") -> dict[str, Any]:
    """The fields that a manifest and an index summary share, as JSON."""
    return {
        "format": BUNDLE_FORMAT,
        "runId": x.run_id,
        "job": job_json(x.job_namespace, x.job_name),
        "state": x.state,
        "endedAt": x.ended_at,
        "sealedAt": x.sealed_at,
        "inputs": [d.to_dict() for d in x.inputs],
        "outputs": [d.to_dict() for d in x.outputs],
        **({"taskInstance": dict(x.task_instance)} if x.task_instance is not None else {}),
        **({"mappingKey": x.mapping_key} if x.mapping_key is not None else {}),
    }


def _run_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments for the shared fields, from JSON (KeyError/TypeError when malformed)."""
    return {
        "run_id": str(raw["runId"]),
        "job_namespace": str(raw["job"]["namespace"]),
        "job_name": str(raw["job"]["name"]),
        "state": str(raw["state"]),
        "ended_at": _text_or_none(raw, "endedAt"),
        "sealed_at": str(raw["sealedAt"]),
        "inputs": tuple(DatasetRef.from_dict(d) for d in raw["inputs"]),
        "outputs": tuple(DatasetRef.from_dict(d) for d in raw["outputs"]),
        "task_instance": _task_instance(raw),
        "mapping_key": _text_or_none(raw, "mappingKey"),
    }


MANIFEST_FILES_MAX = 100_000
"""Files at most a bundle's manifest lists. A writer puts in one bundle its events and PROV, for each dataset of the run
its failure samples and row digests (``quality/``, ``rows/``), the attachments the pipeline adds (``extra/``) and one
record per event it refused (``refused/``): a handful, thousands for a run of thousands of datasets; never more than
this (:func:`~prov_common.bundle.build.within_bound` combines the refusals past it, or refuses the bundle). A manifest
listing more (half a million fit in :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT`) is malformed, refused before
any of its files is read or named, so that one planted manifest cannot cost minutes and gigabytes of every verify and
audit."""


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds: every file with its BLAKE3 digest and size, and a summary of the run."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str
    started_at: str
    ended_at: str | None
    sealed_at: str
    event_count: int
    inputs: tuple[DatasetRef, ...]
    outputs: tuple[DatasetRef, ...]
    files: tuple[FileEntry, ...]
    parent_run_id: str | None = None
    prov_mapping: str | None = None  # the events -> PROV mapping version that made prov.json
    dataset_naming: str | None = None  # the naming version of the statement's dataset names (bundle.naming)
    digest_sets: str | None = None  # the version of the datasets' in-toto DigestSets (bundle.subjects); None: 1
    store_id: str | None = None  # the store it was written to (store.identity); None in bundles sealed before stores had one
    task_instance: Mapping[str, int] | None = field(default=None, hash=False)  # an Airflow try's try number and map index
    mapping_key: str | None = None  # a mapped Dagster step's mapping key (tdprov_runContext.mappingKey)

    @cached_property
    def by_path(self) -> dict[str, FileEntry]:
        """The files keyed by their path in the bundle."""
        return {f.path: f for f in self.files}

    @property
    def mapping(self) -> str:
        """The mapping version of ``prov.json`` (manifests written before it was recorded: version 1)."""
        return self.prov_mapping or UNRECORDED_PROV_MAPPING

    def to_dict(self) -> dict[str, Any]:
        out = {
            **_run_dict(self),
            "startedAt": self.started_at,
            "eventCount": self.event_count,
            "parentRunId": self.parent_run_id,
            "files": [f.to_dict() for f in self.files],
        }
        if self.prov_mapping is not None:
            out["provMapping"] = self.prov_mapping
        if self.dataset_naming is not None:
            out["datasetNaming"] = self.dataset_naming
        if self.digest_sets is not None:
            out["digestSets"] = self.digest_sets
        if self.store_id is not None:
            out["storeId"] = self.store_id
        return out

    def to_json(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes, name: str = "manifest.json") -> "Manifest":
        try:
            raw = loads(data)
            return cls(
                **_run_fields(raw),
                started_at=str(raw["startedAt"]),
                event_count=int(raw["eventCount"]),
                parent_run_id=_text_or_none(raw, "parentRunId"),
                prov_mapping=_text_or_none(raw, "provMapping"),
                dataset_naming=_text_or_none(raw, "datasetNaming"),
                digest_sets=_text_or_none(raw, "digestSets"),
                store_id=_text_or_none(raw, "storeId"),
                files=tuple(FileEntry(str(f["path"]), str(f["digest"]), _size(f)) for f in _listed(raw["files"])),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(f"{name} is not a bundle manifest ({type(exc).__name__}: {exc}).") from exc


def _listed(files: Any) -> Any:
    """The ``files`` of a manifest, unless it lists more than any bundle holds (:data:`MANIFEST_FILES_MAX`)."""
    if isinstance(files, list) and len(files) > MANIFEST_FILES_MAX:
        raise ValueError(f"it lists {len(files):,} files, more than a bundle tdprov writes holds ({MANIFEST_FILES_MAX:,})")
    return files


@dataclass(frozen=True)
class BundleSummary:
    """The index entry of a bundle: enough for ``tdprov runs`` without reading the bundle."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str
    ended_at: str | None
    sealed_at: str
    outputs: tuple[DatasetRef, ...]
    inputs: tuple[DatasetRef, ...] = ()
    key_id: str | None = None
    manifest_digest: str | None = None
    cursor: str | None = None  # the index key it was read from (pass as since_cursor to continue)
    started_at: str | None = None  # None in entries written before they held the start (lineage then uses the end)
    store_id: str | None = None  # the store its manifest names (None: sealed before stores had an identity)
    task_instance: Mapping[str, int] | None = field(default=None, hash=False)  # the manifest's (None: no Airflow try, or older)
    mapping_key: str | None = None  # the manifest's (None: no mapped Dagster step, or older)
    parent_run_id: str | None = None  # the manifest's (None: no parent run, or an entry written before entries held it)

    @property
    def job(self) -> str:
        """The run's job as ``namespace/name`` (:func:`~prov_common.text.job_path`), as ``tdprov runs`` shows it."""
        return job_path(self.job_namespace, self.job_name)

    def to_dict(self) -> dict[str, Any]:
        out = {
            **_run_dict(self),
            "keyId": self.key_id,
            "manifestDigest": self.manifest_digest,
        }
        if self.started_at is not None:
            out["startedAt"] = self.started_at
        if self.store_id is not None:
            out["storeId"] = self.store_id
        if self.parent_run_id is not None:
            out["parentRunId"] = self.parent_run_id
        return out

    def to_json(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes, cursor: str | None = None) -> "BundleSummary":
        try:
            raw = loads(data)
            return cls(
                **_run_fields(raw),
                key_id=_text_or_none(raw, "keyId"),
                manifest_digest=_text_or_none(raw, "manifestDigest"),
                cursor=cursor,
                started_at=_text_or_none(raw, "startedAt"),
                store_id=_text_or_none(raw, "storeId"),
                parent_run_id=_text_or_none(raw, "parentRunId"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(f"index entry {cursor or ''} is not a bundle summary ({exc}).",
                                fix="the entry was damaged or replaced: 'tdprov verify' and 'tdprov audit' check its bundle "
                                    "without it; restore the entry from a backup or replica of the store") from exc

    @classmethod
    def of_manifest(cls, manifest: Manifest, key_id: str | None, manifest_digest: str) -> "BundleSummary":
        """The index entry of a bundle with this manifest, signed by ``key_id``."""
        return cls(
            run_id=manifest.run_id,
            job_namespace=manifest.job_namespace,
            job_name=manifest.job_name,
            state=manifest.state,
            ended_at=manifest.ended_at,
            sealed_at=manifest.sealed_at,
            inputs=manifest.inputs,
            outputs=manifest.outputs,
            key_id=key_id,
            manifest_digest=manifest_digest,
            started_at=manifest.started_at,
            store_id=manifest.store_id,
            task_instance=manifest.task_instance,
            mapping_key=manifest.mapping_key,
            parent_run_id=manifest.parent_run_id,
        )

    def expected_of(self, manifest: Manifest, manifest_digest: str, key_id: str | None = None) -> "BundleSummary":
        """What this index entry should hold to summarise ``manifest``, signed by ``key_id`` (the key whose signature on
        the bundle's statement verified; None when none did: the entry's is taken): :meth:`of_manifest`, without the
        start when this entry may have been written before entries held it (a missing start is then no alteration). A
        manifest that names its store, an Airflow task instance or a mapping key, was sealed by a tdprov whose entries
        hold them, so an entry of it without one was altered. An entry without the manifest's parent run may have been
        written before entries held it: it is expected without one (it is then not listed by its parent run)."""
        expected = BundleSummary.of_manifest(manifest, key_id or self.key_id, manifest_digest)
        if self.parent_run_id is None:
            expected = replace(expected, parent_run_id=None)
        older = manifest.store_id is None and manifest.task_instance is None and manifest.mapping_key is None  # entries held the start before manifests named their store
        return replace(expected, started_at=None) if self.started_at is None and older else expected


@dataclass(frozen=True)
class Bundle:
    """Everything to write for one run, in write order: ``files``, then manifest, then statement.

    ``files`` maps bundle paths (``events.jsonl``, ``prov.json``, ``quality/...``) to bytes.
    """

    run_id: str
    files: dict[str, bytes]
    manifest: Manifest
    manifest_bytes: bytes
    statement_bytes: bytes
    key_id: str

    @property
    def manifest_digest(self) -> str:
        return blake3_digest(self.manifest_bytes)

    @property
    def summary(self) -> BundleSummary:
        return BundleSummary.of_manifest(self.manifest, self.key_id, self.manifest_digest)


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a bundle: the object (store key) and why; ``fix``: what to do, when the error that found it
    says (an object the store could not read as listed), else None (the audit chooses one by its problem)."""

    key: str
    problem: str
    reason: str
    keys: tuple[str, ...] = field(default=(), compare=False)  # every key a folded finding counts (:meth:`VerificationReport.fold`)
    fix: str | None = field(default=None, compare=False)
    # a missing object's sealed digest and size (None: not listed), where the bundle tells (its manifest, or for the
    # manifest its signed statement): what finds those bytes among the versions a delete marker hides
    sealed: tuple[str, int | None] | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        said = f"{self.key}: {self.problem}: {self.reason}"
        return said if self.fix is None else with_fix(said, self.fix)

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "problem": self.problem, "reason": self.reason, **({"fix": self.fix} if self.fix else {})}


FILES_SHOWN = 10
"""Files of one bundle a verification finding names for one problem; more are counted (:meth:`VerificationReport.fold`)."""


@dataclass
class VerificationReport:
    """Result of verifying one bundle; ``ok`` only when complete, signed by a trusted key, and intact."""

    run_id: str
    key_id: str | None = None  # the trusted key whose signature verified
    claimed_key_ids: tuple[str, ...] = ()  # key ids named in the envelope, trusted or not
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0  # objects checked
    notes: list[Finding] = field(default_factory=list)  # worth knowing, not wrong: ``ok`` ignores them

    @property
    def ok(self) -> bool:
        return not self.findings and self.key_id is not None

    def add(self, key: str, problem: str, reason: str, fix: str | None = None,
            sealed: tuple[str, int | None] | None = None) -> None:
        self.findings.append(Finding(key, problem, reason, fix=fix, sealed=sealed))

    def note(self, key: str, problem: str, reason: str) -> None:
        self.notes.append(Finding(key, problem, reason))

    def fold(self, since: int, prefix: str, shown: int | None = None) -> None:
        """Each problem of more than ``shown`` (:data:`FILES_SHOWN`) files under ``prefix`` among the findings added
        after the first ``since`` becomes one finding of ``prefix``, naming ``shown`` of the files, counting the rest,
        and giving the first one's reason, with all their keys (``keys``): one bundle's problems are told once,
        whatever its manifest lists."""
        shown = FILES_SHOWN if shown is None else shown
        added = self.findings[since:]
        by_problem: dict[str, list[Finding]] = {}
        for found in added:
            if found.key.startswith(prefix):
                by_problem.setdefault(found.problem, []).append(found)
        many = {problem: found for problem, found in by_problem.items() if len(found) > shown}
        if not many:
            return
        self.findings[since:] = [f for f in added if not (f.problem in many and f.key.startswith(prefix))] + [
            Finding(prefix, problem, f"{counted(len(found), 'file')} of the bundle ({first_of([f.key[len(prefix):] for f in found], shown)}); "
                                     f"{found[0].key[len(prefix):]}: {found[0].reason}", tuple(f.key for f in found), found[0].fix)
            for problem, found in many.items()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "ok": self.ok,
            "keyId": self.key_id,
            "claimedKeyIds": list(self.claimed_key_ids),
            "objectsChecked": self.checked,
            "findings": [f.to_dict() for f in self.findings],
            "notes": [f.to_dict() for f in self.notes],
        }
