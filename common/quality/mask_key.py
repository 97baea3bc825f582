"""The key of masked failure-sample values: a masked value keeps a keyed digest, so the same bad value is
recognised across runs (and across machines that share the key) without being readable or guessable.

The key is 32 random bytes in ``$TDPROV_MASK_KEY`` (a file), else ``$TDPROV_HOME/mask.key``, made on
first use with mode 0600 (as the per-user signing key is). Without the key, a low-entropy value such as
an SSN cannot be found by hashing every candidate. A file ``$TDPROV_MASK_KEY`` names is never made: one that
cannot be used is refused where settings are read (:func:`check_mask_key`).
"""
from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

import blake3

from prov_common.errors import BadInputError

KEY_BYTES = 32
CONTEXT = "tdprov 2026 failure-sample value mask"


def mask_key_path() -> Path:
    """Where the mask key is: ``$TDPROV_MASK_KEY``, else ``$TDPROV_HOME/mask.key`` (default ``~/.config/tdprov``)."""
    explicit = os.environ.get("TDPROV_MASK_KEY", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("TDPROV_HOME", "").strip() or "~/.config/tdprov"
    return Path(home).expanduser() / "mask.key"


def mask_key() -> bytes:
    """The mask key (made on first use unless ``$TDPROV_MASK_KEY`` names a file)."""
    return _load(str(mask_key_path()), bool(os.environ.get("TDPROV_MASK_KEY", "").strip()))


def check_mask_key() -> None:
    """Refuse a ``$TDPROV_MASK_KEY`` that names no usable key file (missing, unreadable, too short), with an error
    naming the variable, the file and the fix: called where settings are read (a step's or task's start), so a
    wrong setting is found before any work, not when a validation first fails. The per-user key (the variable
    unset) is made on first use, as before."""
    if os.environ.get("TDPROV_MASK_KEY", "").strip():
        mask_key()


@lru_cache(maxsize=8)
def _load(path_text: str, explicit: bool) -> bytes:
    path = Path(path_text)
    if not path.exists() and not explicit:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                out.write(secrets.token_bytes(KEY_BYTES))
        except FileExistsError:
            pass  # another process made it first: use theirs
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unusable(path_text, explicit, f"cannot be read ({exc.strerror})") from None
    if len(data) < KEY_BYTES:
        raise _unusable(path_text, explicit, f"has {len(data)} bytes, not {KEY_BYTES}")
    return blake3.blake3(data, derive_key_context=CONTEXT).digest()


def _unusable(path_text: str, explicit: bool, problem: str) -> BadInputError:
    """The error for a key file that cannot be used: one ``TDPROV_MASK_KEY`` names is never replaced by a new key
    (values masked with the shared key would no longer be recognised)."""
    if explicit:
        return BadInputError(f"TDPROV_MASK_KEY names {path_text!r}, which {problem}.",
                             fix=f"put the mask key your machines share at {path_text} (a new one: head -c 32 "
                                 f"/dev/urandom > {path_text}; chmod 600), or unset TDPROV_MASK_KEY for the per-user "
                                 "key in $TDPROV_HOME/mask.key")
    return BadInputError(f"mask key {path_text} {problem}.",
                         fix="point TDPROV_MASK_KEY at a file of 32 random bytes, e.g. head -c 32 /dev/urandom > mask.key")


def masked_digest(value: str, key: bytes) -> str:
    """``bk3:<hex>``: the keyed BLAKE3 digest (128 bits) of a masked value's text."""
    return "bk3:" + blake3.blake3(value.encode("utf-8", "surrogatepass"), key=key).hexdigest(length=16)
