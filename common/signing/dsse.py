"""DSSE envelopes (Dead Simple Signing Envelope v1): pre-authentication encoding, sign, parse, verify.

Spec: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md. No I/O here.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, VerificationError
from prov_common.signing.keys import SigningKey
from prov_common.signing.trust import TrustStore

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """``DSSEv1 <len(type)> <type> <len(body)> <body>``: lengths in bytes, ASCII decimal, single spaces."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: the payload bytes, their type and the signatures over their PAE."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]

    def to_json(self) -> bytes:
        """Canonical JSON with standard base64 (as the DSSE spec shows)."""
        return canonical_bytes(
            {
                "payload": base64.b64encode(self.payload).decode("ascii"),
                "payloadType": self.payload_type,
                "signatures": [
                    {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")} for s in self.signatures
                ],
            }
        )

    @classmethod
    def from_json(cls, data: bytes, name: str = "envelope") -> "Envelope":
        """Parse an envelope; malformed JSON or fields raise :class:`BadInputError` naming ``name``."""
        try:
            raw = loads(data)
            sigs = tuple(
                Signature(str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
                for s in raw["signatures"]
            )
            return cls(base64.b64decode(raw["payload"], validate=True), str(raw["payloadType"]), sigs)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise BadInputError(
                f"{name} is not a DSSE envelope ({type(exc).__name__}: {exc}).",
                fix="the file was damaged or not written by tdprov; re-seal the run or discard the bundle",
            ) from exc


def sign_envelope(payload: bytes, payload_type: str, signers: Iterable[SigningKey]) -> Envelope:
    """Sign ``payload`` with every signer (Ed25519 is deterministic: same key, same bytes)."""
    message = pae(payload_type, payload)
    sigs = tuple(Signature(s.key_id, s.sign(message)) for s in signers)
    if not sigs:
        raise BadInputError("no signing key given.", fix="pass a SigningKey or configure TDPROV_SIGNING_KEY")
    return Envelope(payload, payload_type, sigs)


def verify_envelope(envelope: Envelope, trust: TrustStore, name: str = "envelope") -> str:
    """Return the key id of the first trusted key whose signature verifies.

    Raises :class:`VerificationError` naming ``name`` and the key ids when no signature is valid
    under a trusted key: unsigned, bad signature, or signed only by untrusted keys.
    """
    if not envelope.signatures:
        raise VerificationError(f"{name} is unsigned.", fix="re-seal the run with a signing key")
    message = pae(envelope.payload_type, envelope.payload)
    bad: list[str] = []
    untrusted: list[str] = []
    for sig in envelope.signatures:
        key = trust.get(sig.keyid)
        if key is None:
            untrusted.append(sig.keyid or "<no keyid>")
        elif key.verify(sig.sig, message):
            return key.key_id
        else:
            bad.append(sig.keyid)
    if bad:
        raise VerificationError(
            f"{name}: bad signature by {', '.join(bad)} (the signed bytes were changed).",
            fix="the statement or envelope was tampered with; restore the bundle from a trusted copy",
        )
    raise VerificationError(
        f"{name}: signed by untrusted key {', '.join(untrusted)}.",
        fix="add the signer's public key to TDPROV_TRUSTED_KEYS if you trust it",
    )
