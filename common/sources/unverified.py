"""Source records that do not verify, as a pipeline step meets them: never trusted, never failing the step.

A step reads the store's source records to find the source it declares (Dagster ``provenance_asset(source=...)``,
Airflow ``source_records=``) or the records of the data it validates. A record that does not verify (forged,
damaged, signed by a key not trusted here) is left out of what the step uses, and the step's warning names it.
Whether it is a record of the step's own source is read from its key alone (``sources/<name>/<digest hex>.json``):
nothing else in it can be trusted.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from prov_common.errors import TdprovError
from prov_common.sources.registry import source_key_parts
from prov_common.text import counted, first_of

Problem = tuple[str, TdprovError]  # a record's key and why it does not verify, as :func:`.registry.iter_sources` lists them

SHOWN = 3  # records named one by one in a warning; the rest are counted
FIX_RESTORE = "restore the record from a backup, or register the source again ('tdprov source add')"
FIX_UNVERIFIED = "delete a record nobody registered; 'tdprov audit' reports every record that does not verify, and why"


def is_record_of(key: str, refs: Iterable[str]) -> bool:
    """Whether the record stored at ``key`` would be one of ``refs`` (source names, or digests ``algorithm:hex``),
    judged from the key alone (:func:`.registry.source_key_parts`)."""
    parts = source_key_parts(key)
    if parts is None:
        return False
    name, hex_digest = parts[0], parts[1].lower()
    return any(ref == name or (":" in ref and ref.split(":", 1)[1].lower() == hex_digest) for ref in refs)


def records_of(problems: Sequence[Problem], refs: Iterable[str]) -> tuple[list[Problem], list[Problem]]:
    """``problems`` split into those of records of ``refs`` (see :func:`is_record_of`) and the others."""
    wanted = tuple(refs)
    own: list[Problem] = []
    others: list[Problem] = []
    for problem in problems:
        (own if is_record_of(problem[0], wanted) else others).append(problem)
    return own, others


def unverified_warning(own: Sequence[Problem], others: Sequence[Problem], consequence: str) -> str | None:
    """The warning naming the records that do not verify, split by :func:`records_of`; ``None`` when there are none.

    The records of the step's own sources (``own``) are named one by one with why they do not verify, then
    ``consequence`` (what the step did instead of using them) and the fix; the ``others`` are named as not trusted
    and not used.
    """
    parts = []
    if own:
        why = first_of([f"'{key}': {_reason(key, exc)}" for key, exc in own], SHOWN, "; ")
        fixes = dict.fromkeys(exc.fix.rstrip(".") if exc.fix else FIX_RESTORE for _, exc in own)
        one = len(own) == 1
        parts.append(f"{counted(len(own), 'source record')} that {'does' if one else 'do'} not verify {'is' if one else 'are'} "
                     f"not trusted ({why}): {consequence}. "
                     f"Fix: {'; '.join([*fixes, FIX_UNVERIFIED])}.")
    if others:
        verb, they = ("does", "it is") if len(others) == 1 else ("do", "they are")
        parts.append(f"{counted(len(others), 'other source record')} {verb} not verify, so {they} not trusted and not used: "
                     f"{first_of([key for key, _ in others], SHOWN)}. Fix: {FIX_UNVERIFIED}.")
    return " ".join(parts) or None


def _reason(key: str, exc: TdprovError) -> str:
    """Why the record at ``key`` does not verify, without repeating its key."""
    return exc.what.replace(f"source record '{key}': ", "").replace(f"source record '{key}' ", "").rstrip(".")
