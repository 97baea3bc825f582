"""Croissant 1.0 JSON-LD of a dataset version, with Croissant RAI fields and PROV links (no I/O).

The version is the document's only ``sc:Dataset``; its sources and runs are ``prov:Entity`` and
``prov:Activity`` nodes it points to (``prov:wasDerivedFrom``, ``isBasedOn``; ``prov:wasGeneratedBy`` its one
generating run, ``prov:wasInfluencedBy`` the runs before it). The version and the runs have the IRIs of
``tdprov export``'s PROV, so the two documents merge into one graph.
Its data is one ``cr:FileObject`` with a fetchable ``contentUrl`` (``file://`` or ``s3://``) and the
SHA-256 of its bytes; a sharded version (a folder, an S3 prefix or a glob) is one ``cr:FileObject`` per
shard, each with its URL, SHA-256 and, as ``identifier``, its leaf of the version's shard tree. A single table
file's columns are one ``cr:RecordSet`` reading from it, those of shards of one table one per shard
(:func:`record_sets`). Files are
described only when their bytes were read and still are this version. A file's ``@id`` is absolute, under
the version's IRI (:func:`file_iri`, :func:`shard_iri`), so records loaded into one graph keep their files apart.
"""
from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from prov_common.audit.model import RunRecord
from prov_common.hashing.remote import without_query
from prov_common.sources.checksums import FileFacts, ShardFacts
from prov_common.sources.dta import UNKNOWN
from prov_common.sources.media import OCTET_STREAM, media_type_of_name
from prov_common.sources.model import SourceRecord, source_iri
from prov_common.sources.training_record import RecordFacts, dta_record, personal_data, unique
from prov_common.store.keys import location_uri
from prov_common.w3cprov import ids

CROISSANT_1_0 = "http://mlcommons.org/croissant/1.0"
# The JSON-LD context of the Croissant 1.0 specification's datasets, plus the PROV-O prefix.
CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "prov": "http://www.w3.org/ns/prov#",
    "tdprov": ids.TDPROV.uri,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    # PROV-O's times are xsd:dateTime (the context's default language would make them language-tagged strings)
    "prov:startedAtTime": {"@type": "xsd:dateTime"},
    "prov:endedAtTime": {"@type": "xsd:dateTime"},
}


def version_iri(facts: RecordFacts) -> str:
    """The version's IRI in ``tdprov export``'s PROV: the generation by its run, else (an origin) the version."""
    d, run = facts.dataset, facts.generator
    local = ids.generation_local(d.namespace, d.name, facts.version, run.run_id) if run else ids.version_local(d.namespace, d.name, facts.version)
    return ids.TDPROV[local].uri


def run_iri(run_id: str) -> str:
    """A run's IRI in ``tdprov export``'s PROV, so that the record and the exported PROV share their nodes."""
    return ids.TDPROV[ids.run_local(run_id)].uri


def file_iri(version: str) -> str:
    """The IRI of the one file of the version whose IRI is ``version``."""
    return f"{version}/file"


def shard_iri(version: str, path: str) -> str:
    """The IRI of the shard at ``path`` (inside the dataset) of the version whose IRI is ``version``.

    Everything in ``path`` but ASCII letters, digits, ``-._~`` and ``/`` is percent-encoded (UTF-8), so
    spaces, ``#`` and ``%`` in shard names give a valid IRI without whitespace, one per path."""
    return f"{version}/shard/{quote(path, safe='/')}"


def _source_node(s: SourceRecord) -> dict[str, Any]:
    return {"@id": source_iri(s), "@type": "prov:Entity", "name": s.title or s.name, "identifier": s.digest, "license": s.license,
            "creator": {"@type": "sc:Organization", "name": s.issuer}, "url": location_uri(s.location),
            "countryOfOrigin": list(s.origin_geography) or None}


# The name mlcroissant (1.1) reads a format by, where it is not the registered media type tdprov gives first.
READER_MEDIA_TYPES = {"application/vnd.apache.parquet": "application/x-parquet", "application/jsonl": "application/jsonlines"}


def _file_object(node_id: str, name: str, url: str | None, media_type: str | None, sha256: str, size: int | None,
                 identifier: str) -> dict[str, Any]:
    also = READER_MEDIA_TYPES.get(media_type or "")
    return {"@type": "cr:FileObject", "@id": node_id, "name": name, "contentUrl": url,
            "encodingFormat": [media_type, also] if also else media_type,
            "sha256": sha256, "contentSize": f"{size} B" if size is not None else None, "identifier": identifier}


def distribution(facts: RecordFacts, checked: FileFacts) -> list[dict[str, Any]]:
    """The version's files as Croissant ``cr:FileObject`` nodes: the one file, or every shard (named by its path
    in the dataset, e.g. ``part-00000.parquet``); none when their bytes were not vouched for."""
    version = version_iri(facts)
    if checked.sha256:
        name = without_query(facts.location or facts.dataset.name).rstrip("/").rsplit("/", 1)[-1] or facts.dataset.name
        return [_file_object(file_iri(version), name, facts.content_url, facts.media_type or OCTET_STREAM, checked.sha256,  # required
                             checked.size, facts.version)]
    return [_file_object(shard_iri(version, s.path), s.path, location_uri(s.location), media_type_of_name(s.path), s.sha256, s.size, s.digest)
            for s in checked.shards]


