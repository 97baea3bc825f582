"""Run context: who ran what code, where, with which libraries and parameters (secrets redacted)."""
from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prov_common.lineage.redact import redact_mapping, redact_uri
from prov_common.lineage.secret_text import split_authority

DEFAULT_LIBRARIES: tuple[str, ...] = ("pandas", "pyarrow", "pandera", "numpy", "openlineage-python", "tdprov")
"""Distributions whose versions every run records (those that touch the data or the record)."""

# Orchestrator name -> the distribution that carries its version.
ORCHESTRATOR_DISTRIBUTIONS = {"dagster": "dagster", "airflow": "apache-airflow"}


@dataclass(frozen=True)
class RunContext:
    """The who / where / how of a run (no I/O; see :func:`collect_run_context`).

    ``parameters`` are already redacted. ``partial`` is true when part of the context could not be
    collected (e.g. no git, unknown user).
    """

    host: str
    libraries: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    git_commit: str | None = None
    git_remote: str | None = None
    executor: str | None = None
    user: str | None = None
    owner: str | None = None
    orchestrator: str | None = None
    orchestrator_version: str | None = None
    partial: bool = False
    reexecution_of: str | None = None  # the orchestrator run that this run's orchestrator run re-executes
    reexecution_root: str | None = None  # the first run of those re-executions
    mapping_key: str | None = None  # the mapping key of a mapped step (a Dagster DynamicOut's), a run of its op's job


def collect_run_context(
    *,
    orchestrator: str | None = None,
    code_version: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    owner: str | None = None,
    user: str | None = None,
    executor: str | None = None,
    libraries: Iterable[str] = DEFAULT_LIBRARIES,
    cwd: str | os.PathLike[str] | None = None,
) -> RunContext:
    """Collect the context of the current process: git commit of ``cwd`` (default: the working
    directory) when it is a git work tree, versions of ``libraries`` (and of the orchestrator), host
    name, OS user unless ``user`` is given; ``parameters`` are redacted."""
    names = list(dict.fromkeys(libraries))
    orchestrator_dist = ORCHESTRATOR_DISTRIBUTIONS.get((orchestrator or "").lower(), orchestrator)
    if orchestrator_dist and orchestrator_dist not in names:
        names.append(orchestrator_dist)
    versions = library_versions(names)
    commit, remote = _git_state(os.path.abspath(cwd or os.getcwd()))
    user = user or _os_user()
    return RunContext(
        host=socket.gethostname(),
        libraries=versions,
        parameters=redact_mapping(parameters or {}),
        code_version=code_version,
        git_commit=commit,
        git_remote=remote,
        executor=executor,
        user=user,
        owner=owner,
        orchestrator=orchestrator,
        orchestrator_version=versions.get(orchestrator_dist or ""),
        partial=(commit is None and code_version is None) or user is None,
    )


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Distribution name -> installed version, for those of ``names`` that are installed."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _git_state(cwd: str) -> tuple[str | None, str | None]:
    """(HEAD commit, redacted origin URL) of the git work tree at ``cwd``, or (None, None).

    Not cached: long-lived workers run code that git-sync or a deploy updates under them.
    """
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    remote = _git(cwd, "remote", "get-url", "origin")
    return commit, (remote_uri(remote, cwd) if remote else None)


def remote_uri(remote: str, cwd: str) -> str:
    """A git remote as an absolute URI (RFC 3986; credentials redacted): URLs as they are, scp-like
    ``git@host:org/repo.git`` as ``ssh://git@host/org/repo.git``, a local path (relative to ``cwd``)
    as ``file:///abs/path``. Characters a URI cannot hold (spaces, non-ASCII) are percent-encoded."""
    if "://" in remote:
        return _percent_encoded(redact_uri(remote))
    scp = _SCP_LIKE.match(remote)
    if scp:  # its path is literal: a "#", "?" or "%" in it is part of a file name
        path = quote(scp["path"].lstrip("/"), safe=_DELIMITERS + "/")
        return _percent_encoded(redact_uri(f"ssh://{scp['authority']}/{path}"))
    return Path(os.path.abspath(os.path.join(cwd, remote))).as_uri()


# git's scp-like form ``[user@]host:path``: no "/" before the ":", a host of 2 characters or more ("C:" is a
# drive letter), or an IPv6 address in brackets.
_SCP_LIKE = re.compile(r"(?P<authority>(?:[^/@]*@)?(?:\[[^\]/]*\]|[^/:\[\]]{2,})):(?P<path>.*)", re.S)
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DELIMITERS = "!$&'()*+,;=:@"  # RFC 3986 sub-delims, ":" and "@": allowed as they are in an authority and a path


def _percent_encoded(uri: str) -> str:
    """``uri`` with what RFC 3986 does not allow where it stands percent-encoded (UTF-8): ``[`` and ``]`` are kept
    in the authority only, a ``%`` that starts no escape becomes ``%25``."""
    scheme, authority, rest = split_authority(_LONE_PERCENT.sub("%25", uri))
    return f"{scheme}://{quote(authority, safe=_DELIMITERS + '%[]')}{quote(rest, safe=_DELIMITERS + '%/?#')}"


def _git(cwd: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", cwd, *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None
