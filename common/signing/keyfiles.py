"""Key files on disk: key pairs, the per-user default key, and the trusted keys of the settings."""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import shlex
import time
from pathlib import Path

from prov_common.config import Settings, default_home
from prov_common.errors import BadInputError
from prov_common.once import Once
from prov_common.regular_file import read_regular
from prov_common.replace_file import part_file
from prov_common.signing.keys import KEY_VARIABLE, PublicKey, SigningKey
from prov_common.signing.trust import TrustStore
from prov_common.text import counted

log = logging.getLogger(__name__)

PUBLIC_SUFFIX = ".pub"
DEFAULT_KEY_NAME = "signing.key"
TRUSTED_DIR = "trusted_keys"
KEY_FILE_LIMIT = 64 * 1024  # a PEM key is a few hundred bytes: a larger "key file" is refused, not read whole


def public_path_for(private_path: Path) -> Path:
    return private_path.with_name(private_path.name + PUBLIC_SUFFIX)


def rewrite_public_command(private_path: Path) -> str:
    """The command that writes the public key of ``private_path`` over the ``.pub`` beside it."""
    return f"openssl pkey -in {shlex.quote(str(private_path))} -pubout -out {shlex.quote(str(public_path_for(private_path)))}"


STALE_PUBLIC_WARNED = Once()


def _check_public_beside(path: Path, key: SigningKey) -> None:
    """Warn (once per process for each pair of keys) when the ``.pub`` beside the signing key ``path`` holds another
    key than its public key: a key copied over ``path`` leaves the old ``.pub``, which local trust takes, so every
    bundle the key signs would fail verification as signed by an untrusted key. A missing or unreadable ``.pub`` is
    left to whoever reads it (local trust names it)."""
    pub = public_path_for(path)
    try:
        beside = PublicKey.from_pem(read_regular(pub, limit=KEY_FILE_LIMIT), source=str(pub))
    except (OSError, BadInputError):
        return
    if beside.key_id == key.key_id or not STALE_PUBLIC_WARNED.first(str(path), key.key_id, beside.key_id):
        return
    log.warning("tdprov: the public key %s (%s) is not that of the signing key %s beside it (%s): local trust (no "
                "TDPROV_TRUSTED_KEYS) takes %s, so what this key signs fails 'tdprov verify' as 'untrusted key' (warned "
                "once per process). Fix: if %s is the key to sign with, rewrite its public key: %s",
                pub, beside.key_id, path, key.key_id, pub, path, rewrite_public_command(path))


def _stage(final: Path, data: bytes, mode: int) -> Path:
    """``data`` written whole and synced to a new temporary file beside ``final``, created with ``mode`` (never
    readable by more users, not even briefly); nothing is left behind when the write fails."""
    with part_file(final, mode) as (tmp, fh):
        fh.write(data)
    return tmp


def _place(tmp: Path, final: Path) -> None:
    """Give the staged file ``tmp`` its name ``final``; never replaces a file (:class:`FileExistsError`)."""
    try:
        os.link(tmp, final)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(final):  # a file system without hard links: check, then rename
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final)) from None
        os.rename(tmp, final)


def _create_pair(priv: Path, key: SigningKey) -> None:
    """Both key files, or neither: each is written whole under a temporary name, then the public key is put in
    place and the private key last, so a private key on disk always has its public key beside it.

    Raises :class:`FileExistsError` (naming the file) when either exists, :class:`OSError` when a write fails
    (a full disk, a read-only folder); on any failure neither file is left, nor any temporary file."""
    pub = public_path_for(priv)
    for path in (priv, pub):
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    priv.parent.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        staged.append((_stage(pub, key.public.to_pem(), 0o666), pub))  # the umask applies, as to any new file
        staged.append((_stage(priv, key.to_pem(), 0o600), priv))
        for tmp, final in staged:
            _place(tmp, final)
            placed.append(final)
    except BaseException:
        for final in placed:  # a public key placed before the private key failed: taken back
            with contextlib.suppress(OSError):
                os.unlink(final)
        raise
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):  # gone already when renamed
                os.unlink(tmp)


