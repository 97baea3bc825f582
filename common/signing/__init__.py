"""Signing: Ed25519 keys, DSSE envelopes, in-toto statements and trust.

Models (``keys``, ``dsse``, ``statement``, ``trust``) do no I/O; ``keyfiles`` reads and writes key files.
"""
from __future__ import annotations

from prov_common.signing.dsse import (
    INTOTO_PAYLOAD_TYPE,
    Envelope,
    EnvelopeError,
    Opened,
    Signature,
    open_envelope,
    pae,
    sign_envelope,
    verify_envelope,
)
from prov_common.signing.keyfiles import (
    auditor_trust_from_settings,
    default_signing_key,
    load_public_key,
    load_signing_key,
    signing_key_from_settings,
    trust_from_settings,
    write_keypair,
)
from prov_common.signing.keys import PublicKey, SigningKey, key_id_of
from prov_common.signing.statement import STATEMENT_TYPE, Statement, Subject, digest_map, make_statement
from prov_common.signing.trust import TrustStore

__all__ = [
    "INTOTO_PAYLOAD_TYPE",
    "STATEMENT_TYPE",
    "Envelope",
    "EnvelopeError",
    "Opened",
    "PublicKey",
    "Signature",
    "SigningKey",
    "Statement",
    "Subject",
    "TrustStore",
    "auditor_trust_from_settings",
    "default_signing_key",
    "digest_map",
    "key_id_of",
    "load_public_key",
    "load_signing_key",
    "make_statement",
    "open_envelope",
    "pae",
    "sign_envelope",
    "signing_key_from_settings",
    "trust_from_settings",
    "verify_envelope",
    "write_keypair",
]
