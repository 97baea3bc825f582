"""in-toto DigestSets of dataset versions, by digest-set version (no I/O; docs/bundles.md, "Subjects").

Version 6 (current) is version 5 but for a version written as a digest that tdprov does not vouch for (another
producer's ``sha256:<hex>`` with no ``tdprov_contentHash`` facet:
:attr:`~prov_common.w3cprov.events.DatasetState.names_content`), which it leaves out of the DigestSet (named in the
annotations, as any version that is no digest) and records as an opaque version id (``opaqueVersion``); versions 2 to
5 took it for a digest of the bytes.
Version 5 is version 4 but for a version named by one of in-toto's algorithms spelled in mixed case
(``gitCommit:<hex>``, ``gitTree``, ``gitBlob``, ``dirHash``), whose DigestSet key keeps in-toto's spelling (versions
2 to 4 gave it in lower case, ``gitcommit``, a key no verifier reads as a commit), and which it leaves out when that
spelling has a size in-toto's validator holds it to and the version is of another (``gitCommit`` 20 bytes,
``dirHash`` 32).
Version 4 is version 3 but for a version whose ``tdprov_contentHash`` facet names it without saying what
kind of digest it is (a registered source whose record does not say): it leaves it out of the DigestSet, as neither
a digest of bytes nor a table digest (version 3 took it for a digest of bytes).
Version 3 is version 2 but for a version that is not a digest in-toto's spec allows (lowercase hex of
whole bytes, of its algorithm's size), which it leaves out of the DigestSet (version 2 took it as it read).
Version 2 gives each dataset version the digests a generic in-toto verifier can match:
``sha256`` of the bytes of the file or object that holds it (when its producer recorded them in
``tdprov_contentHash.fileSha256``), and the canonical table digest under ``tdprovTable-blake3`` (the
shard-tree digest of a sharded version under ``tdprovShards-blake3``), names no verifier takes for a hash of bytes. A digest of bytes that is not a table digest keeps its
algorithm's own name (``blake3``). Version 1 (manifests without ``digestSets``) gave only the
version's ``{algo: hex}``; verification re-derives an old statement with the version it was written with.
"""
from __future__ import annotations

import re
from typing import Any

from prov_common.errors import BadInputError
from prov_common.lineage.facet_names import CONTENT_KINDS
from prov_common.signing import digest_map
from prov_common.w3cprov.events import DatasetState

DIGESTS_V1 = "tdprov-digests/1"
DIGESTS_V2 = "tdprov-digests/2"
DIGESTS_V3 = "tdprov-digests/3"
DIGESTS_V4 = "tdprov-digests/4"
DIGESTS_V5 = "tdprov-digests/5"
DIGESTS_V6 = "tdprov-digests/6"
DIGEST_SETS = DIGESTS_V6  # the newest: new bundles record the oldest version that gives their DigestSets alike
KNOWN = (DIGESTS_V1, DIGESTS_V2, DIGESTS_V3, DIGESTS_V4, DIGESTS_V5, DIGESTS_V6)
TABLE_PREFIX = "tdprovTable-"  # DigestSet key of a canonical table digest: tdprovTable-<algorithm>
SHARDS_PREFIX = "tdprovShards-"  # DigestSet key of a sharded version's shard-tree digest
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_HEX_BYTES = re.compile(r"(?:[0-9a-f]{2})+")
# in-toto's DigestSet algorithms spelled in mixed case (in-toto/attestation spec/v1/digest_set.md), by their lower case
_IN_TOTO_SPELLING = {name.lower(): name for name in ("gitCommit", "gitTree", "gitBlob", "dirHash")}
# Digest sizes in bytes of the fixed-size algorithms of in-toto's DigestSet spec, whose validators refuse a value of
# another size (in-toto/attestation go/v1 ResourceDescriptor.Validate), by in-toto's spelling: gitCommit and dirHash
# are read only as spelled so (version 5), never as the lower-case keys versions 3 and 4 gave.
_IN_TOTO_SIZES = {"md5": 16, "sha1": 20, "sha224": 28, "sha512_224": 28, "sha256": 32, "sha512_256": 32, "sha384": 48,
                  "sha512": 64, "sha3_224": 28, "sha3_256": 32, "sha3_384": 48, "sha3_512": 64, "gitCommit": 20,
                  "dirHash": 32}