def write_keypair(private_path: str | os.PathLike[str], key: SigningKey | None = None) -> tuple[Path, Path]:
    """Write a new key pair: ``PATH`` (PKCS#8 PEM, mode 0600) and ``PATH.pub`` (PEM public key).

    Both files appear, or neither (see :func:`_create_pair`). Refuses to overwrite an existing file; a write that
    fails (a full disk) raises :class:`BadInputError` naming the folder and the fix.
    """
    priv = Path(private_path)
    pub = public_path_for(priv)
    try:
        _create_pair(priv, key or SigningKey.generate())
    except FileExistsError as exc:
        raise BadInputError(f"key file {exc.filename} already exists.", fix="choose another path or delete the old key first") from None
    except OSError as exc:
        raise BadInputError(
            f"cannot write the key pair {priv.name} and {pub.name} in {priv.parent} ({exc.strerror or exc}); neither was written.",
            fix=f"free disk space in {priv.parent} or make it writable, or write the pair to another folder (tdprov keygen -o PATH)",
        ) from exc
    return priv, pub


def load_signing_key(path: str | os.PathLike[str], setting: str = KEY_VARIABLE) -> SigningKey:
    """Read a private key file; warns when other users can read it, and when the ``.pub`` beside it holds another key
    (``setting``: where the key is set, named in the fix when it cannot be had)."""
    p = Path(path)
    try:
        data = read_regular(p, limit=KEY_FILE_LIMIT)
    except OSError as exc:
        raise BadInputError(
            f"signing key {p} cannot be read ({exc.strerror or exc}).", fix=f"set {setting} to a file from 'tdprov keygen'"
        ) from exc
    if os.name == "posix" and p.stat().st_mode & 0o077:
        log.warning("signing key %s is readable by other users; run: chmod 600 %s", p, p)
    key = SigningKey.from_pem(data, source=str(p), setting=setting)
    _check_public_beside(p, key)
    return key


TRUSTED_GIVEN = "--trusted-keys or TDPROV_TRUSTED_KEYS"  # where the CLI's trusted keys are set, as its fixes name it


def load_public_key(path: str | os.PathLike[str], given: str = TRUSTED_GIVEN, *, fix: str | None = None) -> PublicKey:
    """Read a public key file (``given``: where its path is set, named in the fix when it cannot be read or is not an
    Ed25519 public key; ``fix``: the fix of a file that cannot be read in full, for a file no setting names)."""
    p = Path(path)
    try:
        data = read_regular(p, limit=KEY_FILE_LIMIT)
    except OSError as exc:
        raise BadInputError(f"public key {p} cannot be read ({exc.strerror or exc}).",
                            fix=fix or f"check the path given by {given}") from exc
    return PublicKey.from_pem(data, source=str(p), given=None if fix else given)


def default_key_path(home: Path | None = None) -> Path:
    return (home or default_home()) / DEFAULT_KEY_NAME


def default_signing_key(home: Path | None = None, setting: str = KEY_VARIABLE) -> SigningKey:
    """The per-user key under ``TDPROV_HOME``, created on first use (as ssh does).

    Raises :class:`BadInputError` naming the path and the fix when the key cannot be created there
    (a read-only or full home folder); the fix names ``setting`` as where another key can be set."""
    path = default_key_path(home)
    if not path.exists():
        try:
            _create_pair(path, SigningKey.generate())
            log.info("created signing key %s (public key %s)", path, public_path_for(path))
        except FileExistsError:  # another process is creating the pair: read theirs once it is whole
            _wait_for_private_key(path, setting)
        except OSError as exc:
            raise BadInputError(f"cannot create the signing key {path} ({exc.strerror or exc}); neither it nor its public key "
                                "was written.",
                                fix=f"free disk space in TDPROV_HOME ({path.parent}) or make it writable, or set "
                                    f"{setting} to a key file from 'tdprov keygen'") from exc
    return load_signing_key(path, setting)


PAIR_WAIT_SECONDS = 2.0
"""How long a process that finds the default public key placed waits for the private key, placed last beside it."""


def _wait_for_private_key(path: Path, setting: str = KEY_VARIABLE) -> None:
    """Return once the private key ``path`` exists; another process placed its public key first and places it last,
    a moment later. Raises :class:`BadInputError` when it is still missing after :data:`PAIR_WAIT_SECONDS`."""
    deadline = time.monotonic() + PAIR_WAIT_SECONDS
    while not os.path.lexists(path):
        if time.monotonic() >= deadline:
            pub = public_path_for(path)
            raise BadInputError(
                f"signing key {path} is missing beside its public key {pub} (still absent after {PAIR_WAIT_SECONDS:g} s: "
                "a process creating the pair stopped half-way, or the private key was removed).",
                fix=f"move {pub} aside to have a new pair created on the next run, or set {setting} to a key "
                    "file from 'tdprov keygen'")
        time.sleep(0.05)


