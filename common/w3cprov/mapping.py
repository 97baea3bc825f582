"""OpenLineage run events -> one W3C PROV document (``prov`` library). No I/O.

The mapping is documented facet by facet in ``docs/prov-mapping.md``. Records are collected first
(duplicates merged) and added to the document in sorted order, so the same events always build the
same document, whatever their order.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from prov.constants import PROV, PROV_LABEL, PROV_ROLE, PROV_TYPE
from prov.identifier import QualifiedName
from prov.model import ProvDocument

from prov_common.canonical_json import canonical_bytes
from prov_common.errors import BadInputError
from prov_common.w3cprov import ids
from prov_common.w3cprov.events import DatasetState, RunState, fold_runs
from prov_common.w3cprov.ids import DCTERMS, DQV, TDPROV
from prov_common.w3cprov.quality import Measurement, dataset_measurements, run_test_measurements
from prov_common.w3cprov.serialize import TooManyRecords

Attr = tuple[QualifiedName, Any]

PROV_MAPPING = "tdprov-prov/9"
"""Version of this mapping, recorded in every bundle's manifest. Change it whenever the PROV that
the same events give changes (here or through a ``prov`` upgrade), and keep the older version in
:data:`DERIVABLE_MAPPINGS` while this code still gives its bytes: bundles of those versions are
re-derived byte for byte, bundles of others are checked for digest and PROV syntax."""
DERIVABLE_MAPPINGS = ("tdprov-prov/2", "tdprov-prov/3", "tdprov-prov/4", "tdprov-prov/5", "tdprov-prov/6", "tdprov-prov/7",
                      "tdprov-prov/8", PROV_MAPPING)
"""Mapping versions this code derives: version 3 adds ``tdprov:shardCount``, ``tdprov:fileSha256`` and
``tdprov:rowsRoot`` of a version's content to what version 2 gave; version 4 states a run's derivations
as one ``tdprov:derivations`` count on the activity, instead of one ``wasDerivedFrom`` per output and input,
when there are more than :data:`MAX_DERIVATIONS` pairs (their number grows as inputs times outputs);
version 5 gives different things different identifiers where a name holds a newline or a digest's
algorithm is 16 hex digits (versions 2 to 4 could give two datasets one identifier: see
:mod:`~prov_common.w3cprov.ids`), and states no ``wasAssociatedWith`` for a run whose events name no agent
(versions 2 to 4 state one without an agent) but ``tdprov:plan`` on the run, and no start time for a run whose
events hold no START (versions 2 to 4 state its earliest event's time); version 6 folds each version of a dataset
that a run's events name apart (``used`` or generated once each; versions 2 to 5 keep the version named last, see
:func:`~prov_common.w3cprov.events.fold_runs`); version 7 tells a check that raised (a ``dataQualityAssertions``
assertion's ``params.status`` or a ``test``'s ``status`` of ``error``) from one that failed: ``tdprov:status "error"``
and no ``dqv:value`` (versions 2 to 6 state its ``success``), with the check's ``tdprov:description``, and states a
re-execution (``tdprov_runContext.reexecutionOf``) as ``wasInformedBy`` the run it re-executes; version 8 keys a check
of the run's ``test`` facet by the Pandera schema it names too (``params.schema``, stated as ``tdprov:schemaName`` and
part of its identifier), so a Dagster asset check named as a frame-wide Pandera check of the same version is a
measurement of its own (versions 2 to 7 kept the first test of a name and column only); version 9 takes a version
written as a digest (``sha256:<hex>``) for a content digest only where tdprov vouches for it
(:attr:`~prov_common.w3cprov.events.DatasetState.names_content`): another producer's is an opaque version id, stated
with ``tdprov:opaqueVersion true`` and never ``alternateOf`` (versions 2 to 8 took any such text for a digest)."""
_LEGACY_IDS = ("tdprov-prov/2", "tdprov-prov/3", "tdprov-prov/4")
"""Mapping versions whose identifiers are :mod:`~prov_common.w3cprov.ids`' ``legacy`` ones."""
_CONTENT_EXTRAS = {mapping: () if mapping == "tdprov-prov/2" else ("shardCount", "fileSha256", "rowsRoot") for mapping in DERIVABLE_MAPPINGS}
MAX_DERIVATIONS = 10_000
"""Output and input pairs of one run stated one by one; past it, a count (800 inputs by 800 outputs made
640,000 relations, 250 MiB of PROV and 2.5 GB in the pipeline's process)."""
_COUNTS = ("rows", "bytes", "shardCount")
_KIND_ORDER = {"agent": 0, "entity": 1, "activity": 2}