def check_version(version: str | None) -> str:
    """The digest-set version a manifest records (None: version 1, before the field)."""
    recorded = version or DIGESTS_V1
    if recorded not in KNOWN:
        raise BadInputError(f"digest sets {recorded!r} are not known to this version of tdprov ({', '.join(KNOWN)}).",
                            fix="verify the bundle with the tdprov version that wrote it, or a newer one")
    return recorded


def version_digest(version: str | None) -> dict[str, str] | None:
    """``{algo: hex}`` of a version that is a digest an in-toto DigestSet holds (version 3): lowercase hex of whole
    bytes, as many as in-toto's spec gives its algorithm; None for any other version (another producer's
    ``sha256:<32 hex>`` or ``v:0x1f`` is a version, not a digest)."""
    found = digest_map(version or "")
    if found is None:
        return None
    ((algo, value),) = found.items()
    return found if _HEX_BYTES.fullmatch(value) and _sized(algo, value) else None


def _in_toto_spelled(found: dict[str, str]) -> dict[str, str] | None:
    """``{algo: hex}`` with in-toto's spelling of a mixed-case algorithm (version 5); None when in-toto's validator
    refuses its size under that spelling (a ``gitCommit`` of 32 bytes: a version, not a digest)."""
    ((algo, value),) = found.items()
    algo = _IN_TOTO_SPELLING.get(algo, algo)
    return {algo: value} if _sized(algo, value) else None


def _sized(algo: str, value: str) -> bool:
    """Whether the hex ``value`` has as many bytes as in-toto's validator holds ``algo`` to (any, where it holds it to
    no size)."""
    size = _IN_TOTO_SIZES.get(algo)
    return size is None or len(value) == 2 * size


def digest_set(dataset: DatasetState, digest_sets: str = DIGEST_SETS) -> dict[str, str] | None:
    """The DigestSet (version 2 to 6) of a dataset version from its events' facets; None when it has no digest.
    Version 2 took any ``algo:<int(hex, 16) reads it>`` version for a digest; versions 2 and 3 took one whose facet
    names no kind for a digest of bytes; versions 2 to 4 gave in-toto's mixed-case algorithms in lower case."""
    version = dataset.version
    content = dataset.facet("tdprov_contentHash")
    out: dict[str, str] = {}
    since = KNOWN.index(digest_sets)
    of_version = digest_map(version or "") if digest_sets == DIGESTS_V2 else version_digest(version)
    if opaque_version(dataset, digest_sets):
        of_version = None
    if of_version is not None and since >= KNOWN.index(DIGESTS_V5):
        of_version = _in_toto_spelled(of_version)
    unknown_kind = version is not None and content.get("digest") == version and content.get("kind") not in CONTENT_KINDS
    if of_version is not None and not (since >= KNOWN.index(DIGESTS_V4) and unknown_kind):
        prefix = {"table": TABLE_PREFIX, "shards": SHARDS_PREFIX}.get(str(content.get("kind")))
        if prefix is not None and content.get("digest") == version:
            out.update({prefix + algo: value for algo, value in of_version.items()})
        else:
            out.update(of_version)
    sha256 = content.get("fileSha256")
    if isinstance(sha256, str) and _SHA256_HEX.fullmatch(sha256):
        out["sha256"] = sha256
    return out or None


def opaque_version(dataset: DatasetState, digest_sets: str = DIGEST_SETS) -> bool:
    """Whether digest sets ``digest_sets`` record the version of ``dataset`` as an opaque version id (version 6 on: one
    written as a digest that tdprov does not vouch for, :attr:`~prov_common.w3cprov.events.DatasetState.opaque_version`)."""
    return KNOWN.index(digest_sets) >= KNOWN.index(DIGESTS_V6) and dataset.opaque_version


def version_digests(version: str | None, digests: dict[str, str] | None, digest_sets: str | None) -> dict[str, Any] | None:
    """The DigestSet a statement gives a dataset version: its recorded set (version 2), else ``{algo: hex}``
    of its version string (version 1)."""
    if check_version(digest_sets) == DIGESTS_V1:
        return digest_map(version or "")
    return dict(digests) if digests else None
