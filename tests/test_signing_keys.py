"""Key files, the per-user default key, trust from settings, and ``tdprov keygen``."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mount_support import small_tmpfs
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.signing import (
    SigningKey,
    default_signing_key,
    load_public_key,
    load_signing_key,
    signing_key_from_settings,
    trust_from_settings,
    write_keypair,
)


def test_keygen_writes_private_0600_and_public(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "team.key"
    assert main(["keygen", "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    pub = tmp_path / "team.key.pub"
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    key = load_signing_key(out)
    assert load_public_key(pub).key_id == key.key_id
    assert key.key_id in capsys.readouterr().out
    # never overwrites
    assert main(["keygen", "-o", str(out)]) == 2
    assert load_signing_key(out).key_id == key.key_id


def test_default_key_created_once_in_home_and_trusted_locally() -> None:
    home = Path(os.environ["TDPROV_HOME"])
    assert not (home / "signing.key").exists()
    assert len(trust_from_settings(Settings.from_env())) == 0  # verification never creates keys
    key = signing_key_from_settings(Settings.from_env())
    assert (home / "signing.key").exists() and stat.S_IMODE((home / "signing.key").stat().st_mode) == 0o600
    assert default_signing_key().key_id == key.key_id
    assert key.key_id in trust_from_settings(Settings.from_env())


def test_a_process_that_finds_the_public_key_placed_waits_for_the_private_key(tmp_path: Path) -> None:
    """A process creating the default pair places ``signing.key.pub`` first and ``signing.key`` last; another that
    started in between took the pair as made and failed reading the private key that was not there yet."""
    import threading
    import time

    made = tmp_path / "made" / "signing.key"
    write_keypair(made)  # the pair the other process is placing
    home = tmp_path / "home"
    home.mkdir()
    (home / "signing.key.pub").write_bytes(made.with_name("signing.key.pub").read_bytes())  # placed first ...
    placing = threading.Timer(0.5, lambda: os.link(made, home / "signing.key"))  # ... and the private key a moment later
    placing.start()
    try:
        started = time.monotonic()
        assert default_signing_key(home).key_id == load_signing_key(made).key_id  # theirs, read once it is there
        assert time.monotonic() - started >= 0.4
    finally:
        placing.join()


def test_a_public_key_left_without_its_private_key_is_said_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``signing.key.pub`` with no ``signing.key`` that no process completes (one stopped half-way, or the private
    key was removed): the error says so and how to start again, after a short wait for a process placing it (here
    0.1 s: none does)."""
    from prov_common.signing import keyfiles

    monkeypatch.setattr(keyfiles, "PAIR_WAIT_SECONDS", 0.1)
    made = tmp_path / "made" / "signing.key"
    write_keypair(made)
    home = tmp_path / "home"
    home.mkdir()
    (home / "signing.key.pub").write_bytes(made.with_name("signing.key.pub").read_bytes())
    with pytest.raises(BadInputError) as refused:
        default_signing_key(home)
    said = str(refused.value)
    assert f"signing key {home / 'signing.key'} is missing beside its public key {home / 'signing.key.pub'}" in said, said
    assert f"move {home / 'signing.key.pub'} aside" in said and "still absent after 0.1 s" in said, said
    assert not (home / "signing.key").exists()  # nothing made in its place: the public key may be trusted elsewhere


def test_trusted_keys_setting_replaces_local_trust(tmp_path: Path) -> None:
    own = signing_key_from_settings(Settings.from_env())
    folder = tmp_path / "team"
    write_keypair(folder / "a.key")
    write_keypair(folder / "b.key")
    _, single = write_keypair(tmp_path / "c.key")
    (folder / "a.key").unlink()  # private keys in the folder are ignored anyway; only .pub files count
    trust = trust_from_settings(Settings.from_env(trusted_keys=[str(folder), str(single)]))
    assert len(trust) == 3
    assert own.key_id not in trust
    with pytest.raises(BadInputError, match="does not exist"):
        trust_from_settings(Settings.from_env(trusted_keys=[str(tmp_path / "missing.pub")]))


def test_configured_signing_key_and_bad_key_files(tmp_path: Path) -> None:
    priv, _ = write_keypair(tmp_path / "k")
    key = signing_key_from_settings(Settings.from_env(signing_key=str(priv)))
    assert key.key_id == load_signing_key(priv).key_id
    assert key.key_id in trust_from_settings(Settings.from_env(signing_key=str(priv)))
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"not a key")
    with pytest.raises(BadInputError, match="junk.key is not a readable PEM private key"):
        load_signing_key(junk)
    with pytest.raises(BadInputError, match="cannot be read"):
        load_signing_key(tmp_path / "absent.key")
    with pytest.raises(BadInputError, match="not a PEM public key"):
        load_public_key(junk)