def too_many_records(bound: int) -> TooManyRecords:
    """The error for events that state more than ``bound`` PROV records."""
    return TooManyRecords(f"its events state more PROV records than a bundle tdprov writes holds ({bound:,})",
                          fix="check it with 'tdprov verify': a forged or damaged bundle is left out until it is "
                              "restored from a backup or replica of the store")


class _Builder:
    """Collects elements (merging attributes of equal identifiers) and relations, then emits sorted."""

    def __init__(self, mapping: str = PROV_MAPPING, max_records: int | None = None) -> None:
        if mapping not in DERIVABLE_MAPPINGS:
            raise BadInputError(f"PROV mapping {mapping!r} is not one this version of tdprov derives.",
                                fix=f"ask for one of {', '.join(DERIVABLE_MAPPINGS)}")
        self.mapping = mapping
        self.legacy = mapping in _LEGACY_IDS
        """Whether this mapping names things by the legacy identifiers (:mod:`~prov_common.w3cprov.ids`)."""
        self.elements: dict[str, tuple[str, dict[QualifiedName, set[Any]], dict[str, Any]]] = {}
        self.relations: set[tuple[Any, ...]] = set()
        self.max_records = max_records
        """Records at most collected (None: no bound): :class:`~prov_common.w3cprov.serialize.TooManyRecords` past it."""

    def _bounded(self) -> None:
        if self.max_records is not None and len(self.elements) + len(self.relations) > self.max_records:
            raise too_many_records(self.max_records)

    def at_least(self, mapping: str) -> bool:
        """Whether this mapping is ``mapping`` or a later one."""
        return DERIVABLE_MAPPINGS.index(self.mapping) >= DERIVABLE_MAPPINGS.index(mapping)

    def element(self, kind: str, local: str, attrs: Iterable[Attr], **formal: Any) -> QualifiedName:
        _, merged, formals = self.elements.setdefault(local, (kind, {}, {}))
        self._bounded()
        for name, value in attrs:
            if value is not None and value != "":
                merged.setdefault(name, set()).add(ids.xml_text(value) if isinstance(value, str) else value)
        formals.update({k: v for k, v in formal.items() if v is not None})
        return TDPROV[local]

    def relation(self, method: str, *args: Any, attrs: Iterable[Attr] = (), **formal: Any) -> None:
        clean = ((name, ids.xml_text(value) if isinstance(value, str) else value) for name, value in attrs)
        self.relations.add((method, args, tuple(sorted(formal.items())), tuple(sorted(clean, key=repr))))
        self._bounded()

    def build(self) -> ProvDocument:
        document = ProvDocument()
        for namespace in ids.NAMESPACES:
            document.add_namespace(namespace)
        for local in sorted(self.elements, key=lambda k: (_KIND_ORDER[self.elements[k][0]], k)):
            kind, merged, formals = self.elements[local]
            attrs = [(name, value) for name in sorted(merged, key=str) for value in sorted(merged[name], key=repr)]
            if kind == "activity":
                document.activity(TDPROV[local], formals.get("start"), formals.get("end"), attrs)
            else:
                getattr(document, kind)(TDPROV[local], attrs)
        for method, args, formal, attrs in sorted(self.relations, key=repr):
            extra = {"other_attributes": list(attrs)} if attrs else {}
            getattr(document, method)(*args, **dict(formal), **extra)
        return document