def signing_key_from_settings(settings: Settings | None = None, setting: str = KEY_VARIABLE) -> SigningKey:
    """``TDPROV_SIGNING_KEY`` when set, else the per-user default key; ``setting``: where the key is set (a
    configuration that overrides the variable), named in the fix of a key that cannot be had."""
    settings = settings or Settings.from_env()
    if settings.signing_key:
        return load_signing_key(settings.signing_key, setting)
    return default_signing_key(setting=setting)


def own_key_path(settings: Settings, home: Path | None = None) -> Path:
    """The configured signing key's file: ``TDPROV_SIGNING_KEY``, else the per-user default key (existing or not)."""
    return Path(settings.signing_key) if settings.signing_key else default_key_path(home)


def local_public_file(settings: Settings, home: Path | None = None) -> Path | None:
    """The ``.pub`` beside the signing key that local trust takes as the own key's (read as it is, whatever private
    key is beside it), or None when ``TDPROV_TRUSTED_KEYS`` is set or there is no such file."""
    if settings.trusted_keys:
        return None
    pub = public_path_for(own_key_path(settings, home))
    return pub if pub.exists() else None


def stale_public_note(settings: Settings, untrusted: int, home: Path | None = None) -> str | None:
    """With ``untrusted`` bundles signed by an untrusted key under local trust: that the ``.pub`` beside the signing key,
    which local trust takes, may be stale (a key copied over the signing key leaves it), and the command that rewrites
    it; None when there is none to blame (no such bundle, trusted keys named, no ``.pub``). The private key is not
    read: verification never needs it. 'tdprov verify' ends its summary with it, 'tdprov audit' says it after the keys
    that are not trusted."""
    if not untrusted or (pub := local_public_file(settings, home)) is None:
        return None
    own = own_key_path(settings, home)
    return (f"{counted(untrusted, 'bundle')} {'is' if untrusted == 1 else 'are'} signed by an untrusted key: local trust "
            f"takes your key from {pub}, which is stale if another key was copied over {own} (a seal with it warns); "
            f"if so, rewrite it: {rewrite_public_command(own)}")


def own_public_key(settings: Settings | None = None, home: Path | None = None,
                   setting: str = KEY_VARIABLE) -> PublicKey | None:
    """The public key of the configured signing key (``TDPROV_SIGNING_KEY`` or the per-user default key) when it
    exists; None when it does not (none is created, unlike :func:`signing_key_from_settings`). ``setting``: where the
    key is set, named in the fix when it cannot be read."""
    own = own_key_path(settings or Settings.from_env(), home)
    own_pub = public_path_for(own)
    if own_pub.exists():  # beside the key, named by no trusted keys setting
        return load_public_key(own_pub, fix=f"replace {own_pub} with the public key of {own}, or move it aside (the key "
                                            f"is then taken from {own})")
    return load_signing_key(own, setting).public if own.exists() else None


def _keys_in(entry: str, setting: str = "TDPROV_TRUSTED_KEYS", source: str | None = None) -> list[PublicKey]:
    """The public keys of ``entry``, a file or a folder of them given by ``setting`` of the CLI (its trusted keys,
    retired keys or auditor keys), or by ``source`` (another configuration), named in the fix when it cannot be read."""
    p = Path(entry)
    trusted = setting == "TDPROV_TRUSTED_KEYS"
    given = source or (TRUSTED_GIVEN if trusted else setting)
    if p.is_dir():
        return [load_public_key(f, given) for f in _key_files(p)]
    if not p.exists():
        where = "(--trusted-keys, or TDPROV_TRUSTED_KEYS when no option is given)" if given == TRUSTED_GIVEN else f"in {given}"
        raise BadInputError(f"{'trusted key' if trusted else setting} path {p} does not exist.",
                            fix=f"name existing .pub files or folders of them {where}")
    return [load_public_key(p, given)]


def auditor_trust_from_settings(settings: Settings | None = None, home: Path | None = None) -> TrustStore:
    """The keys whose signatures count on what audits write: ``TDPROV_AUDITOR_KEYS`` with the retired ones of
    ``TDPROV_RETIRED_AUDITOR_KEYS`` when set, else the trusted keys (:func:`trust_from_settings`)."""
    settings = settings or Settings.from_env()
    if not settings.auditor_keys:
        return trust_from_settings(settings, home)
    trust = _trust_in(settings.auditor_keys, "TDPROV_AUDITOR_KEYS")
    _retire(trust, settings.retired_auditor_keys, "TDPROV_RETIRED_AUDITOR_KEYS")
    return trust


