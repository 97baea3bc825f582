"""Stable, NCName-safe PROV identifiers for jobs, runs, datasets, versions, agents and measurements.

Every local name starts with a letter and holds only ``[A-Za-z0-9._-]``, so it is a valid XML NCName
(PROV-XML), a PROV-N local name and a safe IRI fragment. Names are derived from the OpenLineage
identity of the thing alone (never from a counter or a run), so the same dataset, job or version gets
the same identifier in every run and bundles merge by plain union.
"""
from __future__ import annotations

import hashlib
import re

from prov.identifier import Namespace

from prov_common import PRODUCER

TDPROV = Namespace("tdprov", f"{PRODUCER}/ns#")
DQV = Namespace("dqv", "http://www.w3.org/ns/dqv#")
DCTERMS = Namespace("dcterms", "http://purl.org/dc/terms/")
NAMESPACES = (TDPROV, DQV, DCTERMS)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^(?P<algo>[a-z][a-z0-9]{1,15}):(?P<hex>[0-9a-fA-F]{16,128})$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
SLUG_MAX = 48


_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with characters that XML 1.0 (and so PROV-XML) cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def short_hash(*parts: str) -> str:
    """16 hex characters of SHA-256 over the parts (newline-joined): stable disambiguator."""
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]


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


def dataset_local(namespace: str, name: str) -> str:
    return f"dataset-{slug(name)}-{short_hash(namespace, name)}"


def version_local(namespace: str, name: str, version: str) -> str:
    """Content digests are global (``sha256-<hex>``); other versions are scoped to their dataset."""
    return digest_local_name(version) or f"version-{slug(name)}-{short_hash(namespace, name, version)}"


def job_local(namespace: str, name: str) -> str:
    return f"job-{slug(name)}-{short_hash(namespace, name)}"


def plan_local(namespace: str, name: str, code_version: str) -> str:
    return f"plan-{slug(name)}-{short_hash(namespace, name, code_version)}"


def run_local(run_id: str) -> str:
    """``run-<uuid>`` (UUIDs lower-cased, as they compare case-insensitively); other ids escaped or hashed."""
    run_id = run_id.strip()
    if _UUID.match(run_id):
        return f"run-{run_id.lower()}"
    return f"run-{run_id}" if _SAFE_TOKEN.match(run_id) else f"run-{slug(run_id)}-{short_hash(run_id)}"


def agent_local(kind: str, name: str) -> str:
    return f"{kind}-{slug(name)}-{short_hash(kind, name)}"


def metric_local(kind: str, name: str, column: str | None) -> str:
    label = f"{name}.{column}" if column else name
    return f"metric-{slug(label)}-{short_hash(kind, name, column or '')}"


def measurement_local(target: str, source: str, metric: str) -> str:
    return f"measurement-{short_hash(target, source, metric)}"