def data_type(logical: str) -> str | None:
    """The Croissant data type of a column of tdprov's logical type (docs/content-hash.md), None when it has none
    that mlcroissant reads back as the same values (decimals, binary, times, durations, nested types, nulls)."""
    if logical.startswith(("int", "uint")):
        return "sc:Integer"
    if logical.startswith("float"):
        return "sc:Float"
    if logical.startswith("timestamp["):
        return "sc:DateTime"
    return {"bool": "sc:Boolean", "string": "sc:Text", "date32[day]": "sc:Date"}.get(logical)


def record_sets(version: str, checked: FileFacts) -> tuple[list[dict[str, Any]], list[str]]:
    """The version's rows as ``cr:RecordSet`` nodes: for the one table file whose bytes were vouched for, one
    (``@id`` ``<version IRI>/records``) with a field per column, its Croissant data type, extracted from that file's
    column; for a sharded version whose shards are tables of one format and one schema, one per shard in path order
    (``<shard IRI>/records``, named by the shard's path) of the same fields, each reading its shard's FileObject, so
    that every shard's ``sha256`` is checked as its rows are read. None for a file that is no table or shards none of
    which is one; shards of several formats or schemas have none, and the limitations say why. Columns without a data
    type and index levels (a CSV whose rows are wider than its header) are left out, named by the limitations."""
    if checked.sha256:
        fields, limitations = _typed_columns(checked)
        return _record_set(f"{version}/records", "records", file_iri(version), fields), limitations
    shards = checked.shards
    if not any(s.columns for s in shards):
        return [], []
    unlike = _unlike_shard(shards)
    if unlike:
        return [], [f"no record set: {unlike}, and a record set is one table"]
    fields, limitations = _typed_columns(shards[0])  # every shard has its columns
    return [node for s in shards for iri in [shard_iri(version, s.path)]
            for node in _record_set(f"{iri}/records", s.path, iri, fields)], limitations


def _typed_columns(table: FileFacts | ShardFacts) -> tuple[list[tuple[str, str]], list[str]]:
    """The columns of ``table`` that have a Croissant data type (name, data type), and the limitations naming the
    columns and index levels a record set of them leaves out."""
    typed = [(column, logical, data_type(logical)) for column, logical in table.columns]
    left = [f"{column} ({logical})" for column, logical, kind in typed if not kind]
    levels = [f"{column} ({logical})" for column, logical in table.index_levels]
    limitations = ([f"not in the record set, having no Croissant data type: {', '.join(left)}"] if left else []) + (
        [f"not in the record set, being index levels as the file is read as a table: {', '.join(levels)}"] if levels else [])
    return [(column, kind) for column, _, kind in typed if kind], limitations


def _record_set(node: str, name: str, file: str, fields: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The ``cr:RecordSet`` ``node`` reading ``fields`` (name, data type) from the FileObject ``file``; none without a
    field."""
    return [{"@type": "cr:RecordSet", "@id": node, "name": name,
             "field": [{"@type": "cr:Field", "@id": f"{node}/{quote(column, safe='')}", "name": column, "dataType": kind,
                        "source": {"fileObject": {"@id": file}, "extract": {"column": column}}} for column, kind in fields]}
            ] if fields else []


def _unlike_shard(shards: tuple[ShardFacts, ...]) -> str | None:
    """Why the shards are not one table: the first shard that is no table, or is of another format or has other
    columns or index levels than the first shard; None when they are one."""
    first = shards[0]
    for s in shards:
        if not s.columns:
            return f"shard {s.path} is not a table (Parquet, CSV or JSON lines)"
        if media_type_of_name(s.path) != media_type_of_name(first.path):
            return f"shard {s.path} is {media_type_of_name(s.path)}, shard {first.path} {media_type_of_name(first.path)}"
        if (s.columns, s.index_levels) != (first.columns, first.index_levels):
            return f"shard {s.path} has other columns than {first.path}: {_columns(s)} against {_columns(first)}"
    return None


def _columns(shard: ShardFacts) -> str:
    return "(" + ", ".join(f"{name} {logical}" for name, logical in (*shard.index_levels, *shard.columns)) + ")"


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "$": r"\$", "&": r"\&", "#": r"\#",
                   "_": r"\_", "^": r"\^{}", "~": r"\~{}"}


def latex_text(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, for a BibTeX field that LaTeX typesets."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in text)


def cite_key(facts: RecordFacts) -> str:
    """A BibTeX key unique per dataset version: ``tdprov-<12 hex of the digest>-<8 hex of the dataset's name>`` (two
    datasets of equal bytes are two entries; a version that is no digest gives 12 hex of its SHA-256,
    :attr:`~prov_common.sources.training_record.RecordFacts.version_tag`)."""
    return f"tdprov-{facts.version_tag[1]}-{hashlib.sha256(facts.dataset.label.encode()).hexdigest()[:8]}"


def _url(url: str) -> str:
    """``\\url{URL}``, which typesets ``%``, ``#`` and ``_`` as they are; a URL with a brace or backslash (an S3 key
    may hold them, and S3 does not decode ``%7B``) as escaped text instead, so the entry's braces stay balanced."""
    return latex_text(url) if any(c in url for c in "{}\\") else f"\\url{{{url}}}"