def _json_text(value: Any) -> str:
    try:
        return canonical_bytes(value).decode("utf-8")
    except Exception:  # values RFC 8785 cannot represent (NaN, ...) still get a stable text
        return json.dumps(value, sort_keys=True, default=str)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _agent_type(name: str) -> QualifiedName:
    prefix = name.split(":", 1)[0].lower() if ":" in name else ""
    if prefix in {"user", "person"}:
        return PROV["Person"]
    if prefix in {"team", "group", "org", "organization", "organisation"}:
        return PROV["Organization"]
    return PROV["Agent"]


def _owner_names(ownership: dict[str, Any]) -> list[str]:
    """Names in an ``ownership`` (job or dataset) facet."""
    owners = ownership.get("owners")
    return [o["name"].strip() for o in owners if isinstance(o, dict) and _text(o.get("name"))] if isinstance(owners, list) else []


def _person(builder: _Builder, name: str, person: bool = False) -> QualifiedName:
    kind = PROV["Person"] if person else _agent_type(name)
    return builder.element("agent", ids.agent_local("agent", name, legacy=builder.legacy), [(PROV_TYPE, kind), (PROV_LABEL, name), (TDPROV["name"], name)])


def _code_version(run: RunState) -> str | None:
    context = run.run_facet("tdprov_runContext")
    return (_text(context.get("gitCommit")) or _text(context.get("codeVersion"))
            or _text(run.job_facet("sourceCodeLocation").get("version")))


def _plans(builder: _Builder, run: RunState) -> QualifiedName:
    """The job as a ``prov:Plan``; with a known code version, the plan at that version specialises it."""
    job_type = run.job_facet("jobType")
    job = builder.element("entity", ids.job_local(run.job_namespace, run.job_name, legacy=builder.legacy), [
        (PROV_TYPE, PROV["Plan"]), (PROV_TYPE, TDPROV["Job"]), (PROV_LABEL, run.job_name),
        (TDPROV["namespace"], run.job_namespace), (TDPROV["name"], run.job_name),
        (TDPROV["jobType"], _text(job_type.get("jobType"))), (TDPROV["integration"], _text(job_type.get("integration"))),
        (TDPROV["processingType"], _text(job_type.get("processingType"))),
    ])
    for owner in _owner_names(run.job_facet("ownership")):
        builder.relation("attribution", job, _person(builder, owner))
    code_version = _code_version(run)
    source = run.job_facet("sourceCodeLocation")
    source_attrs = [(TDPROV[f"source{key[0].upper()}{key[1:]}"], _text(source.get(key))) for key in ("url", "repoUrl", "path", "branch", "tag")]
    if code_version is None:
        builder.element("entity", job.localpart, source_attrs)
        return job
    context = run.run_facet("tdprov_runContext")
    plan = builder.element("entity", ids.plan_local(run.job_namespace, run.job_name, code_version, legacy=builder.legacy), [
        (PROV_TYPE, PROV["Plan"]), (PROV_LABEL, f"{run.job_name} @ {code_version}"), (TDPROV["codeVersion"], code_version),
        (TDPROV["gitCommit"], _text(context.get("gitCommit"))), *source_attrs,
    ])
    builder.relation("specialization", plan, job)
    return plan


