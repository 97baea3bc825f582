"""SHA-256 of a dataset version's bytes, read where the data lives (local path, ``file://`` or ``s3://``).

A checksum is given only for bytes that still are the recorded version: the data is hashed the way
tdprov hashed it when it was recorded (tables by their canonical table digest, other files by their
bytes) and must give the version digest. Otherwise the answer says why there is no checksum.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class FileFacts:
    """What the bytes at a location are: their SHA-256 (hex) and size, or why they could not be vouched for."""

    sha256: str | None = None
    size: int | None = None
    problem: str | None = None


def _local(location: str) -> str:
    return location[len("file://"):] if location.startswith("file://") else location


def file_facts(location: str, version: str) -> FileFacts:
    """SHA-256 and size of the bytes at ``location`` when they hash to ``version``; else the problem."""
    from prov_common.hashing import hash_path, open_binary

    target = _local(location)
    try:
        found = hash_path(target).digest
        if found != version:
            found = hash_path(target, as_bytes=True).digest
        if found != version:
            return FileFacts(problem=f"the data at {location} no longer hashes to {version} (it hashes to {found})")
        sha, size = hashlib.sha256(), 0
        with open_binary(target) as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
    except Exception as exc:  # noqa: BLE001 - unreachable data is described, never fatal to a record
        return FileFacts(problem=f"the data at {location} could not be read ({exc})")
    return FileFacts(sha.hexdigest(), size)
