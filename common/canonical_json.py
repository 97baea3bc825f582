"""Canonical JSON (RFC 8785): the only form in which tdprov hashes or signs JSON."""
from __future__ import annotations

import json
from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON (UTF-8, sorted keys, no whitespace)."""
    return rfc8785.dumps(value)


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes or text."""
    return json.loads(data)
