"""in-toto DigestSets of dataset versions, by digest-set version (no I/O; docs/bundles.md, "Subjects").

Version 2 (current) gives each dataset version the digests a generic in-toto verifier can match:
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
from prov_common.signing import digest_map
from prov_common.w3cprov.events import DatasetState

DIGESTS_V1 = "tdprov-digests/1"
DIGESTS_V2 = "tdprov-digests/2"
DIGEST_SETS = DIGESTS_V2  # what new bundles record
KNOWN = (DIGESTS_V1, DIGESTS_V2)
TABLE_PREFIX = "tdprovTable-"  # DigestSet key of a canonical table digest: tdprovTable-<algorithm>
SHARDS_PREFIX = "tdprovShards-"  # DigestSet key of a sharded version's shard-tree digest
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_version(version: str | None) -> str:
    """The digest-set version a manifest records (None: version 1, before the field)."""
    recorded = version or DIGESTS_V1
    if recorded not in KNOWN:
        raise BadInputError(f"digest sets {recorded!r} are not known to this version of tdprov ({', '.join(KNOWN)}).",
                            fix="verify the bundle with the tdprov version that wrote it, or a newer one")
    return recorded


def digest_set(dataset: DatasetState) -> dict[str, str] | None:
    """The version-2 DigestSet of a dataset version from its events' facets; None when it has no digest."""
    version = dataset.version
    content = dataset.facet("tdprov_contentHash")
    out: dict[str, str] = {}
    of_version = digest_map(version or "")
    if of_version is not None:
        prefix = {"table": TABLE_PREFIX, "shards": SHARDS_PREFIX}.get(str(content.get("kind")))
        if prefix is not None and content.get("digest") == version:
            out.update({prefix + algo: value for algo, value in of_version.items()})
        else:
            out.update(of_version)
    sha256 = content.get("fileSha256")
    if isinstance(sha256, str) and _SHA256_HEX.fullmatch(sha256):
        out["sha256"] = sha256
    return out or None


def version_digests(version: str | None, digests: dict[str, str] | None, digest_sets: str | None) -> dict[str, Any] | None:
    """The DigestSet a statement gives a dataset version: its recorded set (version 2), else ``{algo: hex}``
    of its version string (version 1)."""
    if check_version(digest_sets) == DIGESTS_V1:
        return digest_map(version or "")
    return dict(digests) if digests else None
