"""Read a bundle's signed statement the way a generic in-toto verifier does, with no tdprov code:
securesystemslib verifies the DSSE envelope, in-toto-attestation's models validate the statement,
and subjects are matched by the SHA-256 of the artifact's bytes (hashlib)."""
from __future__ import annotations

import hashlib
import json
import re
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


# Digest sizes in bytes of in-toto's fixed-size DigestSet algorithms, as its Go validator checks them
# (in-toto/attestation go/v1 resource_descriptor.go; the Python model does not check digests).
IN_TOTO_DIGEST_SIZES = {"md5": 16, "sha1": 20, "sha224": 28, "sha512_224": 28, "sha256": 32, "sha512_256": 32, "sha384": 48,
                        "sha512": 64, "sha3_224": 28, "sha3_256": 32, "sha3_384": 48, "sha3_512": 64, "gitCommit": 20, "dirHash": 32}


def digest_set_problems(digests: dict[str, str]) -> list[str]:
    """What in-toto's ResourceDescriptor validation refuses in a DigestSet: a value of a fixed-size algorithm that is
    not hex of whole bytes, or not of that algorithm's size (other algorithms are not checked)."""
    problems = []
    for algo, value in digests.items():
        size = IN_TOTO_DIGEST_SIZES.get(algo)
        if size is None:
            continue
        if not re.fullmatch(r"(?:[0-9a-fA-F]{2})*", value) or len(value) != 2 * size:  # Go's hex.DecodeString, then the size
            problems.append(f"{algo}: {value!r} is not {size} bytes of hex")
    return problems


def verified_statement(envelope_bytes: bytes, public_pem: bytes) -> dict[str, Any]:
    """The in-toto Statement v1 in a DSSE envelope, once its signature verifies and the statement validates, with
    the DigestSet of every subject and of every input and output it names as in-toto's Go validator checks them
    (raises securesystemslib's VerificationError, ValueError or AssertionError otherwise)."""
    envelope = Envelope.from_dict(json.loads(envelope_bytes))
    assert envelope.payload_type == INTOTO_PAYLOAD_TYPE
    envelope.verify([sslib_key(public_pem)], 1)
    statement = json.loads(envelope.payload)
    Statement.copy_from_pb(json_format.ParseDict(statement, statement_pb2.Statement())).validate()
    predicate = statement["predicate"] if isinstance(statement.get("predicate"), dict) else {}
    for descriptor in [*statement["subject"], *predicate.get("inputs", []), *predicate.get("outputs", [])]:
        problems = digest_set_problems(descriptor.get("digest", {}))
        assert not problems, f"{descriptor.get('name')}: {problems}"
    return statement


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def subjects_matching(statement: dict[str, Any], sha256: str) -> list[dict[str, Any]]:
    """The subjects a verifier that accepts only ``sha256`` matches with an artifact of that digest."""
    return [s for s in statement["subject"] if s.get("digest", {}).get("sha256") == sha256]