def test_a_key_pair_that_cannot_be_written_whole_leaves_neither_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On a full disk the private key was written and its public key left empty (or the private key itself left
    empty, which every later run then failed to read). Both files appear or neither, and the error names the folder
    and the fix."""
    with small_tmpfs(tmp_path / "full", "4k") as folder:  # room for one key file, not for two
        with pytest.raises(BadInputError) as info:
            write_keypair(folder / "team.key")
        assert f"in {folder} (No space left on device); neither was written" in str(info.value), info.value
        assert "free disk space" in str(info.value) and os.listdir(folder) == []
        assert main(["keygen", "-o", str(folder / "team.key")]) == 2
        said = capsys.readouterr().err
        assert f"in {folder}" in said and "stdout" not in said and os.listdir(folder) == [], said
        with pytest.raises(BadInputError, match="neither it nor its public key was written.*TDPROV_SIGNING_KEY"):
            default_signing_key(folder)
        assert os.listdir(folder) == []


def test_a_key_names_itself_once() -> None:
    """A run computed its key's id (SHA-256 of the public key) about 8 times, once per envelope signed or opened and
    per trust store it joined: each key object computes it once, the same id as before."""
    from prov_common.signing.keys import PublicKey, SigningKey, key_id_of

    private = SigningKey.generate()
    public = PublicKey.from_pem(private.public.to_pem())
    for key in (private, public):
        assert key.key_id is key.key_id
    assert private.key_id == public.key_id == key_id_of(public.key)
    assert private.key_id.startswith("ed25519:") and len(private.key_id) == len("ed25519:") + 64
    assert public == PublicKey.from_pem(public.to_pem())  # the cached id takes no part in equality


def test_a_key_file_holding_two_keys_is_refused(tmp_path: Path) -> None:
    """A key file read only its first key: a retired file of two lost keys (``cat a.pub b.pub``) left the second
    trusted, its signatures counting past the cut-off. A file with more than one PEM block is refused, named."""
    from prov_common.signing import sign_envelope, verify_envelope

    team = tmp_path / "team"
    _, a_pub = write_keypair(team / "a.key")
    b_priv, b_pub = write_keypair(team / "b.key")
    lost = tmp_path / "lost.pub"
    lost.write_bytes(a_pub.read_bytes() + b_pub.read_bytes())
    settings = Settings.from_env(trusted_keys=[str(team)], retired_keys=[f"{lost}@5"])
    with pytest.raises(BadInputError, match=f"{lost} holds 2 PEM blocks.*one key per file") as info:
        trust = trust_from_settings(settings)
        envelope = sign_envelope(b"forged later", "text/plain", [load_signing_key(b_priv)])
        verify_envelope(envelope, trust, position=100)  # before: passed, signed by b after its cut-off
    assert "a folder of them" in str(info.value.fix)  # the fix names how to give several keys
    both = tmp_path / "both.key"
    both.write_bytes(load_signing_key(b_priv).to_pem() * 2)
    with pytest.raises(BadInputError, match=f"{both} holds 2 PEM blocks"):
        load_signing_key(both)


def test_a_signing_key_file_holding_two_keys_names_where_the_key_is_set(tmp_path: Path) -> None:
    """A signing key file of two PEM blocks had the fix of a public key file, naming TDPROV_TRUSTED_KEYS and
    TDPROV_RETIRED_KEYS, which do not set it: the fix names the setting the key came from."""
    both = tmp_path / "both.key"
    both.write_bytes(SigningKey.generate().to_pem() + SigningKey.generate().to_pem())
    settings = Settings.from_env(signing_key=str(both))
    for setting in ("TDPROV_SIGNING_KEY", "the ProvenanceIOManager's 'signing_key' config"):
        with pytest.raises(BadInputError, match=f"{both} holds 2 PEM blocks") as info:
            signing_key_from_settings(settings, setting)
        assert info.value.fix == f"point {setting} at a file of one private key, as 'tdprov keygen' writes"


def test_a_signing_key_of_another_kind_names_where_the_key_is_set(tmp_path: Path) -> None:
    """A signing key that is not Ed25519 (an EC key) had the fix "run 'tdprov keygen'", which leaves the setting naming
    the key as it was: the fix names the setting the key came from, to point at a key 'tdprov keygen' writes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "ec.key"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    other.chmod(0o600)
    settings = Settings.from_env(signing_key=str(other))
    for setting in ("TDPROV_SIGNING_KEY", "the ProvenanceIOManager's 'signing_key' config"):
        with pytest.raises(BadInputError) as info:
            signing_key_from_settings(settings, setting)
        assert info.value.what.startswith(f"{other} is a ") and info.value.what.endswith(", not an Ed25519 key."), \
            info.value.what
        assert info.value.fix == f"point {setting} at an Ed25519 key file that 'tdprov keygen' writes", info.value.fix