def _agents(builder: _Builder, run: RunState, activity: QualifiedName, plan: QualifiedName) -> bool:
    """Orchestrator (software agent) acting on behalf of the owners and the user, all associated with the run.

    Returns whether any agent was associated with the run."""
    engine_facet = run.run_facet("processing_engine")
    context = run.run_facet("tdprov_runContext")
    engine_name = _text(engine_facet.get("name")) or _text(context.get("orchestrator"))
    engine = None
    if engine_name:
        version = _text(engine_facet.get("version"))
        label = f"{engine_name} {version}" if version else engine_name
        engine = builder.element("agent", ids.agent_local("engine", label, legacy=builder.legacy), [
            (PROV_TYPE, PROV["SoftwareAgent"]), (PROV_LABEL, label), (TDPROV["name"], engine_name),
            (TDPROV["version"], version), (TDPROV["adapterVersion"], _text(engine_facet.get("openlineageAdapterVersion"))),
        ])
        builder.relation("association", activity, engine, plan, attrs=[(PROV_ROLE, TDPROV["orchestrator"])])
    owners = _owner_names(run.job_facet("ownership")) + [name for name in [_text(context.get("owner"))] if name]
    responsible = [(_person(builder, name), "owner") for name in sorted(set(owners))]
    user = _text(context.get("user"))
    if user:
        responsible.append((_person(builder, user, person=True), "user"))
    for agent, role in responsible:
        builder.relation("association", activity, agent, plan, attrs=[(PROV_ROLE, TDPROV[role])])
    delegate = engine or (responsible[-1][0] if user else None)
    for agent, _ in responsible:
        if delegate is not None and agent != delegate:
            builder.relation("delegation", delegate, agent, activity)
    return engine is not None or bool(responsible)


def _activity(builder: _Builder, run: RunState, job: QualifiedName) -> QualifiedName:
    context = run.run_facet("tdprov_runContext")
    parent = run.run_facet("parent")
    attrs: list[Attr] = [
        (PROV_TYPE, TDPROV["Run"]), (PROV_LABEL, run.job_name), (TDPROV["runId"], run.run_id),
        (TDPROV["state"], run.state), (TDPROV["job"], job),
        (TDPROV["host"], _text(context.get("host"))), (TDPROV["executor"], _text(context.get("executor"))),
        (TDPROV["errorMessage"], _text(run.run_facet("errorMessage").get("message"))),
        (TDPROV["nominalStartTime"], _text(run.run_facet("nominalTime").get("nominalStartTime"))),
        *((TDPROV["producer"], producer) for producer in run.producers),
    ]
    if isinstance(context.get("partial"), bool):
        attrs.append((TDPROV["partial"], context["partial"]))
    libraries = context.get("libraries")
    if isinstance(libraries, dict):
        attrs += [(TDPROV["library"], f"{name}=={version}") for name, version in libraries.items()]
    if "parameters" in context:
        attrs.append((TDPROV["parameters"], _json_text(context["parameters"])))
    parent_run = _text((parent.get("run") or {}).get("runId")) if isinstance(parent.get("run"), dict) else None
    if parent_run:
        attrs.append((DCTERMS["isPartOf"], _parent(builder, parent, parent_run)))
    root = parent.get("root") if isinstance(parent.get("root"), dict) else {}
    root_run = _text((root.get("run") or {}).get("runId")) if isinstance(root.get("run"), dict) else None
    if root_run and root_run != parent_run:
        attrs.append((TDPROV["rootRun"], _parent(builder, root, root_run)))
    start = run.started if run.start_recorded or builder.legacy else None  # mapping 5: no START, no start time
    activity = builder.element("activity", ids.run_local(run.run_id), attrs, start=start, end=run.ended)
    if builder.at_least("tdprov-prov/7"):
        _reexecution(builder, context, parent if parent_run else {}, TDPROV[ids.run_local(parent_run)] if parent_run else activity)
    return activity


def _reexecution(builder: _Builder, context: dict[str, Any], parent: dict[str, Any], informed: QualifiedName) -> None:
    """A re-execution (``tdprov_runContext.reexecutionOf``, ``reexecutionRoot``: orchestrator runs, such as the Dagster
    run that a Dagster run re-executes): the run it re-executes and the first of those as bare activities of the
    parent's job, ``tdprov:reexecutionOf`` and ``tdprov:reexecutionRoot`` on the run's parent (``informed``: else on the
    run), and ``wasInformedBy(informed, the re-executed run)``: a re-execution takes on what the run it re-executes
    made (mapping 7 on)."""
    earlier = _text(context.get("reexecutionOf"))
    if not earlier:
        return
    attrs: list[Attr] = [(TDPROV["reexecutionOf"], _parent(builder, parent, earlier))]
    first = _text(context.get("reexecutionRoot"))
    if first and first != earlier:
        attrs.append((TDPROV["reexecutionRoot"], _parent(builder, parent, first)))
    builder.element("activity", informed.localpart, attrs)
    builder.relation("communication", informed, TDPROV[ids.run_local(earlier)])


