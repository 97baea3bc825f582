"""Merging PROV documents and writing them as PROV-JSON (byte-deterministic), PROV-N, PROV-XML or Turtle."""
from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

from prov.model import ProvDocument, ProvRecord
from prov.serializers import Serializer

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError
from prov_common.text import counted
from prov_common.w3cprov import ids

FORMATS = ("json", "provn", "xml", "ttl")
MEDIA_TYPES = {
    "json": "application/json",
    "provn": "text/provenance-notation",
    "xml": "application/xml",
    "ttl": "text/turtle",
}


def _combine(records: list[ProvRecord]) -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]:
    """Formal and other attributes of records sharing a type and identifier, unified.

    Formal attributes (times, the entity of a usage, ...) must agree where both are given; the other
    attributes are unioned.
    """
    formal: dict[Any, Any] = {}
    extra: dict[tuple[Any, Any], None] = {}
    for record in records:
        for name, value in record.formal_attributes:
            if value is None:
                continue
            if formal.setdefault(name, value) != value:
                raise BadInputError(
                    f"records of {record.identifier} disagree on {name}: {formal[name]} and {value}.",
                    fix="each run must be recorded once; verify the bundles with 'tdprov verify'",
                )
        extra.update(dict.fromkeys(record.extra_attributes))
    return list(formal.items()), list(extra)


def merge_documents(documents: Iterable[ProvDocument]) -> ProvDocument:
    """One document holding every record of ``documents``.

    Identifiers are stable across runs, so this is a plain union: records that are equal are kept once
    and records sharing a type and identifier (a dataset seen by two runs, a parent run named by its
    children) become one record with the union of their attributes.
    """
    merged = ProvDocument()
    for namespace in ids.NAMESPACES:
        merged.add_namespace(namespace)
    anonymous: dict[ProvRecord, None] = {}
    named: dict[tuple[Any, Any], list[ProvRecord]] = {}
    for document in documents:
        for namespace in document.get_registered_namespaces():
            merged.add_namespace(namespace)
        for record in document.get_records():
            if record.identifier is None:
                anonymous.setdefault(record, None)
                continue
            group = named.setdefault((record.get_type(), record.identifier), [])
            if record not in group:
                group.append(record)
    for (record_type, identifier), group in named.items():
        if len(group) == 1:
            merged.add_record(group[0])
        else:
            merged.new_record(record_type, identifier, *_combine(group))
    for record in anonymous:
        merged.add_record(record)
    return merged


def _sort_values(value: Any) -> Any:
    """Lists in PROV-JSON are unordered multi-values (or records sharing an id): sort and dedupe them."""
    if isinstance(value, dict):
        return {key: _sort_values(item) for key, item in value.items()}
    if isinstance(value, list):
        items = {canonical_bytes(item): item for item in (_sort_values(v) for v in value)}
        return [items[key] for key in sorted(items)]
    return value


def _json_serializer(document: ProvDocument | None = None) -> Serializer:
    """The PROV-JSON serializer alone: ``ProvDocument.serialize`` and ``deserialize`` load every serializer
    (rdflib and lxml with theirs), which PROV-JSON does not need."""
    from prov.serializers.provjson import ProvJSONSerializer

    return ProvJSONSerializer(document)


def _prov_json(document: ProvDocument) -> str:
    """``document.serialize(format="json")``, through :func:`_json_serializer`."""
    buffer = io.StringIO()
    _json_serializer(document).serialize(buffer)
    return buffer.getvalue()


def canonical_prov_json(document: ProvDocument) -> bytes:
    """PROV-JSON as RFC 8785 canonical bytes: same records, same bytes.

    Blank-node ids that ``prov`` numbers in record order are replaced by ``_:`` plus a digest of the
    record's content, and multi-valued attributes are sorted, so neither the order in which records
    were added nor Python's hash seed changes the output.
    """
    raw = loads(_prov_json(document))
    out: dict[str, Any] = {}
    for section, records in raw.items():
        if section == "prefix" or not isinstance(records, dict):
            out[section] = records
            continue
        renamed: dict[str, Any] = {}
        for identifier, content in records.items():
            content = _sort_values(content)
            if identifier.startswith("_:"):
                identifier = "_:" + hashlib.sha256(section.encode() + canonical_bytes(content)).hexdigest()[:24]
            if identifier in renamed:
                content = _sort_values([*(renamed[identifier] if isinstance(renamed[identifier], list) else [renamed[identifier]]),
                                        *(content if isinstance(content, list) else [content])])
                content = content[0] if len(content) == 1 else content
            renamed[identifier] = content
        out[section] = renamed
    return canonical_bytes(out)


def serialize(document: ProvDocument, fmt: str = "json") -> bytes:
    """``document`` as bytes in ``fmt``: json (canonical PROV-JSON), provn, xml (PROV-XML) or ttl (Turtle)."""
    if fmt == "json":
        return canonical_prov_json(document)
    if fmt == "provn":
        return document.get_provn().encode("utf-8") + b"\n"
    if fmt == "xml":
        stream = io.BytesIO()
        document.serialize(stream, format="xml")
        return stream.getvalue()
    if fmt == "ttl":
        return _turtle(document)
    raise BadInputError(f"unknown PROV format {fmt!r}.", fix=f"use one of {', '.join(FORMATS)}")


