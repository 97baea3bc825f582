"""Ed25519 keys and key ids (no file I/O here: PEM bytes in, PEM bytes out)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from prov_common.errors import BadInputError

KEY_ID_PREFIX = "ed25519:"
KEY_VARIABLE = "TDPROV_SIGNING_KEY"  # the setting a signing key's fix names, where no other was given
PEM_BEGIN = b"-----BEGIN "


def _one_pem(data: bytes, name: str, setting: str | None = None, given: str | None = None) -> None:
    """Refuse a key file of more than one PEM block: the loader reads the first key only, and the others would be
    dropped unsaid (a retired or trusted key file of two keys, ``cat a.pub b.pub``, would name one of them).
    ``setting``: where a signing key is set, named in its fix; ``given``: where a public key file is named (a public
    key's fix names the trusted keys settings without it)."""
    if (blocks := data.count(PEM_BEGIN)) > 1:
        fix = (f"point {setting} at a file of one private key, as 'tdprov keygen' writes" if setting else
               "put one key per file, and name several public keys one by one or as a folder of them "
               + (f"in {given}" if given else "(TDPROV_TRUSTED_KEYS, TDPROV_RETIRED_KEYS=FOLDER@SIZE)"))
        raise BadInputError(f"{name} holds {blocks} PEM blocks where a key file holds one key.", fix=fix)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """``ed25519:<hex SHA-256 of the raw 32-byte public key>``: the name of a key in envelopes and reports."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_ID_PREFIX + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """A public key that verifies signatures; ``source`` says where it was loaded from."""

    key: Ed25519PublicKey
    source: str = ""

    @cached_property
    def key_id(self) -> str:
        """Computed once per key object (a run names its keys in each envelope it signs or opens)."""
        return key_id_of(self.key)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's signature of ``message``."""
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def to_pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def __reduce__(self) -> tuple:
        """Pickled as its PEM (verification workers receive the trust of the process that started them)."""
        return PublicKey.from_pem, (self.to_pem(), self.source)

    @classmethod
    def from_pem(cls, data: bytes, source: str = "", given: str | None = None) -> "PublicKey":
        """Parse a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo); anything but Ed25519 is refused (``given``: the setting
        that named the file, named in the fix)."""
        name = source or "public key"
        _one_pem(data, name, given=given)
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise BadInputError(
                f"{name} is not a PEM public key ({exc}).",
                fix=f"name in {given} the .pub file that 'tdprov keygen' wrote" if given else "pass the .pub file that 'tdprov keygen' wrote",
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise BadInputError(f"{name} is a {type(key).__name__}, not an Ed25519 key.",
                                fix=f"name in {given} an Ed25519 .pub file that 'tdprov keygen' wrote" if given else "run 'tdprov keygen'")
        return cls(key, source)


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key that signs bundles; ``source`` says where it was loaded from."""

    key: Ed25519PrivateKey
    source: str = ""

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(Ed25519PrivateKey.generate(), "generated")

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key(), self.source)

    @cached_property
    def key_id(self) -> str:
        """Computed once per key object, as :attr:`PublicKey.key_id`."""
        return key_id_of(self.key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def to_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM (the file that holds it must be private: mode 0600)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(cls, data: bytes, source: str = "", password: bytes | None = None,
                 setting: str = KEY_VARIABLE) -> "SigningKey":
        """Parse a PEM PKCS#8 private key; anything but Ed25519 is refused (``setting``: where the key is set, named
        in the fix)."""
        name = source or "signing key"
        _one_pem(data, name, setting)
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as exc:
            raise BadInputError(
                f"{name} is not a readable PEM private key ({exc}).",
                fix=f"point {setting} at the private key file that 'tdprov keygen' wrote",
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise BadInputError(f"{name} is a {type(key).__name__}, not an Ed25519 key.",
                                fix=f"point {setting} at an Ed25519 key file that 'tdprov keygen' writes")
        return cls(key, source)