def _parent(builder: _Builder, facet: dict[str, Any], run_id: str) -> QualifiedName:
    """A parent (or root) run as a bare activity, linked to its job's plan when the facet names it."""
    attrs: list[Attr] = [(PROV_TYPE, TDPROV["Run"]), (TDPROV["runId"], run_id)]
    job = facet.get("job") if isinstance(facet.get("job"), dict) else {}
    namespace, name = _text(job.get("namespace")), _text(job.get("name"))
    if namespace and name:
        plan = builder.element("entity", ids.job_local(namespace, name, legacy=builder.legacy), [
            (PROV_TYPE, PROV["Plan"]), (PROV_TYPE, TDPROV["Job"]), (PROV_LABEL, name),
            (TDPROV["namespace"], namespace), (TDPROV["name"], name)])
        attrs += [(PROV_LABEL, name), (TDPROV["job"], plan)]
    return builder.element("activity", ids.run_local(run_id), attrs)


def _dataset(builder: _Builder, dataset: DatasetState) -> QualifiedName:
    """The dataset entity (identity: namespace and name)."""
    entity = builder.element("entity", ids.dataset_local(dataset.namespace, dataset.name, legacy=builder.legacy), [
        (PROV_TYPE, TDPROV["Dataset"]), (PROV_LABEL, dataset.name),
        (TDPROV["namespace"], dataset.namespace), (TDPROV["name"], dataset.name)])
    for owner in _owner_names(dataset.facet("ownership")):
        builder.relation("attribution", entity, _person(builder, owner))
    return entity


def _content(builder: _Builder, dataset: DatasetState) -> list[Attr]:
    """What the content-hash facet says of the bytes: digest, algorithm, sizes, column digests and (from
    mapping version 3) the shard count, the bytes' SHA-256 and the row set's Merkle root."""
    content = dataset.facet("tdprov_contentHash")
    columns = content.get("columns") if isinstance(content.get("columns"), dict) else {}
    extras = _CONTENT_EXTRAS[builder.mapping]
    return [
        (TDPROV["digest"], _text(content.get("digest"))), (TDPROV["algorithm"], _text(content.get("algorithm"))),
        (TDPROV["kind"], _text(content.get("kind"))), (TDPROV["granularity"], _text(content.get("granularity"))),
        *((TDPROV[key], _content_field(content, key)) for key in ("rows", "bytes", *extras)),
        *((TDPROV["columnDigest"], f"{name}={digest}") for name, digest in columns.items() if isinstance(digest, str)),
    ]


def _content_field(content: dict[str, Any], key: str) -> int | str | None:
    """A content-hash facet field as PROV states it: counts only when they are integers, text only when not blank."""
    value = content.get(key)
    if key in _COUNTS:
        return value if type(value) is int else None
    return _text(value)


def _identity(dataset: DatasetState, entity: QualifiedName) -> list[Attr]:
    return [(TDPROV["dataset"], entity), (TDPROV["namespace"], dataset.namespace), (TDPROV["name"], dataset.name)]


