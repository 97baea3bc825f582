"""A lineage graph (dataset versions and runs) read back from a PROV document. No I/O.

Works on the document of one run or on the merged PROV of a whole store, so the ``graph``,
``lineage`` and audit pictures all share it. Edges follow the data: ``version -> run`` (used) and
``run -> version`` (generated). Datasets recorded without a version appear as themselves.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from prov.constants import PROV, PROV_LABEL, PROV_TYPE
from prov.identifier import QualifiedName
from prov.model import ProvDocument, ProvRecord

from prov_common.text import camel_keys, job_json, shortened
from prov_common.w3cprov.events import check_label, whole_count
from prov_common.w3cprov.identity import (
    COMPLETE,
    dataset_label,
    holds_content,
    iso_z,
    normal_version,
    pick_generation,
    read_time,
)
from prov_common.w3cprov import ids
from prov_common.w3cprov.ids import DQV, TDPROV
from prov_common.w3cprov.quality import repeats_pandera
from prov_common.w3cprov.serialize import merge_documents

DATASET, VERSION, RUN = "dataset", "version", "run"
USED, GENERATED = "used", "generated"
LABEL_WIDTH = 40  # widest a node's name is shown (its end is kept)
HOLDERS_NAMED = 8  # other datasets of a version's content that a picture's tooltip and the text tree name, the rest counted


class OtherHolders(Sequence[tuple[str, str]]):
    """The other datasets, as ``(namespace, name)``, that hold the content of one version (a :class:`Node`'s ``also``),
    read from one sorted list that every holder of that content shares: each holder's own copy would take memory
    and time in the square of their number (20,000 outputs of one digest in a forged bundle)."""

    __slots__ = ("_held", "_own", "_at")

    def __init__(self, held: tuple[tuple[str, tuple[str, str]], ...], own: str, at: int) -> None:
        # held: (version id, dataset) sorted by dataset; own: this version's id, at its place ``at`` in held
        self._held, self._own, self._at = held, own, at

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return (dataset for version, dataset in self._held if version != self._own)

    def __len__(self) -> int:
        return len(self._held) - 1

    @property
    def everyone(self) -> tuple[tuple[str, str], ...]:
        """Every dataset that holds this content, this one included: the list all of them share."""
        return tuple(dataset for _, dataset in self._held)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        place = range(len(self))[index]  # an IndexError past either end, as a tuple's
        return self._held[place + (place >= self._at)][1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


def named_holders(also: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first :data:`HOLDERS_NAMED` of a data node's ``also``: the other holders of its content that a picture and the
    text tree name (the others are counted: naming each would grow with the square of their number)."""
    return list(islice(also, HOLDERS_NAMED))


@dataclass(frozen=True)
class Node:
    """A dataset (version) or a run in the lineage graph.

    ``label`` is the text shown, a data node's first line its dataset's label (a picture names it apart where
    another dataset it shows has that label too: :func:`~prov_common.w3cprov.drawing.shown_names`).
    ``dataset`` is the dataset's name (for versions, of the dataset they specialise) and ``version``
    the recorded version string; runs carry ``job`` (its name) and ``job_namespace``, ``state`` and ``started`` (a
    picture names a job apart where another it shows has that name: :func:`~prov_common.w3cprov.drawing.shown_names`).
    ``failed_checks``
    names the quality checks on this node that failed, each once (see :func:`_checks_once`). ``dataset_id`` and
    ``version_id`` (not shown) are the PROV ids of the dataset and of the ``tdprov:DatasetVersion`` a data node is,
    which hash the names as recorded: a PROV document states names as XML text, where two names can read alike
    (:func:`dataset_identity`).
    """

    id: str
    kind: str
    label: str
    dataset: str | None = None
    namespace: str | None = None
    version: str | None = None
    job: str | None = None
    job_namespace: str | None = None
    run_id: str | None = None
    state: str | None = None
    started: str | None = None
    ended: str | None = None
    failed_checks: tuple[str, ...] = ()
    passed_checks: tuple[str, ...] = ()
    errored_checks: tuple[str, ...] = ()  # checks that raised (``tdprov:status "error"``): no outcome, not failed
    also: Sequence[tuple[str, str]] = ()  # other (namespace, name) datasets with the same content: not lineage
    shards: int | None = None  # a sharded version: how many shards it has
    broken: str | None = None  # a read that nothing recorded explains (the audit's broken link): why
    dataset_id: str | None = None
    version_id: str | None = None
    opaque: bool = False  # a version written as a content digest that names no content (``tdprov:opaqueVersion``)

    @property
    def made_at(self) -> str | None:
        """When a run made its outputs: its end, else (a run sealed without ending, as 'tdprov flush' seals one) its
        start."""
        return self.ended or self.started

    @property
    def read_at(self) -> str | None:
        """When a run read its inputs (:func:`~prov_common.w3cprov.identity.read_time`)."""
        return read_time(self.started, self.ended)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, camelCase keys, empty fields (and the PROV ids of its identity, and ``broken``, which only a
        picture draws) left out; an opaque version says so (``opaqueVersion: true``), and a version other datasets
        hold the same content as names its digest (``sameContentAs``), under which :func:`content_holders_json` lists
        them all once for every holder (each holder's own list would grow with the square of their number). A run's job
        is ``{"namespace", "name"}``, as in all of tdprov's JSON (:func:`~prov_common.text.job_json`)."""
        out = camel_keys({k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()
                          if v not in (None, ()) and k not in _NOT_IN_JSON})
        if self.job is not None:
            out["job"] = job_json(self.job_namespace, self.job)
        if self.also:
            out["sameContentAs"] = normal_version(self.version)
        if self.opaque:
            out["opaqueVersion"] = True
        return out


_NOT_IN_JSON = ("dataset_id", "version_id", "broken", "opaque", "also", "job_namespace")


def content_holders_json(nodes: Iterable[Node]) -> dict[str, list[list[str]]]:
    """The datasets that hold each content digest the ``nodes`` name in ``sameContentAs`` (:meth:`Node.to_dict`), each
    ``[namespace, name]``: one list per digest, however many of its holders are among the nodes."""
    out: dict[str, list[list[str]]] = {}
    for node in nodes:
        if node.also and (key := normal_version(node.version)) not in out:
            held = node.also.everyone if isinstance(node.also, OtherHolders) else \
                sorted({(node.namespace or "", node.dataset or ""), *node.also})
            out[key] = [list(dataset) for dataset in held]
    return out


def dataset_identity(node: Node) -> str:
    """The identity of a data node's dataset: the PROV id of the dataset, which hashes its namespace and name as
    recorded. A node read from PROV carries it (its names are XML text there: ``/a\\x01`` and ``/a\\x02`` both read
    ``/a\\ufffd``); one built from recorded names (:func:`~prov_common.w3cprov.lineage.graph_from_summaries`) carries
    it hashed from them (:func:`named_ids`), and a node that carries none gets it from its names."""
    return node.dataset_id or named_ids(node.namespace or "", node.dataset or "", None)[0]


def version_entity(node: Node) -> str | None:
    """The PROV id of the ``tdprov:DatasetVersion`` a data node is (a generation specialises it), as
    :func:`dataset_identity` finds it; None for a dataset without a version."""
    if node.dataset_id is not None:
        return node.version_id
    return named_ids(node.namespace or "", node.dataset or "", node.version)[1]


def named_ids(namespace: str, name: str, version: str | None) -> tuple[str, str | None]:
    """The PROV ids of the dataset ``namespace``/``name`` and of its ``tdprov:DatasetVersion`` at ``version``
    (None without a version), hashed from the names as recorded: a node's ``dataset_id`` and ``version_id``."""
    dataset_id = f"{TDPROV.prefix}:{ids.dataset_local(namespace, name)}"
    return dataset_id, f"{TDPROV.prefix}:{ids.version_local(namespace, name, version)}" if version else None


def _identity(node: Node) -> tuple[str, str]:
    """A data node's version by identity: its dataset's PROV id and the normalised version (``""`` for none)."""
    return dataset_identity(node), normal_version(node.version)


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    kind: str


@dataclass
class LineageGraph:
    """Nodes by id and the data-flow edges between them (sorted, unique). ``holders``: the datasets that hold each
    version (:func:`content_holders`), as :func:`resolve_reads` found them (empty in a graph it did not make)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    holders: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)

    def incoming(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.target == node_id]

    def outgoing(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.source == node_id]


def _first(record: ProvRecord, name: QualifiedName) -> Any:
    values = sorted(record.get_attribute(name), key=str)
    return values[0] if values else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _formal(record: ProvRecord) -> dict[QualifiedName, Any]:
    return dict(record.formal_attributes)


def _short(version: str, keep: int = 12) -> str:
    algo, sep, rest = version.partition(":")
    if sep and len(rest) > keep:
        return f"{algo}:{rest[:keep]}…"
    return version if len(version) <= 24 else version[:23] + "…"


def _checks_once(results: list[tuple[str, str, str | None, str | None, bool | None]]) -> dict[bool, set[str]]:
    """Each check once (``results``: source, check, column, schema name, outcome, None for none): a Pandera schema's overall outcome
    (``pandera:<schema>``) is not a check of its own when the schema's checks are recorded, and a check of the
    run-level ``test`` facet or the standard ``dataQualityAssertions`` facet that only repeats one of the Pandera
    facet's checks (tdprov writes each into both: :func:`~prov_common.w3cprov.quality.repeats_pandera`) is left out;
    any other (a Dagster asset check in the asset's own step) counts."""
    pandera = {(schema, name, column) for source, name, column, schema, _ in results if source == "pandera"}
    kept = [(source, check_label(name, column), value) for source, name, column, schema, value in results
            if source not in ("test", "dataQualityAssertions") or not repeats_pandera(source, name, column, pandera, schema)]
    detailed = [r for r in kept if r[0] == "pandera" and not r[1].startswith("pandera:")]
    out: dict[bool, set[str]] = {True: set(), False: set()}
    for _source, name, value in kept:
        if isinstance(value, bool):
            out[value].add(name)
    for value in (True, False):
        if any(r[2] is value for r in detailed):
            out[value] -= {name for source, name, v in kept if source == "pandera" and name.startswith("pandera:") and v is value}
    return out


class _Reader:
    def __init__(self, document: ProvDocument) -> None:
        self.records = list(merge_documents([document.flattened()]).get_records())
        self.by_type: dict[QualifiedName, list[ProvRecord]] = defaultdict(list)
        for record in self.records:
            self.by_type[record.get_type()].append(record)
        self.datasets: dict[str, ProvRecord] = {}
        self.versions: dict[str, ProvRecord] = {}
        self.runs: dict[str, ProvRecord] = {}
        self.jobs: dict[str, ProvRecord] = {}  # a run's tdprov:job, which names its namespace
        for record in self.by_type[PROV["Entity"]]:
            types = record.get_attribute(PROV_TYPE)
            if TDPROV["Job"] in types:
                self.jobs[str(record.identifier)] = record
            if TDPROV["Dataset"] in types:
                self.datasets[str(record.identifier)] = record
            elif TDPROV["DatasetVersion"] in types or TDPROV["WrittenVersion"] in types:
                self.versions[str(record.identifier)] = record
        for record in self.by_type[PROV["Activity"]]:
            self.runs[str(record.identifier)] = record
        self.general: dict[str, str] = {}  # version -> its dataset
        self.version_of: dict[str, str] = {key: key for key, record in self.versions.items()
                                           if TDPROV["DatasetVersion"] in record.get_attribute(PROV_TYPE)}
        for record in self.by_type[PROV["Specialization"]]:
            formal = _formal(record)
            specific, general = str(formal[PROV["specificEntity"]]), str(formal[PROV["generalEntity"]])
            if specific in self.versions and general in self.datasets:
                self.general.setdefault(specific, general)
            elif specific in self.versions and self.version_of.get(general) == general:
                self.version_of.setdefault(specific, general)
        for key, record in self.versions.items():
            dataset = _first(record, TDPROV["dataset"])
            if dataset is not None and str(dataset) in self.datasets:
                self.general[key] = str(dataset)
        names = {str(r.identifier): (_text(_first(r, PROV_LABEL)) or str(r.identifier), _text(_first(r, TDPROV["column"])))
                 for r in self.by_type[PROV["Entity"]]}  # a metric's: the check and its column
        labels = {key: check_label(*named) for key, named in names.items()}
        found: dict[str, list[tuple[str, str, str | None, str | None, bool | None]]] = defaultdict(list)  # target -> (source, check, column, schema, outcome)
        self.errored: dict[str, set[str]] = defaultdict(set)  # target -> the checks that raised
        for record in self.by_type[PROV["Entity"]]:
            if DQV["QualityMeasurement"] in record.get_attribute(PROV_TYPE):
                value = _first(record, DQV["value"])
                if value is None and _text(_first(record, TDPROV["status"])) == "error":
                    metric = str(_first(record, DQV["isMeasurementOf"]))
                    for target in record.get_attribute(DQV["computedOn"]):
                        self.errored[str(target)].add(labels.get(metric, metric))
                elif isinstance(value, bool) or value is None:  # a skipped Pandera check too: its repeats are left out
                    metric = str(_first(record, DQV["isMeasurementOf"]))
                    source = _text(_first(record, TDPROV["source"])) or ""
                    name, column = names.get(metric, (metric, None))
                    for target in record.get_attribute(DQV["computedOn"]):
                        found[str(target)].append((source, name, column, _text(_first(record, TDPROV["schemaName"])), value))
        self.checks: dict[str, dict[bool, set[str]]] = {target: _checks_once(results) for target, results in found.items()}

    def data_node(self, key: str) -> Node:
        checks = self.checks.get(key, {True: set(), False: set()})
        passed, failed = tuple(sorted(checks[True])), tuple(sorted(checks[False]))
        errored = tuple(sorted(self.errored.get(key, ())))
        if key in self.versions:
            record = self.versions[key]
            dataset = self.datasets.get(self.general.get(key, ""))
            version = _text(_first(record, TDPROV["version"]))  # None: written without a version
            name = _text(_first(dataset, TDPROV["name"])) if dataset else None
            shards = _first(record, TDPROV["shardCount"])
            namespace = _text(_first(dataset, TDPROV["namespace"])) if dataset else None
            label = shortened(dataset_label(namespace, name) if name else "?", LABEL_WIDTH)
            return Node(key, VERSION if version else DATASET, f"{label}\n{_short(version)}" if version else label, dataset=name,
                        namespace=namespace,
                        version=version, failed_checks=failed, passed_checks=passed, errored_checks=errored,
                        shards=whole_count(shards), dataset_id=self.general.get(key), version_id=self.version_of.get(key),
                        opaque=_first(record, TDPROV["opaqueVersion"]) is True)
        record = self.datasets.get(key)
        name = _text(_first(record, TDPROV["name"])) if record else key
        namespace = _text(_first(record, TDPROV["namespace"])) if record else None
        return Node(key, DATASET, shortened(dataset_label(namespace, name) if name else key, LABEL_WIDTH), dataset=name,
                    namespace=namespace,
                    failed_checks=failed, passed_checks=passed, errored_checks=errored, dataset_id=key if record else None)

    def run_node(self, key: str, starts: Mapping[str, str | None]) -> Node:
        """The run ``key``; its start as its PROV states it, else as ``starts`` gives it by run id."""
        record = self.runs[key]
        job = _text(_first(record, PROV_LABEL)) or key
        plan = self.jobs.get(str(_first(record, TDPROV["job"])))
        state = _text(_first(record, TDPROV["state"]))
        run_id = _text(_first(record, TDPROV["runId"]))
        started = iso_z(record.get_startTime()) or (starts.get(run_id) if run_id else None)
        return Node(key, RUN, f"{shortened(job, LABEL_WIDTH)}\n{state or '?'}", job=job, run_id=run_id,
                    job_namespace=_text(_first(plan, TDPROV["namespace"])) if plan else None,
                    state=state, started=started, ended=iso_z(record.get_endTime()))

    def is_data(self, key: str) -> bool:
        return key in self.versions or key in self.datasets


def lineage_graph(document: ProvDocument, starts: Mapping[str, str | None] | None = None) -> LineageGraph:
    """The data-flow graph of ``document``: versions (or version-less datasets) and the runs between them.

    ``starts``: run id -> the start its index entry states (``BundleSummary.started_at``), taken for a run whose PROV
    states none (its events hold no START: the time of its first event), so that its reads are resolved at the time
    every other reader takes (:func:`~prov_common.w3cprov.identity.read_time`)."""
    reader = _Reader(document)
    edges: set[Edge] = set()
    for record in reader.by_type[PROV["Usage"]]:
        formal = _formal(record)
        activity, entity = str(formal[PROV["activity"]]), str(formal.get(PROV["entity"]))
        if activity in reader.runs and reader.is_data(entity):
            edges.add(Edge(entity, activity, USED))
    for record in reader.by_type[PROV["Generation"]]:
        formal = _formal(record)
        entity, activity = str(formal[PROV["entity"]]), str(formal.get(PROV["activity"]))
        if activity in reader.runs and reader.is_data(entity):
            edges.add(Edge(activity, entity, GENERATED))
    keys = {edge.source for edge in edges} | {edge.target for edge in edges}
    keys |= {k for k, r in reader.runs.items() if r.get_attribute(TDPROV["state"])}
    graph = LineageGraph()
    for key in sorted(keys):
        graph.nodes[key] = reader.run_node(key, starts or {}) if key in reader.runs else reader.data_node(key)
    graph.edges = sorted(edges)
    return resolve_reads(graph)


def _checks(nodes: list[Node]) -> dict[str, tuple[str, ...]]:
    """The quality checks recorded on ``nodes``, each once, as the ``failed_checks``, ``passed_checks`` and
    ``errored_checks`` of a node."""
    return {"failed_checks": tuple(sorted({c for n in nodes for c in n.failed_checks})),
            "passed_checks": tuple(sorted({c for n in nodes for c in n.passed_checks})),
            "errored_checks": tuple(sorted({c for n in nodes for c in n.errored_checks}))}


def resolve_reads(graph: LineageGraph) -> LineageGraph:
    """Link each read to the version it read, by identity (:mod:`~prov_common.w3cprov.identity`).

    A run's input is recorded as the dataset at a version, with no generation; it is replaced by the
    generation of the same dataset at the same version that the run read, where a recorded run made
    one. Inputs no recorded run made stay as they are (origins). A version's quality checks are those every run
    that wrote or read it recorded (as :func:`~prov_common.audit.quality_gaps.lineage_quality` counts Pandera
    results): each of its nodes shows them all; a dataset without a version, its own and those of the reads linked
    to it. Then every data node learns the other
    datasets that hold the same content (``also``): a fact to show, never an edge; the graph's ``holders`` keep
    them by version.
    """
    generator = {edge.target: edge.source for edge in graph.edges if edge.kind == GENERATED}
    made: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in generator:
        made[_identity(graph.nodes[key])].append(key)

    def ended(key: str) -> str | None:
        return graph.nodes[generator[key]].made_at

    same: dict[tuple[str, str], list[Node]] = defaultdict(list)  # a validation is of a version, whichever run recorded it
    for node in graph.nodes.values():
        if node.kind != RUN and node.version:
            same[_identity(node)].append(node)
    edges: set[Edge] = set()
    checked: dict[str, list[Node]] = defaultdict(list)  # reads linked to a version-less generation, whose checks it gets
    for edge in graph.edges:
        if edge.kind == USED and edge.source not in generator:
            node, reader = graph.nodes[edge.source], graph.nodes[edge.target]
            candidates = [k for k in made.get(_identity(node), ()) if generator[k] != edge.target]
            chosen = pick_generation(candidates, reader.read_at, ended,
                                     lambda key: graph.nodes[generator[key]].state == COMPLETE)
            if chosen:
                edge = Edge(chosen, edge.target, USED)
                if not node.version:  # a version's reads are among ``same``
                    checked[chosen].append(node)
        edges.add(edge)
    linked = {e.source for e in edges} | {e.target for e in edges}
    nodes = {k: n for k, n in graph.nodes.items() if k in linked or n.kind == RUN}
    # a reader's validation of what it read (a Pandera operator) is of that version, and so is a check another
    # writer of the same bytes there recorded
    of_version = {identity: _checks(group) for identity, group in same.items()}
    for key, node in nodes.items():
        if node.kind != RUN and node.version:
            nodes[key] = replace(node, **of_version[_identity(node)])
        elif key in checked:
            nodes[key] = replace(node, **_checks([node, *checked[key]]))
    ordered = sorted(edges)
    holders = content_holders(LineageGraph(nodes, ordered))
    shared = {version: tuple(sorted(held.items(), key=lambda item: item[1])) for version, held in holders.items()}
    places = {version: {entity: i for i, (entity, _) in enumerate(held)} for version, held in shared.items()}
    for key, node in nodes.items():
        if node.kind != RUN and node.version:
            here, version = version_entity(node), normal_version(node.version)
            nodes[key] = replace(node, also=OtherHolders(shared[version], here, places[version][here])
                                 if here in holders.get(version, {}) else ())
    return LineageGraph(nodes=dict(sorted(nodes.items())), edges=ordered, holders=holders)


def sourceable(graph: LineageGraph) -> set[str]:
    """The versions of ``graph`` (reads resolved) that a registered source with their digest names, by id, as the
    audit's lineage names them (:meth:`~prov_common.audit.lineage.LineageIndex.trace`): those a run read that no
    recorded run generated (origins), and those generated only by runs that recorded no inputs (where their data
    came from is not recorded: a source with their digest says)."""
    makers: dict[str, set[str]] = defaultdict(set)
    using: set[str] = set()
    for edge in graph.edges:
        if edge.kind == GENERATED:
            makers[edge.target].add(edge.source)
        elif edge.kind == USED:
            using.add(edge.target)
    read = {edge.source for edge in graph.edges if edge.kind == USED and edge.source not in makers}
    blind = {key for key, runs in makers.items() if not runs & using}
    return {key for key in read | blind if graph.nodes[key].version}


def content_holders(graph: LineageGraph) -> dict[str, dict[str, tuple[str, str]]]:
    """The datasets that hold each content digest (normalised: its hex digits in lower case) in ``graph``, reads
    resolved, each as the id of its ``tdprov:DatasetVersion`` (:func:`version_entity`) with its ``(namespace, name)``:
    a version only failed runs generated and no run read is left out
    (:func:`~prov_common.w3cprov.identity.holds_content`), and so is a version that is no content digest (another
    producer's ``3`` in two tables names no equal bytes, nor its ``sha256:<hex>`` stated ``tdprov:opaqueVersion``), as
    a run's own PROV states ``alternateOf``."""
    states: dict[tuple[str, str], list[str | None]] = defaultdict(list)
    read: set[tuple[str, str]] = set()
    for edge in graph.edges:
        data = graph.nodes[edge.source if edge.kind == USED else edge.target]
        key = _identity(data)
        if edge.kind == USED:
            read.add(key)
        else:
            states[key].append(graph.nodes[edge.source].state)
    holders: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for node in graph.nodes.values():
        if node.kind == RUN or node.opaque or not ids.names_content(node.version):
            continue
        key, entity = _identity(node), version_entity(node)
        if entity and holds_content(states.get(key, ()), key in read):
            holders[key[1]][entity] = (node.namespace or "", node.dataset or "")
    return dict(holders)