# PROV-O qualification pattern: (qualifying property, influencer property, unqualified property)
_QUALIFIED = (
    ("qualifiedGeneration", "activity", "wasGeneratedBy"),
    ("qualifiedUsage", "entity", "used"),
    ("qualifiedDerivation", "entity", "wasDerivedFrom"),
    ("qualifiedAssociation", "agent", "wasAssociatedWith"),
    ("qualifiedDelegation", "agent", "actedOnBehalfOf"),
    ("qualifiedAttribution", "agent", "wasAttributedTo"),
    ("qualifiedInvalidation", "activity", "wasInvalidatedBy"),
    ("qualifiedStart", "entity", "wasStartedBy"),
    ("qualifiedEnd", "entity", "wasEndedBy"),
    ("qualifiedCommunication", "activity", "wasInformedBy"),
    ("qualifiedInfluence", "influencer", "wasInfluencedBy"),
    ("qualifiedRevision", "entity", "wasRevisionOf"),
    ("qualifiedQuotation", "entity", "wasQuotedFrom"),
    ("qualifiedPrimarySource", "entity", "hadPrimarySource"),
)


def _turtle(document: ProvDocument) -> bytes:
    """Turtle as PROV-O states it: the unqualified triple beside every qualified relation, and locations as nodes.

    The ``prov`` library writes only the qualified form when a relation has a time, a plan or other
    attributes (``prov:qualifiedGeneration [ prov:activity :run ]``), which plain queries such as
    ``?v prov:wasGeneratedBy ?run`` do not see; PROV-O defines both forms, so both are written. It writes
    PROV-DM's ``prov:location`` URI as an ``xsd:anyURI`` literal, where PROV-O's ``prov:atLocation`` is an
    object property whose range is ``prov:Location``: the location is stated as that IRI, typed ``prov:Location``.
    It writes an ``rdfs:seeAlso`` URI (a source's signed record) as such a literal too, where RDFS makes its value a
    resource: it is stated as that IRI."""
    stream = io.BytesIO()
    document.serialize(stream, format="rdf", rdf_format="turtle")
    return _prov_o_forms(stream.getvalue(), add=True)


def _prov_o_forms(turtle: bytes, add: bool) -> bytes:
    """Turtle with the unqualified triple of every qualified PROV-O relation added, each ``xsd:anyURI``
    location made a ``prov:Location`` node and each ``xsd:anyURI`` ``rdfs:seeAlso`` its IRI, or (``add`` false) all
    undone, as the ``prov`` library reads Turtle (it would take an unqualified triple for a second relation, and a
    location node or an IRI for a name)."""
    from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef

    prov_o = Namespace("http://www.w3.org/ns/prov#")
    graph = Graph()
    graph.parse(data=turtle, format="turtle")
    for qualifying, influencer, unqualified in _QUALIFIED:
        for subject, node in list(graph.subject_objects(prov_o[qualifying])):
            for target in list(graph.objects(node, prov_o[influencer])):
                (graph.add if add else graph.remove)((subject, prov_o[unqualified], target))
    for predicate, typed in ((prov_o.atLocation, prov_o.Location), (RDFS.seeAlso, None)):  # the IRI typed so, if at all
        for subject, value in list(graph.subject_objects(predicate)):
            if add and isinstance(value, Literal) and value.datatype == XSD.anyURI:
                graph.remove((subject, predicate, value))
                graph.add((subject, predicate, URIRef(str(value))))
                if typed is not None:
                    graph.add((URIRef(str(value)), RDF.type, typed))
            elif not add and isinstance(value, URIRef):
                graph.remove((subject, predicate, value))
                if typed is not None:
                    graph.remove((value, RDF.type, typed))
                graph.add((subject, predicate, Literal(str(value), datatype=XSD.anyURI)))
    return graph.serialize(format="turtle").encode("utf-8")


def json_records(content: Any) -> int:
    """How many records a parsed PROV-JSON document states: the entries of each section (a list under one identifier
    is that many records), those of its named bundles included."""
    if not isinstance(content, dict):
        return 0
    count = 0
    for section, records in content.items():
        if section == "bundle" and isinstance(records, dict):
            count += sum(json_records(bundle) for bundle in records.values())
        elif section != "prefix" and isinstance(records, dict):
            count += sum(len(value) if isinstance(value, list) else 1 for value in records.values())
    return count


class _PastBound(Exception):
    pass


def skip_value(events: Iterator[tuple[str, Any]], first: str) -> None:
    """Consume, from ``ijson.basic_parse`` ``events``, the rest of the value whose first event is ``first``."""
    depth = first in ("start_map", "start_array")
    while depth:
        event = next(events)[0]
        depth += event in ("start_map", "start_array")
        depth -= event in ("end_map", "end_array")