def _retire(trust: TrustStore, entries: tuple[str, ...], setting: str) -> None:
    """Add the retired keys of ``entries`` (each ``PATH@SIZE``: a public key file, or a folder of them, and the log
    size at which it was retired, given by ``setting``) to ``trust``."""
    for entry in entries:
        path, _, size = entry.rpartition("@")
        if not path or not size.isdigit():
            raise BadInputError(f"{setting} entry {entry!r} is not PATH@SIZE.",
                                fix=f"name each retired public key with the log size when it was retired, e.g. {setting}=old.key.pub@1200 "
                                    "(the size of the newest checkpoint: 'tdprov audit --json' prints it)")
        keys = _keys_in(path, setting)
        if not keys:  # else the lost key, which may stay listed as trusted, would count past its cut-off
            raise BadInputError(f"{setting} entry {entry!r} names no key: the folder {path} holds no .pub or .pem file.",
                                fix=f"name the retired public key's file, or put it in {path} with a .pub name")
        for key in keys:
            trust.retire(key, int(size))


def _trust_in(entries: tuple[str, ...], setting: str, source: str | None = None) -> TrustStore:
    """The keys in ``entries`` (public key files or folders of them, given by ``setting``, or ``source``: see
    :func:`_keys_in`)."""
    trust = TrustStore()
    for entry in entries:
        for key in _keys_in(entry, setting, source):
            trust.add(key)
    return trust


def trust_from_settings(settings: Settings | None = None, home: Path | None = None, source: str | None = None,
                        key_setting: str = KEY_VARIABLE) -> TrustStore:
    """Trusted keys: ``TDPROV_TRUSTED_KEYS`` (files or folders) when set, with the retired keys of
    ``TDPROV_RETIRED_KEYS``. ``source``: where the trusted keys are set when not by the CLI (``--trusted-keys``,
    or ``TDPROV_TRUSTED_KEYS``), named in the fix of keys that cannot be read; ``key_setting``: where the signing key
    is set, named in the fix of one local trust cannot read.

    Without ``TDPROV_TRUSTED_KEYS``, local trust: the public key of the configured signing key (``TDPROV_SIGNING_KEY`` or the
    per-user default key, if it exists) and every key in ``TDPROV_HOME/trusted_keys/``.
    """
    settings = settings or Settings.from_env()
    trust = _trusted(settings, home, source, key_setting)
    _retire(trust, settings.retired_keys, "TDPROV_RETIRED_KEYS")
    return trust


def sealing_trust(settings: Settings, own: PublicKey | None = None) -> TrustStore:
    """The keys whose staged events and attachments a seal of this process takes: the trusted keys of ``settings``
    (:func:`trust_from_settings`) and its own, ``own`` (a writer's, made if need be to seal) or else the configured
    signing key's when it exists (none is created: no object staged was signed by a key made now). Raises
    :class:`BadInputError` when the trusted keys cannot be read."""
    trust = trust_from_settings(settings)
    if own is None and settings.trusted_keys:  # else the configured key is among the local trust already
        own = own_public_key(settings)
    if own is not None:
        trust.add(own)
    return trust


def _trusted(settings: Settings, home: Path | None, source: str | None = None, key_setting: str = KEY_VARIABLE) -> TrustStore:
    if settings.trusted_keys:
        return _trust_in(settings.trusted_keys, "TDPROV_TRUSTED_KEYS", source)
    folder = home or default_home()
    if folder.exists() and not folder.is_dir():  # else every bundle would be "signed by an untrusted key"
        raise BadInputError(f"the tdprov home {folder} (TDPROV_HOME) is not a folder: the trusted keys are read from it.",
                            fix="set TDPROV_HOME to a folder (default ~/.config/tdprov), or name the keys in "
                                f"{source or 'TDPROV_TRUSTED_KEYS'}")
    trust = TrustStore()
    if (own := own_public_key(settings, home, key_setting)) is not None:
        trust.add(own)
    local = folder / TRUSTED_DIR
    if local.is_dir():  # named by no trusted keys setting
        for f in _key_files(local):
            trust.add(load_public_key(f, fix=f"replace {f} with a public key file from 'tdprov keygen', or remove it: "
                                             f"local trust takes every .pub and .pem file in {local}"))
    return trust


def _key_files(folder: Path) -> list[Path]:
    """The public key files of ``folder`` (``.pub`` and ``.pem``), sorted."""
    return [f for f in sorted(folder.iterdir()) if f.is_file() and f.suffix in (".pub", ".pem")]
