"""DSSE envelopes (Dead Simple Signing Envelope v1): pre-authentication encoding, sign, parse, verify.

Spec: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md. No I/O here.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, TdprovError, VerificationError
from prov_common.signing.keys import SigningKey
from prov_common.signing.trust import RetiredKey, TrustStore
from prov_common.text import counted

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
            raise BadInputError(f"{name} is {_not_an_envelope(exc)}.", fix=_DAMAGED) from exc


_DAMAGED = "the file was damaged or not written by tdprov: restore it from a trusted copy or discard it"


def _not_an_envelope(cause: BaseException | None) -> str:
    return f"not a DSSE envelope ({type(cause).__name__}: {cause})"


def sign_envelope(payload: bytes, payload_type: str, signers: Iterable[SigningKey]) -> Envelope:
    """Sign ``payload`` with every signer (Ed25519 is deterministic: same key, same bytes)."""
    message = pae(payload_type, payload)
    sigs = tuple(Signature(s.key_id, s.sign(message)) for s in signers)
    if not sigs:
        raise BadInputError("no signing key given.", fix="pass a SigningKey or configure TDPROV_SIGNING_KEY")
    return Envelope(payload, payload_type, sigs)


class EnvelopeError(VerificationError):
    """A signed object that cannot be trusted.

    ``problem`` names the kind (one of :data:`ENVELOPE_PROBLEMS`), ``reason`` says why without naming
    the object, ``envelope`` is the parsed envelope when the bytes parsed (a report may still read it), and ``key_id``
    the key whose signature verifies when only the bytes around it, or its key id, were changed (``altered``).
    """

    def __init__(self, name: str, problem: str, reason: str, fix: str, envelope: Envelope | None = None,
                 key_id: str | None = None) -> None:
        super().__init__(f"{name}: {reason}.", fix=fix)
        self.problem = problem
        self.reason = reason
        self.envelope = envelope
        self.key_id = key_id


ENVELOPE_PROBLEMS = ("malformed", "unsigned", "bad signature", "untrusted key", "retired key", "wrong payload type", "altered")
FIX_UNSIGNED = "it was not sealed by tdprov: restore it from a trusted copy or write it again with a signing key"
FIX_BAD_SIGNATURE = "it was changed after it was signed: restore it from a trusted copy"
FIX_RENAMED = "restore it from a trusted copy"
FIX_UNTRUSTED = "add the signer's public key to TDPROV_TRUSTED_KEYS if you trust it"
FIX_WRONG_TYPE = "another kind of signed object is in its place: restore the right one from a trusted copy"
FIX_RETIRED = ("the key was retired at that log size (TDPROV_RETIRED_KEYS, TDPROV_RETIRED_AUDITOR_KEYS) because it was lost: "
               "treat the object as forged by whoever holds the key, and remove it")


def verify_envelope(envelope: Envelope, trust: TrustStore, name: str = "envelope",
                    position: int | Callable[[], int | None] | None = None) -> str:
    """Return the key id of the first trusted key whose signature verifies.

    A retired key's signature counts only when ``position`` (the log size by which the log fixed the object: a
    bundle's leaf index + 1, the size of a checkpoint an audit object belongs to; or a function giving it, asked only
    when a retired key's signature is met) is at most its cut-off. A signature a retired key made under another key id
    (changed after signing, also to a trusted or another retired key's) is judged as that key's: ``altered`` naming the
    retired key and its cut-off when it counts, as the log holds the envelope under the key's own id. One a trusted key
    made under a retired key's id is ``altered`` as under any other id.
    Raises :class:`EnvelopeError` naming ``name`` and the key ids when no signature is valid under a
    trusted key: ``unsigned``, ``bad signature``, signed by a retired key after its cut-off or for nothing the
    log holds (``retired key``), or signed only by keys not in ``trust`` (``untrusted key``; ``altered`` when a trusted
    key made such a signature: its key id, an unsigned hint, was changed).
    """
    if not envelope.signatures:
        raise EnvelopeError(name, "unsigned", "unsigned (the envelope holds no signature)", FIX_UNSIGNED, envelope)
    message = pae(envelope.payload_type, envelope.payload)
    bad: list[str] = []
    untrusted: list[str] = []
    late: list[RetiredKey] = []
    renamed: list[tuple[str, str, str]] = []
    if callable(position):
        position = functools.cache(position)  # asked once, and only when a retired key's signature is met
    for sig in envelope.signatures:
        key = trust.get(sig.keyid)
        retired = trust.retired.get(sig.keyid)  # retired wins: a lost key still listed as trusted counts as retired
        if retired is not None and retired.key.verify(sig.sig, message):
            if _before_cutoff(retired, trust, position) is not None:
                return retired.key_id
            late.append(retired)
        elif retired is None and key is not None and key.verify(sig.sig, message):
            return key.key_id
        elif (made := _by_retired(sig, message, trust)) is not None:  # its key id changed: judged as the retired key's
            if (at := _before_cutoff(made, trust, position)) is not None:
                renamed.append((sig.keyid or "<no keyid>", f"retired key {made.key_id} before its cut-off at log size "
                                f"{made.cutoff} (the log fixed it at log size {at})", made.key_id))
            else:
                late.append(made)
        elif _renamed(sig, message, trust, renamed):
            pass
        elif key is None and retired is None:
            untrusted.append(sig.keyid or "<no keyid>")
        else:
            bad.append(sig.keyid)
    if bad:
        raise EnvelopeError(name, "bad signature", f"bad signature by {', '.join(bad)} (the signed bytes were changed)",
                            FIX_BAD_SIGNATURE, envelope)
    if late:
        raise EnvelopeError(name, "retired key", _after_cutoff(late[0], _at(position) if trust.retired_count else -1), FIX_RETIRED,
                            envelope)
    if renamed:
        named, signer, signer_id = renamed[0]
        raise EnvelopeError(name, "altered", f"the signature names key {named} but was made by {signer}: its key id "
                            "was changed after it was signed", FIX_RENAMED, envelope, signer_id)
    raise EnvelopeError(name, "untrusted key",
                        f"signed by untrusted key {', '.join(untrusted)}, not among the {counted(len(trust), 'trusted key')}",
                        FIX_UNTRUSTED, envelope)


def changed_around(envelope: Envelope, data: bytes, key_id: str) -> str | None:
    """Why ``data``, parsed as ``envelope`` whose signature by trusted ``key_id`` verifies, is not what tdprov wrote, or
    None. tdprov signs every object with one key and writes the envelope's canonical JSON (:meth:`Envelope.to_json`):
    another signature beside the valid one (which a check needing one valid signature passes), or other bytes spelling
    the same envelope, were put there after it was signed."""
    if len(envelope.signatures) > 1:
        others = [s.keyid or "<no keyid>" for s in envelope.signatures]
        others.remove(key_id)
        one = len(others) == 1
        return (f"it holds {len(envelope.signatures)} signatures where tdprov signs with one: beside the valid signature by "
                f"{key_id}, the {'one' if one else 'ones'} by {', '.join(others)} {'was' if one else 'were'} added after signing")
    if envelope.to_json() != data:
        return "its bytes are not the canonical envelope that was written"
    return None


FIX_ALTERED = "restore it from a backup or replica of the store"


def _renamed(sig: Signature, message: bytes, trust: TrustStore, renamed: list[tuple[str, str, str]]) -> bool:
    """Whether another trusted key than the one ``sig`` names made it (its key id, an unsigned hint, was changed); if so
    (key id named, the signer: ``trusted key <key id>``, its key id) is added to ``renamed``."""
    signer = next((k for k in trust if k.key_id != sig.keyid and k.verify(sig.sig, message)), None)
    if signer is not None:
        renamed.append((sig.keyid or "<no keyid>", f"trusted key {signer.key_id}", signer.key_id))
    return signer is not None


def _at(position: int | Callable[[], int | None] | None) -> int | None:
    return position() if callable(position) else position


def _before_cutoff(retired: RetiredKey, trust: TrustStore, position: int | Callable[[], int | None] | None) -> int | None:
    """The log size by which the log fixed the object when the signature of ``retired`` on it counts (``trust`` lets
    retired keys count, and the log fixed it by the key's cut-off), else None."""
    at = _at(position) if trust.retired_count else None
    return at if at is not None and at <= retired.cutoff else None


def _by_retired(sig: Signature, message: bytes, trust: TrustStore) -> RetiredKey | None:
    """The retired key that made ``sig`` though its key id (an unsigned hint) names another key, or None: a signature by a
    lost key renamed so as not to be judged by the key's cut-off."""
    return next((r for r in trust.retired.values() if r.key_id != sig.keyid and r.key.verify(sig.sig, message)), None)


def _after_cutoff(retired: RetiredKey, position: int | None) -> str:
    where = ("the log does not hold it" if position is None else "it appeared after the key was retired" if position < 0
             else f"the log fixed it at log size {position}")
    return f"signed by retired key {retired.key_id} after its cut-off at log size {retired.cutoff} ({where})"


def _position(position: Position, envelope: Envelope, data: bytes, trust: TrustStore) -> int | None:
    """The log size by which the log fixed the object (None: unknown, or not in the log): by default where ``trust`` knows
    its bytes logged, or the bytes signed when the key id of its one signature was changed from a retired key's since."""
    if callable(position):
        try:
            found = position(envelope.payload)
        except (ValueError, KeyError, TypeError, AttributeError, TdprovError):
            return None  # a payload that does not say: the object's own check names what is wrong with it
        return found if isinstance(found, int) and not isinstance(found, bool) else None
    if position is None:
        return trust.position_of(_sha256(data)) or _logged_as_signed(envelope, trust)
    return position


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _logged_as_signed(envelope: Envelope, trust: TrustStore) -> int | None:
    """Where the log holds ``envelope`` as written, when its one signature names another key id than the retired key
    that made it (see :func:`_by_retired`)."""
    if len(envelope.signatures) != 1:
        return None
    sig = envelope.signatures[0]
    made = _by_retired(sig, pae(envelope.payload_type, envelope.payload), trust)
    return None if made is None else trust.position_of(_sha256(Envelope(envelope.payload, envelope.payload_type,
                                                                              (Signature(made.key_id, sig.sig),)).to_json()))


@dataclass(frozen=True)
class Opened:
    """A verified signed object: its payload, the trusted key id that signed it, and its envelope."""

    payload: bytes
    key_id: str
    envelope: Envelope


Position = int | Callable[[bytes], int | None] | None
"""Where the log fixed a signed object (see :func:`verify_envelope`): a log size, or how to read it from the payload."""


def open_envelope(data: bytes, trust: TrustStore, payload_type: str, what: str = "envelope", position: Position = None, *,
                  accepts: Callable[[str], bool] | None = None) -> Opened:
    """Parse the DSSE envelope in ``data``, verify it under ``trust`` and check its payload type: ``payload_type``, or
    any that ``accepts`` takes (a family of types, as a staged event's: ``payload_type`` then names it in errors).

    ``what`` names the object in errors (e.g. ``"checkpoint 'log/checkpoints/…'"``). ``position``: the log size
    by which the log fixed the object, for a retired key's signature (see :func:`verify_envelope`), or a function
    that reads it from the payload (an audit object names the checkpoint it was written at; asked only when a
    retired key signed); by default where ``trust`` knows the object logged (a bundle's statement:
    ``TrustStore.logged``). Every failure raises :class:`EnvelopeError` (a :class:`VerificationError`) with its
    ``problem`` and a fix; bytes that verify but are not the ones written (:func:`changed_around`) are ``altered``.
    """
    try:
        envelope = Envelope.from_json(data, name=what)
    except BadInputError as exc:
        raise EnvelopeError(what, "malformed", _not_an_envelope(exc.__cause__), _DAMAGED) from exc
    given = position
    key_id = verify_envelope(envelope, trust, name=what,
                             position=(lambda: _position(given, envelope, data, trust)) if trust.retired else None)
    if not (accepts(envelope.payload_type) if accepts is not None else envelope.payload_type == payload_type):
        raise EnvelopeError(what, "wrong payload type", f"payload type is '{envelope.payload_type}', not '{payload_type}'",
                            FIX_WRONG_TYPE, envelope)
    if (change := changed_around(envelope, data, key_id)) is not None:
        raise EnvelopeError(what, "altered", change, FIX_ALTERED, envelope, key_id)
    return Opened(envelope.payload, key_id, envelope)