def _cite_as(facts: RecordFacts, url: str | None) -> str | None:
    """A BibTeX ``@misc`` entry: the issuer double-braced (an organisation, never split into persons at "and"),
    LaTeX specials escaped, the URL in ``\\url{}`` (:func:`_url`)."""
    if not facts.issued:
        return None
    parts = [f"title = {{{latex_text(facts.dataset.label)}}}", f"author = {{{{{latex_text(facts.issuer)}}}}}" if facts.issuer else None,
             f"year = {{{facts.issued[:4]}}}", f"version = {{{latex_text(facts.semver)}}}" if facts.semver else None,
             f"howpublished = {{{_url(url)}}}" if url else None, f"note = {{{'content digest' if facts.dataset.names_content else 'version'} {latex_text(facts.version)}}}"]
    return f"@misc{{{cite_key(facts)}, " + ", ".join(p for p in parts if p) + "}"


def _timeframe(generation: Any) -> tuple[list[str], str | None]:
    """``rai:dataCollectionTimeFrame`` (start, end) from D&TA's range of dates, only when both ends are known; with
    one end unknown, none, and the limitation that names that end (neither known: D&TA's unknown field is a gap)."""
    if not isinstance(generation, dict):
        return [], None
    start, end = generation["start"], generation["end"]
    if UNKNOWN not in (start, end):
        return [start, end], None
    missing, known = ("start", f"end, {end}") if start == UNKNOWN else ("end", f"start, {start}")
    return [], (f"no data collection timeframe: the collection {missing} is not recorded, only its {known} "
                f"(tdprov source add --collection-{missing})")


def croissant_record(facts: RecordFacts) -> dict[str, Any]:
    """Croissant 1.0 JSON-LD of the version: one ``sc:Dataset`` with RAI fields, its FileObjects and PROV links."""
    sources, dta = facts.own_versions, dta_record(facts)  # one record per source version, as D&TA reads them
    checked = facts.file_facts()
    timeframe, half_known = _timeframe(dta["rangeOfDatesForDataGeneration"])
    records, unread = record_sets(version_iri(facts), checked)
    limits = (list(dta["knownGaps"]) + ([f"no checksum: {checked.problem}"] if checked.problem else [])
              + ([half_known] if half_known else []) + unread)
    url = facts.content_url or facts.metadata_location
    doc: dict[str, Any] = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "@id": version_iri(facts),
        "name": dta["datasetTitle"],  # the dataset with its namespace, or a source by its title
        "description": f"{dta['datasetTitle']} version {facts.version}, with its provenance recorded by tdprov",
        "conformsTo": CROISSANT_1_0,
        "identifier": facts.version,
        "url": url,
        "version": facts.semver,
        "datePublished": facts.issued,
        "citeAs": _cite_as(facts, url),
        "license": unique([s.license for s in sources]),
        "creator": [{"@type": "sc:Organization", "name": facts.issuer}] if facts.issuer else None,
        "distribution": distribution(facts, checked),
        "recordSet": records,
        "isBasedOn": [{"@id": source_iri(s)} for s in facts.own_sources],  # every record, a node of tdprov export
        "prov:wasDerivedFrom": [_source_node(s) for s in facts.sources],  # as tdprov export states it
        "prov:qualifiedDerivation": [{"@type": "prov:Derivation", "prov:entity": {"@id": source_iri(s)}, "tdprov:matchedByContent": True}
                                     for s in facts.content_matches],
        "prov:wasGeneratedBy": _activity(facts.generator) if facts.generator else None,
        "prov:wasInfluencedBy": [_activity(r) for r in facts.trace.runs[1:]],
        "rai:dataCollection": "; ".join(unique([f"{s.name}: {s.generation_method}" for s in sources if s.generation_method])) or None,
        "rai:dataCollectionTimeFrame": timeframe or None,
        "rai:personalSensitiveInformation": [personal_data(sources)] if personal_data(sources) else None,
        "rai:dataUseCases": unique([s.intended_use for s in sources]) or None,
        "rai:dataPreprocessingProtocol": [f"{r.job} (run {r.run_id}, {r.state})" for r in reversed(facts.trace.runs)] or None,
        "rai:dataLimitations": limits or None,
    }
    return _drop_empty(doc)


def _activity(run: RunRecord) -> dict[str, Any]:
    """A run as ``tdprov export`` states it: its start only when its events hold a START (mapping 5)."""
    return {"@id": run_iri(run.run_id), "@type": "prov:Activity", "name": run.job,
            "prov:startedAtTime": run.started_at if run.start_recorded else None, "prov:endedAtTime": run.ended_at}


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value