def test_a_retired_entry_that_names_no_key_is_refused(tmp_path: Path) -> None:
    """A TDPROV_RETIRED_KEYS folder that held no .pub or .pem file retired nothing, unsaid: the lost key, still trusted
    (retiring wins, so it may stay listed), kept signing past the cut-off. Such an entry is refused, named."""
    _, lost = write_keypair(tmp_path / "team" / "lost.key")
    (tmp_path / "retired").mkdir()
    (tmp_path / "retired" / "lost.key.public").write_bytes(lost.read_bytes())  # misnamed: not read as a key
    settings = Settings.from_env(trusted_keys=[str(tmp_path / "team")], retired_keys=[f"{tmp_path / 'retired'}@5"])
    with pytest.raises(BadInputError, match=f"TDPROV_RETIRED_KEYS entry '{tmp_path / 'retired'}@5' names no key"):
        trust_from_settings(settings)


@pytest.mark.parametrize("source", [None, "[tdprov] trusted_keys"])  # the CLI's, and the Airflow bundles page's
@pytest.mark.parametrize("which", ["own", "folder"])
def test_a_local_trust_key_that_cannot_be_read_is_named_with_its_own_fix(tmp_path: Path, which: str,
                                                                         source: str | None) -> None:
    """Local trust (no trusted keys set) reads the signing key's .pub and TDPROV_HOME/trusted_keys/: a file there that
    cannot be read (one larger than a key file) had the fix to check the path given by the trusted keys setting, which
    gave none; it now names the file and what to do with it."""
    home = Path(os.environ["TDPROV_HOME"])
    if which == "own":
        signing_key_from_settings(Settings.from_env())
        bad = home / "signing.key.pub"
    else:
        (home / "trusted_keys").mkdir()
        bad = home / "trusted_keys" / "team.pub"
    bad.write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(BadInputError) as raised:
        trust_from_settings(Settings.from_env(), source=source)
    fix = raised.value.fix or ""
    assert "trusted-keys" not in fix and "TDPROV_TRUSTED_KEYS" not in fix and (source is None or source not in fix), fix
    assert str(bad) in fix, fix


@pytest.mark.parametrize("setting", ["TDPROV_RETIRED_KEYS", "TDPROV_AUDITOR_KEYS", "TDPROV_RETIRED_AUDITOR_KEYS"])
@pytest.mark.parametrize("bad", ["too large", "not PEM", "missing"])
def test_a_retired_or_auditor_key_file_that_cannot_be_had_names_its_own_setting(tmp_path: Path, setting: str, bad: str) -> None:
    """A retired or auditor public key file that could not be read, was not a PEM key or did not exist had the fix of
    the trusted keys (check the path given by --trusted-keys or TDPROV_TRUSTED_KEYS), which did not name it; the error
    names the file, and the fix the setting that gave it."""
    from prov_common.signing import auditor_trust_from_settings

    _, team = write_keypair(tmp_path / "team.key")
    given = tmp_path / "given.pub"
    if bad == "too large":
        given.write_bytes(b"x" * (64 * 1024 + 1))
    elif bad == "not PEM":
        given.write_bytes(b"not a key\n")
    entry = f"{given}@5" if "RETIRED" in setting else str(given)
    settings = Settings.from_env(trusted_keys=[str(team)], **{
        "TDPROV_RETIRED_KEYS": {"retired_keys": [entry]},
        "TDPROV_AUDITOR_KEYS": {"auditor_keys": [entry]},
        "TDPROV_RETIRED_AUDITOR_KEYS": {"auditor_keys": [str(team)], "retired_auditor_keys": [entry]},
    }[setting])
    with pytest.raises(BadInputError) as raised:
        auditor_trust_from_settings(settings) if "AUDITOR" in setting else trust_from_settings(settings)
    fix = raised.value.fix or ""
    assert str(given) in raised.value.what and "trusted" not in raised.value.what, raised.value.what
    assert setting in fix and "TRUSTED_KEYS" not in fix and "--trusted-keys" not in fix, fix



def test_a_public_key_file_of_two_keys_named_by_another_setting_names_that_setting(tmp_path: Path) -> None:
    """A trusted key file of two PEM blocks named by another configuration than the CLI's (Airflow's [tdprov]
    trusted_keys) had the fix naming the CLI's variables, TDPROV_TRUSTED_KEYS and TDPROV_RETIRED_KEYS, which that
    configuration overrides: the fix names the setting that gave the file."""
    _, a_pub = write_keypair(tmp_path / "a.key")
    _, b_pub = write_keypair(tmp_path / "b.key")
    both = tmp_path / "both.pub"
    both.write_bytes(a_pub.read_bytes() + b_pub.read_bytes())
    settings = Settings.from_env(trusted_keys=[str(both)])
    with pytest.raises(BadInputError, match=f"{both} holds 2 PEM blocks") as raised:
        trust_from_settings(settings, source="[tdprov] trusted_keys")
    assert raised.value.fix == ("put one key per file, and name several public keys one by one or as a folder of them in "
                                "[tdprov] trusted_keys"), raised.value.fix
    with pytest.raises(BadInputError, match=f"{both} holds 2 PEM blocks") as raised:
        trust_from_settings(settings)
    assert "--trusted-keys or TDPROV_TRUSTED_KEYS" in (raised.value.fix or ""), raised.value.fix
