"""A staged event as the store holds it: the event's canonical JSON in a DSSE envelope signed by the writer that
staged it (no I/O).

A run's events are staged (``staging/<run_id>/...``) by every process that records for it, and sealed into its
bundle later, maybe by another process. Each writer signs what it stages with the key it signs bundles with, and
the seal takes only events signed by a key it trusts: a holder of the store's credentials without such a key cannot
add an event to a run not sealed yet. The sealed ``events.jsonl`` holds the events themselves, as before.
"""
from __future__ import annotations

import base64
from typing import Any

from prov_common.canonical_json import loads
from prov_common.errors import BadInputError
from prov_common.signing.dsse import EnvelopeError, open_envelope, sign_envelope
from prov_common.signing.keys import SigningKey
from prov_common.signing.trust import TrustStore

STAGED_EVENT_TYPE = "application/vnd.tdprov.staged-event+json"

UNSIGNED_FIX = ("a tdprov older than the signing of staged events staged it (re-run the step after upgrading: see "
                "docs/upgrading.md), or someone who can write the store's staging/ but holds no signing key put it there "
                "(find who, and take those credentials away)")
UNTRUSTED_FIX = ("if the writer that signed it is yours, add its public key to TDPROV_TRUSTED_KEYS of the process that "
                 "seals (or to TDPROV_HOME/trusted_keys/) and seal the run's next attempt; otherwise it was planted: find "
                 "who can write the store's staging/")


class UnsignedEventError(BadInputError):
    """A staged event that holds no signature: a plain event, as a writer without a signing key, or a tdprov older than
    the signing of staged events, staged it."""


def signed_event(event: bytes, signer: SigningKey) -> bytes:
    """The object staged for the event of canonical JSON ``event``: its envelope, signed by ``signer``."""
    return sign_envelope(event, STAGED_EVENT_TYPE, [signer]).to_json()


def opened_event(data: bytes, trust: TrustStore, key: str) -> bytes:
    """The event (canonical JSON bytes) the staged object ``data`` at store key ``key`` holds, when a key of ``trust``
    signed it. Raises :class:`BadInputError` naming ``key`` and why otherwise: unsigned (a plain event, as a tdprov
    older than this staged it: :class:`UnsignedEventError`), signed by an untrusted or retired key (named by its key id), a bad signature, or not
    a staged event at all."""
    what = f"staged event {key}"
    try:
        return open_envelope(data, trust, STAGED_EVENT_TYPE, what).payload
    except EnvelopeError as exc:
        if exc.problem == "malformed" and _plain_event(data):
            raise UnsignedEventError(f"{what} is unsigned: no writer holding a trusted key staged it.", fix=UNSIGNED_FIX) from None
        fix = UNTRUSTED_FIX if exc.problem == "untrusted key" else exc.fix
        raise BadInputError(exc.what, fix=fix) from None


def trusted_event(data: bytes, trust: TrustStore, key: str, *, accept_unsigned: bool = False) -> bytes:
    """:func:`opened_event`, but for ``accept_unsigned``: an unsigned event (a plain one) is then taken as it is, as
    a seal told to accept unsigned events takes it."""
    try:
        return opened_event(data, trust, key)
    except UnsignedEventError:
        if accept_unsigned:
            return data
        raise


def unverified_event(data: bytes) -> Any:
    """What the staged object ``data`` holds as an event, its signature unchecked (a hint: whether a run seems to
    have ended, the job it ran as); a plain event (staged by an older tdprov) as it is. Raises ``ValueError`` for
    bytes that are no JSON, or an envelope that cannot be read."""
    value = loads(data)
    if isinstance(value, dict) and value.get("payloadType") == STAGED_EVENT_TYPE:
        return loads(base64.b64decode(value.get("payload", ""), validate=True))
    return value


def _plain_event(data: bytes) -> bool:
    """Whether ``data`` is a JSON object that is no envelope (an event staged unsigned)."""
    try:
        value = loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and "signatures" not in value and "payload" not in value