def _read(builder: _Builder, dataset: DatasetState) -> QualifiedName:
    """What a run read: the dataset at its version (``tdprov:DatasetVersion``), or the dataset itself when
    it was recorded without a version. Readers do not know which run wrote it, so it has no generation
    here; :mod:`~prov_common.w3cprov.identity` resolves that across runs."""
    entity = _dataset(builder, dataset)
    version = dataset.version
    if version is None:
        return entity
    versioned = builder.element("entity", ids.version_local(dataset.namespace, dataset.name, version, legacy=builder.legacy), [
        (PROV_TYPE, TDPROV["DatasetVersion"]), (PROV_LABEL, version), (TDPROV["version"], version),
        *_identity(dataset, entity), *_content(builder, dataset), *_opaque(builder, dataset)])
    builder.relation("specialization", versioned, entity)
    return versioned


def _written(builder: _Builder, dataset: DatasetState, run: RunState) -> QualifiedName:
    """What a run wrote (``tdprov:WrittenVersion``): the dataset at its version as generated by this run,
    a specialisation of the version it is (or of the dataset, without one). One generation per entity."""
    general = _read(builder, dataset)
    version = dataset.version
    written = builder.element("entity", ids.generation_local(dataset.namespace, dataset.name, version, run.run_id, legacy=builder.legacy), [
        (PROV_TYPE, TDPROV["WrittenVersion"]), (PROV_LABEL, version or dataset.name), (TDPROV["version"], version),
        *_identity(dataset, TDPROV[ids.dataset_local(dataset.namespace, dataset.name, legacy=builder.legacy)]), *_content(builder, dataset),
        *_opaque(builder, dataset)])
    builder.relation("specialization", written, general)
    return written


def _names_content(builder: _Builder, dataset: DatasetState) -> bool:
    """Whether this mapping takes the version of ``dataset`` for a content digest: from version 9 on only one tdprov
    vouches for (:attr:`~prov_common.w3cprov.events.DatasetState.names_content`), before any text written as one."""
    return dataset.names_content if builder.at_least("tdprov-prov/9") else ids.names_content(dataset.version)


def _opaque(builder: _Builder, dataset: DatasetState) -> list[Attr]:
    """``tdprov:opaqueVersion true`` of a version written as a content digest that names no content (mapping 9 on:
    another producer's ``sha256:<hex>``, which tdprov never checked), so that readers of the PROV take it as a name."""
    return [(TDPROV["opaqueVersion"], True)] if builder.at_least("tdprov-prov/9") and dataset.opaque_version else []


def _same_content(builder: _Builder, found: Iterable[tuple[DatasetState, QualifiedName]]) -> None:
    """Equal content digests in different datasets of one run: ``prov:alternateOf``, never lineage."""
    by_digest: dict[str, dict[tuple[str, str], QualifiedName]] = {}
    for dataset, target in found:
        if _names_content(builder, dataset):
            by_digest.setdefault(dataset.version, {}).setdefault(dataset.key, target)
    for targets in by_digest.values():
        first, *others = sorted(targets.values(), key=str)
        for other in others:
            builder.relation("alternate", first, other)


def _measurements(builder: _Builder, activity: QualifiedName, target: QualifiedName, found: Iterable[Measurement]) -> None:
    """Quality results as ``dqv:QualityMeasurement`` entities ``dqv:computedOn`` the version."""
    for measurement in found:
        metric = builder.element("entity", ids.metric_local(measurement.kind, measurement.name, measurement.column, legacy=builder.legacy), [
            (PROV_TYPE, DQV["Metric"]), (PROV_LABEL, measurement.name), (TDPROV["metricKind"], measurement.kind),
            (TDPROV["column"], measurement.column)])
        origin = measurement.schema if measurement.source == "test" else None  # None before mapping 8
        local = ids.measurement_local(f"{activity.localpart} {target.localpart}", measurement.source, metric.localpart, origin,
                                      legacy=builder.legacy)
        entity = builder.element("entity", local, [
            (PROV_TYPE, DQV["QualityMeasurement"]), (DQV["computedOn"], target), (DQV["isMeasurementOf"], metric),
            (DQV["value"], measurement.value), (TDPROV["status"], measurement.status), (TDPROV["source"], measurement.source),
            (TDPROV["failureCount"], measurement.failure_count), (TDPROV["severity"], measurement.severity),
            (TDPROV["schemaName"], measurement.schema), (TDPROV["column"], measurement.column),
            (TDPROV["description"], measurement.description)])
        builder.relation("generation", entity, activity)


