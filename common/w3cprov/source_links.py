"""What the merged PROV of a store says of registered sources: the origins they name (no I/O).

An origin is a version a run read that no recorded run generated. A verified source record names it by the one
rule every reader follows (:func:`~prov_common.sources.matching.matching_sources`: registered at the dataset's
location with its digest, else matched by content). Each such record becomes an entity with the IRI the Croissant
record gives it (:func:`~prov_common.sources.model.source_iri`), typed ``tdprov:RegisteredSource``, with its licence
(``dcterms:license``), where the data was registered (``prov:atLocation``), its signed record in the store
(``rdfs:seeAlso``) and its digest (``tdprov:digest``), attributed (``wasAttributedTo``) to its issuer, a
``prov:Organization``. The origin ``wasDerivedFrom`` it, qualified ``tdprov:matchedByContent true`` where only the
digest matched. Each run's own bundle is untouched: these statements exist only in the merged export.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from prov.constants import PROV, PROV_LABEL, PROV_LOCATION, PROV_TYPE
from prov.identifier import Identifier, Namespace, QualifiedName
from prov.model import ProvDocument

from prov_common.sources.matching import matching_sources, sources_by_digest
from prov_common.sources.model import SourceRecord, source_iri
from prov_common.sources.registry import source_key
from prov_common.store.keys import location_iri, object_uri
from prov_common.w3cprov import ids
from prov_common.w3cprov.graph import LineageGraph, sourceable
from prov_common.w3cprov.ids import DCTERMS, TDPROV

RDFS = Namespace("rdfs", "http://www.w3.org/2000/01/rdf-schema#")
REGISTERED_SOURCE = TDPROV["RegisteredSource"]
MATCHED_BY_CONTENT = TDPROV["matchedByContent"]
_NCNAME_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")


def source_name(iri: str) -> QualifiedName:
    """A source's :func:`~prov_common.sources.model.source_iri` as a qualified name whose local part is an XML NCName
    (PROV-XML ids are ``xsd:QName``): the digest's hex from its first letter, in a namespace of its own holding the
    rest (``urn:tdprov:source:<name>:<algo>:<leading digits>``; a digest of digits only, never met in practice, keeps
    its hex whole)."""
    tail = _NCNAME_TAIL.search(iri)
    local = tail.group() if tail else iri.rsplit(":", 1)[1]
    namespace = iri[: len(iri) - len(local)]
    # source names are [A-Za-z0-9._-]: an NCName after "source-", one per namespace (the algorithm and digits end it)
    prefix = "source-" + namespace.removeprefix("urn:tdprov:source:").replace(":", "-")
    return Namespace(prefix, namespace)[local]


def _issuer(document: ProvDocument, issuer: str, agents: set[QualifiedName]) -> QualifiedName:
    agent = TDPROV[ids.agent_local("issuer", issuer)]
    if agent not in agents:
        agents.add(agent)
        document.agent(agent, {PROV_TYPE: PROV["Organization"], PROV_LABEL: ids.xml_text(issuer)})
    return agent


def _source(document: ProvDocument, s: SourceRecord, name: QualifiedName, store_uri: str,
            agents: set[QualifiedName]) -> None:
    attributes: list[tuple[QualifiedName, object]] = [
        (PROV_TYPE, REGISTERED_SOURCE), (PROV_LABEL, ids.xml_text(s.title or s.name)),
        (DCTERMS["license"], ids.xml_text(s.license)), (TDPROV["digest"], s.digest)]
    if (where := location_iri(s.location)) is not None:
        attributes.append((PROV_LOCATION, Identifier(ids.xml_text(where))))
    if store_uri:
        attributes.append((RDFS["seeAlso"], Identifier(object_uri(store_uri, source_key(s.name, s.digest)))))
    document.entity(name, attributes)
    document.attribution(name, _issuer(document, s.issuer, agents))


def name_sources(document: ProvDocument, graph: LineageGraph, records: Iterable[SourceRecord], store_uri: str = "") -> ProvDocument:
    """``document`` (the merged PROV whose graph is ``graph``) with the registered sources of its origins stated.

    ``records`` must be verified source records only; ``store_uri`` locates their signed records (none: no
    ``rdfs:seeAlso``)."""
    found = sources_by_digest(records)
    if not found:
        return document
    stated: dict[str, QualifiedName] = {}  # source IRI -> its entity
    agents: set[QualifiedName] = set()
    for node in (graph.nodes[key] for key in sorted(sourceable(graph))):  # the versions a source can name, by id
        matched, located = matching_sources(found, node.namespace or "", node.dataset or "", node.version, opaque=node.opaque)
        for s in matched:
            iri = source_iri(s)
            if iri not in stated:
                name = stated[iri] = source_name(iri)
                document.add_namespace(name.namespace)
                _source(document, s, name, store_uri, agents)
            document.derivation(ids.node_name(node.id), stated[iri],
                                other_attributes=None if located else [(MATCHED_BY_CONTENT, True)])
    if stated:
        document.add_namespace(RDFS)
    return document
