"""Which registered sources name a dataset version no recorded run generated: one rule for every reader (no I/O).

The lineage walk (``tdprov lineage``, ``tdprov record``, the audit) and ``tdprov export`` all name an origin so:
the sources registered with its digest at the dataset's own location, else (matched by content only) every
source registered with its digest. An opaque version (another producer's text written as a digest, which tdprov
never checked: :attr:`~prov_common.w3cprov.events.DatasetState.opaque_version`) names no content, so it is never
matched by content. A walk over several datasets (a trace, the audit's picture) tells a source matched by content
only when no dataset it reached is at that source's location, whichever it reached first (:func:`add_matches`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prov_common.sources.model import SourceRecord
from prov_common.w3cprov.identity import at_location, located_dataset, normal_version

SourcesByDigest = Mapping[str, Sequence[SourceRecord]]
"""Registered sources by their normalised digest (:func:`~prov_common.w3cprov.identity.normal_version`)."""


def sources_by_digest(records: Iterable[SourceRecord]) -> dict[str, list[SourceRecord]]:
    """``records`` grouped by normalised digest, each group in the order given."""
    found: dict[str, list[SourceRecord]] = {}
    for s in records:
        found.setdefault(normal_version(s.digest), []).append(s)
    return found


def matching_sources(found: SourcesByDigest, namespace: str, name: str, version: str | None, *,
                     opaque: bool = False) -> tuple[list[SourceRecord], bool]:
    """The sources of ``found`` that name the dataset ``namespace``/``name`` at ``version``: those registered at its
    location (``True``), else every one with the digest, matched by content only (``False``), unless the version is
    ``opaque`` (it names no content)."""
    candidates = list(found.get(normal_version(version), ())) if version else []
    here = [s for s in candidates if at_location(located_dataset(s.location), namespace, name)]
    return (here, True) if here or opaque else (candidates, False)


def add_matches(reached: list[SourceRecord], by_content: list[SourceRecord], found: Iterable[SourceRecord],
                located: bool) -> None:
    """Add ``found``, what :func:`matching_sources` named for one dataset of a walk (``located``: at its location), to
    ``reached``, the sources the walk reached so far in order, keeping in ``by_content`` those of them that no dataset
    reached at their location: a source read at its own location anywhere on the walk is matched by location, whether
    a copy of its bytes elsewhere reached it before or after."""
    for s in found:
        if s not in reached:
            reached.append(s)
            if not located:
                by_content.append(s)
        elif located and s in by_content:
            by_content.remove(s)


def any_matching_source(found: SourcesByDigest, namespace: str, name: str, version: str | None, *,
                        opaque: bool = False) -> bool:
    """Whether :func:`matching_sources` names any source, without listing them: one with the digest, registered at the
    dataset's location when the version is ``opaque``."""
    candidates = found.get(normal_version(version), ()) if version else ()
    return any(at_location(located_dataset(s.location), namespace, name) for s in candidates) if opaque else bool(candidates)


__all__ = ["SourcesByDigest", "add_matches", "any_matching_source", "matching_sources", "sources_by_digest"]
