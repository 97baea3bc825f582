"""in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md); no I/O."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


@dataclass(frozen=True)
class Subject:
    """A software artifact the statement is about: here a dataset version, ``digest`` = {algo: hex};
    ``annotations``: the ResourceDescriptor's ``annotations`` (None: the subject has none)."""

    name: str
    digest: Mapping[str, str]
    annotations: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "digest": dict(self.digest)}
        if self.annotations is not None:
            out["annotations"] = dict(self.annotations)
        return out

    def sort_key(self) -> tuple[str, list[tuple[str, str]], bytes]:
        """Name, digests, then annotations: subjects of one name and digest are still ordered."""
        return self.name, sorted(self.digest.items()), canonical_bytes(dict(self.annotations or {}))


def digest_map(digest: str) -> dict[str, str] | None:
    """``"blake3:<hex>"`` -> ``{"blake3": "<hex>"}``; ``None`` when the string is not ``algo:hex``."""
    algo, sep, hexpart = digest.partition(":")
    if not sep or not algo or not hexpart:
        return None
    try:
        int(hexpart, 16)
    except ValueError:
        return None
    return {algo.lower(): hexpart.lower()}


@dataclass(frozen=True)
class Statement:
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": dict(self.predicate),
        }

    def to_json(self) -> bytes:
        """RFC 8785 canonical JSON: the bytes that get signed."""
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes, name: str = "statement") -> "Statement":
        try:
            raw = loads(data)
            if raw.get("_type") != STATEMENT_TYPE:
                raise ValueError(f"_type is {raw.get('_type')!r}, expected {STATEMENT_TYPE!r}")
            subjects = tuple(Subject(str(s["name"]), dict(s["digest"]), dict(s["annotations"]) if "annotations" in s else None)
                             for s in raw["subject"])
            return cls(subjects, str(raw["predicateType"]), dict(raw["predicate"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(
                f"{name} is not an in-toto Statement v1 ({exc}).", fix="re-seal the run or discard the bundle"
            ) from exc


def make_statement(subjects: Sequence[Subject], predicate_type: str, predicate: Mapping[str, Any]) -> Statement:
    """A statement with subjects sorted by name, digests and annotations (stable bytes); at least one subject is required."""
    if not subjects:
        raise BadInputError("an in-toto statement needs at least one subject.", fix="pass the artifacts it is about")
    return Statement(tuple(sorted(subjects, key=Subject.sort_key)), predicate_type, predicate)