def _count_document(events: Iterator[tuple[str, Any]], counted_so_far: list[int], bound: int) -> None:
    """Count, as :func:`json_records` does, the records of the document whose ``start_map`` was just read, into
    ``counted_so_far[0]``; :class:`_PastBound` once they pass ``bound``."""
    for event, section in events:
        if event == "end_map":
            return
        first = next(events)[0]
        if first != "start_map" or section == "prefix":
            skip_value(events, first)
            continue
        for event, _ in events:  # the section's identifiers
            if event == "end_map":
                break
            first = next(events)[0]
            if section == "bundle":
                if first == "start_map":
                    _count_document(events, counted_so_far, bound)
                else:
                    skip_value(events, first)
                continue
            if first == "start_array":  # a list under one identifier: that many records
                for item, _ in events:
                    if item == "end_array":
                        break
                    counted_so_far[0] += 1
                    skip_value(events, item)
            else:
                counted_so_far[0] += 1
                skip_value(events, first)
            if counted_so_far[0] > bound:
                raise _PastBound


def records_past(data: bytes, bound: int) -> bool | None:
    """Whether the PROV-JSON ``data`` states more than ``bound`` records (as :func:`json_records` counts them), found by
    an incremental parser that stops once they pass it: parsing a document whole costs several times its size in
    memory (62 MB of three million empty records: 780 MB) before its records could be counted. False for data that is
    not one JSON object (left to the parser that reads it); None when the incremental parser stopped before the
    object's end (its records are then counted once parsed). A repeated key is counted each time, so a document it
    finds within the bound is within it as parsed too (where the last of equal keys is kept)."""
    import ijson

    events = ijson.basic_parse(io.BytesIO(data), use_float=True)
    try:
        if next(events)[0] == "start_map":
            _count_document(events, [0], bound)
    except _PastBound:
        return True
    except (ijson.JSONError, StopIteration, UnicodeDecodeError, ValueError):
        return None
    return False


def section_counts(stream: IO[bytes], sections: Iterable[str]) -> dict[str, int]:
    """How many identifiers each of ``sections`` of the PROV-JSON document read from ``stream`` holds (0 where it
    holds no object of them), counted by an incremental parser as the bytes are read, never holding the document (a
    repeated identifier counted each time); all 0 for data that is not one JSON object (left to the parser that reads
    it)."""
    import ijson

    counts = dict.fromkeys(sections, 0)
    events = ijson.basic_parse(stream, use_float=True)
    try:
        if next(events)[0] != "start_map":
            return counts
        for event, section in events:
            if event == "end_map":
                break
            first = next(events)[0]
            if section not in counts or first != "start_map":
                skip_value(events, first)
                continue
            found = 0  # a section given twice is read as the parser keeps it: the last one
            for event, _ in events:
                if event == "end_map":
                    break
                found += 1
                skip_value(events, next(events)[0])
            counts[section] = found
    except (ijson.JSONError, StopIteration, UnicodeDecodeError, ValueError):
        return dict.fromkeys(counts, 0)
    return counts


class TooManyRecords(BadInputError):
    """A PROV document, or the events it would be derived from, stating more records than a bounded reader takes."""


def deserialize(data: bytes, fmt: str = "json", max_records: int | None = None) -> ProvDocument:
    """Parse a PROV document written by :func:`serialize` (any of the four formats). With ``max_records`` (PROV-JSON
    only), a document stating more records is refused before any is built: a record costs about 2 KB of memory."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown PROV format {fmt!r}.", fix=f"use one of {', '.join(FORMATS)}")
    if fmt == "json":
        return _json_document(data, max_records)
    options = {"rdf_format": "turtle"} if fmt == "ttl" else {}
    try:
        if fmt == "ttl":
            data = _prov_o_forms(data, add=False)
        return ProvDocument.deserialize(content=data, format="rdf" if fmt == "ttl" else fmt, **options)
    except Exception as exc:
        raise BadInputError(f"cannot read PROV-{fmt.upper()}: {exc}", fix="pass a PROV document written by tdprov") from exc


def _json_document(data: bytes, max_records: int | None) -> ProvDocument:
    """PROV-JSON ``data`` read as tdprov reads JSON (:func:`~prov_common.canonical_json.loads`) and decoded as
    ``ProvDocument.deserialize(content=data)`` does, without loading every serializer; see :func:`deserialize`."""
    from prov.serializers.provjson import decode_json_document

    fix = "pass a PROV document written by tdprov"
    past = None if max_records is None else records_past(data, max_records)
    if past:
        raise TooManyRecords(f"it states more PROV records than a bundle tdprov writes holds ({max_records:,})", fix=fix)
    try:
        content = loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read PROV-JSON: {exc}", fix=fix) from exc
    if max_records is not None and past is None and (records := json_records(content)) > max_records:
        raise TooManyRecords(f"it states {counted(records, 'PROV record')}, more than a bundle tdprov writes holds "
                             f"({max_records:,})", fix=fix)
    document = ProvDocument()
    try:
        decode_json_document(content, document)
    except Exception as exc:
        raise BadInputError(f"cannot read PROV-JSON: {exc}", fix=fix) from exc
    return document
