"""Stable, NCName-safe PROV identifiers for jobs, runs, datasets, versions, agents and measurements.

Every local name starts with a letter and holds only ``[A-Za-z0-9._-]``, so it is a valid XML NCName
(PROV-XML), a PROV-N local name and a safe IRI fragment. Names are derived from the OpenLineage
identity of the thing alone (never from a counter), so the same dataset, job or version gets the same
identifier in every run and bundles merge by plain union. What a run wrote is named by the run as
well (:func:`generation_local`), so every such entity has exactly one generation however often a
deterministic pipeline re-runs.

Every identifier function takes ``legacy``: true gives the identifiers of PROV mappings 2 to 4, which
bundles of those versions sign and which are re-derived byte for byte. Those could give two things one
identifier when a name held a newline (the hashed fields were newline-joined: ``("s3://lake", "\\nq")``
and ``("s3://lake\\n", "q")`` were one dataset) or when a digest's algorithm was 16 hex digits (a digest
version then read as a hashed version of another dataset). Without it (mapping 5 on) both are told apart;
every other identifier is the same in both.
"""
from __future__ import annotations

import hashlib
import json
import re

from prov.identifier import Namespace, QualifiedName

from prov_common import PRODUCER
from prov_common.lineage.validate import UUID_TEXT

TDPROV = Namespace("tdprov", f"{PRODUCER}/ns#")
DQV = Namespace("dqv", "http://www.w3.org/ns/dqv#")
DCTERMS = Namespace("dcterms", "http://purl.org/dc/terms/")
NAMESPACES = (TDPROV, DQV, DCTERMS)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^(?P<algo>[a-z][a-z0-9]{1,15}):(?P<hex>[0-9a-fA-F]{16,128})$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
SLUG_MAX = 48


_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def node_name(node_id: str) -> QualifiedName:
    """The PROV name of a lineage graph node, from its id (``kind:local name``)."""
    return TDPROV[node_id.split(":", 1)[1]]


def xml_text(text: str) -> str:
    """``text`` with characters that XML 1.0 (and so PROV-XML) cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def short_hash(*parts: str, legacy: bool = False) -> str:
    """16 hex characters of SHA-256 over the parts: a stable disambiguator, one per tuple of parts.

    The parts are hashed newline-joined, unless (not ``legacy``) there are two or more and one holds a
    newline: then ``"\\x00" + json.dumps(parts)`` is hashed instead. That text never equals a newline-join
    of as many parts: the join of two or more parts holds a newline (its separator), while ``json.dumps``
    escapes every newline and control character. Two JSON texts are equal only for equal parts, and two
    joins of parts without newlines only for equal parts, so different tuples of one length hash different
    texts. Tuples without a newline hash as they always did, so their identifiers do not change.
    """
    if not legacy and len(parts) > 1 and any("\n" in part for part in parts):
        text = "\x00" + json.dumps(list(parts))
    else:
        text = "\n".join(parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def slug(text: str) -> str:
    """A readable, NCName-safe fragment of ``text`` (unsafe runs become ``_``; bounded length)."""
    cleaned = _UNSAFE.sub("_", text).strip("_.-")
    return cleaned[-SLUG_MAX:].lstrip("_.-") or "x"


def digest_local_name(value: str) -> str | None:
    """``blake3-<hex>`` for a content digest ``blake3:<hex>`` (any ``algo:hex``), else ``None``."""
    match = _DIGEST.match(value.strip())
    if match is None:
        return None
    return f"{match['algo']}-{match['hex'].lower()}"


def names_content(version: str | None) -> bool:
    """Whether ``version`` is a content digest, so that two datasets at it hold equal bytes ("same content",
    ``alternateOf``): another producer's version name (a Delta table's ``3``) names no bytes."""
    return version is not None and digest_local_name(version) is not None


def dataset_local(namespace: str, name: str, *, legacy: bool = False) -> str:
    return f"dataset-{slug(name)}-{short_hash(namespace, name, legacy=legacy)}"


def version_local(namespace: str, name: str, version: str, *, legacy: bool = False) -> str:
    """The dataset at a version: ``version-<dataset>-<algo>-<hex>`` for a content digest, else hashed.

    It names its dataset as well as its content, so equal bytes in two datasets are two entities. Not
    ``legacy``, a digest whose algorithm is 16 hex digits is hashed too: ``<algo>-<hex>`` would read as the
    ``<h16>-<h16>`` ending of a hashed version of a dataset whose name ends in this one's identifier."""
    dataset = dataset_local(namespace, name, legacy=legacy).removeprefix("dataset-")
    digest = digest_local_name(version)
    if digest and (legacy or not _HEX16.match(digest.split("-", 1)[0])):
        return f"version-{dataset}-{digest}"
    return f"version-{dataset}-{short_hash(namespace, name, version, legacy=legacy)}"


def generation_local(namespace: str, name: str, version: str | None, run_id: str, *, legacy: bool = False) -> str:
    """What one run wrote: the dataset (at ``version``) as generated by ``run_id``; one generation each."""
    written = version_local(namespace, name, version, legacy=legacy) if version else dataset_local(namespace, name, legacy=legacy)
    return f"{written}-by-{run_local(run_id)}"


def job_local(namespace: str, name: str, *, legacy: bool = False) -> str:
    return f"job-{slug(name)}-{short_hash(namespace, name, legacy=legacy)}"


def plan_local(namespace: str, name: str, code_version: str, *, legacy: bool = False) -> str:
    return f"plan-{slug(name)}-{short_hash(namespace, name, code_version, legacy=legacy)}"


def run_local(run_id: str) -> str:
    """``run-<uuid>`` (UUIDs lower-cased, as they compare case-insensitively); other ids escaped or hashed."""
    run_id = run_id.strip()
    if UUID_TEXT.match(run_id):
        return f"run-{run_id.lower()}"
    return f"run-{run_id}" if _SAFE_TOKEN.match(run_id) else f"run-{slug(run_id)}-{short_hash(run_id)}"


def agent_local(kind: str, name: str, *, legacy: bool = False) -> str:
    return f"{kind}-{slug(name)}-{short_hash(kind, name, legacy=legacy)}"


def metric_local(kind: str, name: str, column: str | None, *, legacy: bool = False) -> str:
    label = f"{name}.{column}" if column else name
    return f"metric-{slug(label)}-{short_hash(kind, name, column or '', legacy=legacy)}"


def measurement_local(target: str, source: str, metric: str, origin: str | None = None, *, legacy: bool = False) -> str:
    """One measurement of ``metric`` on ``target``; ``origin`` (the Pandera schema a test repeats, mapping 8 on) tells
    apart two checks of one name and column that came from different places."""
    return f"measurement-{short_hash(target, source, metric, *(() if origin is None else (origin,)), legacy=legacy)}"
