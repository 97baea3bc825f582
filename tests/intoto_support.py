"""Read a bundle's signed statement the way a generic in-toto verifier does, with no tdprov code:
securesystemslib verifies the DSSE envelope, in-toto-attestation's models validate the statement,
and subjects are matched by the SHA-256 of the artifact's bytes (hashlib)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def sslib_key(public_pem: bytes) -> SSlibKey:
    """An Ed25519 verification key whose id is the one tdprov puts in envelopes: ``ed25519:<sha256 of the raw key>``."""
    public = serialization.load_pem_public_key(public_pem)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SSlibKey.from_crypto(public, keyid="ed25519:" + hashlib.sha256(raw).hexdigest())


def verified_statement(envelope_bytes: bytes, public_pem: bytes) -> dict[str, Any]:
    """The in-toto Statement v1 in a DSSE envelope, once its signature verifies and the statement validates
    (raises securesystemslib's VerificationError or ValueError otherwise)."""
    envelope = Envelope.from_dict(json.loads(envelope_bytes))
    assert envelope.payload_type == INTOTO_PAYLOAD_TYPE
    envelope.verify([sslib_key(public_pem)], 1)
    statement = json.loads(envelope.payload)
    Statement.copy_from_pb(json_format.ParseDict(statement, statement_pb2.Statement())).validate()
    return statement


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def subjects_matching(statement: dict[str, Any], sha256: str) -> list[dict[str, Any]]:
    """The subjects a verifier that accepts only ``sha256`` matches with an artifact of that digest."""
    return [s for s in statement["subject"] if s.get("digest", {}).get("sha256") == sha256]
