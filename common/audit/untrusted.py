"""Records that do not verify here, said once where they cause many findings: the keys that signed bundles and are not
trusted (one line per key, for an auditor who has not been given the team's public key yet), and the digests that
source records name although they do not verify (so that completeness does not ask to register what is registered)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from prov_common.audit.model import CHECK_SIGNATURES
from prov_common.errors import TdprovError
from prov_common.sources.registry import source_key_parts
from prov_common.text import counted

_UNTRUSTED = re.compile(r"signed by untrusted key (.+?), not among the \d+ trusted key")


def _untrusted_runs(findings: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Key id -> the bundles (runs) signed by it and by no trusted key, from the signature findings."""
    runs: dict[str, set[str]] = {}
    for f in findings:
        found = _UNTRUSTED.search(str(f.get("what", ""))) if f.get("check") == CHECK_SIGNATURES else None
        for key in found.group(1).split(", ") if found else ():
            runs.setdefault(key, set()).add(str(f.get("runId") or f.get("object")))
    return runs


def untrusted_signers(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Key id -> how many bundles (runs) are signed by it and by no trusted key, from the signature findings
    (``Finding.view()`` forms, as report.json lists them), the most first."""
    runs = _untrusted_runs(findings)
    return {key: len(ids) for key, ids in sorted(runs.items(), key=lambda item: (-len(item[1]), item[0]))}


def untrusted_bundles(findings: Iterable[Mapping[str, Any]]) -> int:
    """How many bundles (runs) are signed by no trusted key but by an untrusted one, from the signature findings (a
    bundle signed by two such keys counts once)."""
    return len(set().union(*_untrusted_runs(findings).values()))


def untrusted_lines(findings: Iterable[Mapping[str, Any]]) -> list[str]:
    """One sentence per key that signed bundles and is not trusted here."""
    return [f"{counted(count, 'bundle')} {'is' if count == 1 else 'are'} signed by key {key}, which is not trusted here; "
            "if you trust it, add its public key to TDPROV_TRUSTED_KEYS" for key, count in untrusted_signers(findings).items()]


def unverified_source_digests(problems: Iterable[tuple[str, TdprovError]]) -> frozenset[str]:
    """The digests (hex, as in their keys ``sources/<name>/<hex>.json``) named by source records that did not verify."""
    return frozenset(parts[1] for key, _ in problems if (parts := source_key_parts(key)) is not None)


__all__ = ["unverified_source_digests", "untrusted_bundles", "untrusted_lines", "untrusted_signers"]