def _run(builder: _Builder, run: RunState) -> None:
    plan = _plans(builder, run)
    job = TDPROV[ids.job_local(run.job_namespace, run.job_name, legacy=builder.legacy)]
    activity = _activity(builder, run, job)
    if not _agents(builder, run, activity, plan):
        if builder.legacy:  # mappings 2 to 4: an association without agent, which PROV-O's qualified form cannot state
            builder.relation("association", activity, None, plan)
        elif plan != job:  # the job at its code version, which only an association named
            builder.element("activity", activity.localpart, [(TDPROV["plan"], plan)])
    used = []
    for dataset in run.inputs:
        target = _read(builder, dataset)
        builder.relation("usage", activity, target)
        _measurements(builder, activity, target, dataset_measurements(dataset, errors=builder.at_least("tdprov-prov/7")))
        used.append((dataset, target))
    targets = {}
    pairs = len(used) * len(run.outputs)
    counted = builder.mapping not in ("tdprov-prov/2", "tdprov-prov/3") and pairs > MAX_DERIVATIONS
    if counted:  # every output derives from every input it does not pass through: said once, not pair by pair
        passed = len({(d.key, d.version) for d in run.outputs} & {(s.key, s.version) for s, _ in used})
        builder.element("activity", activity.localpart, [(TDPROV["derivations"], pairs - passed)])
    for dataset in run.outputs:
        target = targets[dataset.key, dataset.version] = _written(builder, dataset, run)
        builder.relation("generation", target, activity, time=run.ended)
        _measurements(builder, activity, target, dataset_measurements(dataset, errors=builder.at_least("tdprov-prov/7")))
        for source, read in used if not counted else ():
            if (source.key, source.version) != (dataset.key, dataset.version):  # passed through unchanged: no derivation
                builder.relation("derivation", target, read, activity)
    for measurement, concerned in run_test_measurements(run, errors=builder.at_least("tdprov-prov/7"),
                                                         origin=builder.at_least("tdprov-prov/8")):
        for dataset in concerned:
            _measurements(builder, activity, targets[dataset.key, dataset.version], [measurement])
    _same_content(builder, [*used, *((d, targets[d.key, d.version]) for d in run.outputs)])


def events_to_document(events: Iterable[dict[str, Any]], mapping: str = PROV_MAPPING, *, sealed: bool = False,
                       max_records: int | None = None) -> ProvDocument:
    """The W3C PROV document of the OpenLineage events of one run (from any producer).

    Events of several runs are grouped by ``run.runId`` and their documents merged. Raises
    :class:`~prov_common.errors.BadInputError` naming the event and field when a required field
    (eventType, eventTime, run.runId, job.namespace/name, dataset namespace/name) is missing or bad.
    ``mapping``: the mapping version to derive, one of :data:`DERIVABLE_MAPPINGS`. ``sealed``: the events were read
    from a sealed bundle (see :func:`~prov_common.w3cprov.events.fold_runs`). ``max_records``: see
    :func:`runs_to_document`.
    """
    return runs_to_document(fold_runs(events, sealed=sealed), mapping, max_records)


def runs_to_document(runs: Iterable[RunState], mapping: str = PROV_MAPPING, max_records: int | None = None) -> ProvDocument:
    """The W3C PROV document of runs already folded from their events (:func:`events_to_document`
    without folding them again). With ``max_records``, runs that state more PROV records are refused
    (:class:`~prov_common.w3cprov.serialize.TooManyRecords`) as soon as one more is collected, before any is built
    (each built record costs about 2 KB of memory)."""
    builder = _Builder(mapping, max_records)
    for run in runs:
        _run(builder, run)
    return builder.build()

