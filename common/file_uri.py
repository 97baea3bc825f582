"""Which ``file://`` URIs name this machine's file system (no I/O; importable from anywhere)."""
from __future__ import annotations

LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1"})
"""Authorities of a ``file://`` URI on this machine: named, read and stored as a local path."""


def is_local_host(authority: str) -> bool:
    """Whether a ``file://`` URI's authority (``localhost``, ``127.0.0.1`` or none) names this machine."""
    return authority.lower() in LOCAL_HOSTS
