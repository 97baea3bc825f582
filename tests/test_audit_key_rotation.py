"""Rotating a lost key as docs/threat-model.md "Keys" says: the lost key is retired at the log size of the loss
(``TDPROV_RETIRED_KEYS`` for a writer's key). What it signed before stays trusted where the log fixed it; what it
signs after the cut-off is a finding, in the incremental and the full audit, for an auditor without memory, and in
``tdprov verify`` and the other readers. On a local folder store."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.signing.dsse import FIX_RETIRED
from prov_common.audit.memory import memory_path
from prov_common.bundle.verify_pool import map_batches
from prov_common.bundle.verify_runs import _verify_batch
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.signing import SigningKey, trust_from_settings, write_keypair
from prov_common.store import open_store

from test_audit_support import T0, dataset, digest, run_events, seal, audit as _audit


def _errors(result) -> list[str]:
    return [f"[{f.check}] {f.object}: {f.what}" for f in result.errors]


def _keys(tmp_path: Path, *names: str) -> dict[str, SigningKey]:
    made = {}
    for name in names:
        made[name] = SigningKey.generate()
        write_keypair(tmp_path / "keys" / f"{name}.key", made[name])
    return made


def _pub(tmp_path: Path, name: str) -> str:
    return str(tmp_path / "keys" / f"{name}.key.pub")


@pytest.fixture
def rotated(tmp_path, monkeypatch):
    """Writer key w1 signs runs A and B, which an audit logs (log size 2); then w1 is lost: TDPROV_TRUSTED_KEYS names
    the new key w2 only and TDPROV_RETIRED_KEYS retires w1 at log size 2. w2 signs C; the thief signs D with w1."""
    keys = _keys(tmp_path, "w1", "w2", "auditor")
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(tmp_path / "keys" / "auditor.key"))
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", _pub(tmp_path, "auditor"))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", os.pathsep.join([_pub(tmp_path, "w1"), _pub(tmp_path, "w2")]))
    store = open_store(str(tmp_path / "store"))
    a = seal(store, run_events("prepare", [], [dataset("/d/f", digest("f"))]), keys["w1"])
    b = seal(store, run_events("derive", [dataset("/d/f", digest("f"))], [dataset("/d/g", digest("g"))], start=T0 + timedelta(hours=1)),
             keys["w1"])
    before = _audit(store)
    assert before.clean and before.checkpoint.checkpoint.size == 2, _errors(before)

    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", _pub(tmp_path, "w2"))
    monkeypatch.setenv("TDPROV_RETIRED_KEYS", f"{_pub(tmp_path, 'w1')}@2")
    c = seal(store, run_events("derive_more", [dataset("/d/g", digest("g"))], [dataset("/d/h", digest("h"))],
                               start=T0 + timedelta(hours=2)), keys["w2"])
    d = seal(store, run_events("forged", [], [dataset("/d/x", digest("x"))], start=T0 + timedelta(hours=3)), keys["w1"])
    return store, (a, b, c, d)


def _only_forged(result, forged: str) -> None:
    found = _errors(result)
    assert len(found) == 1, found
    assert result.errors[0].run_id == forged and "signed by retired key" in found[0] and "cut-off at log size 2" in found[0], found
    assert result.errors[0].fix == FIX_RETIRED  # not "the object was altered after the run was sealed"


def test_a_lost_writer_key_retired_at_the_log_size_keeps_what_it_signed_before(rotated) -> None:
    store, (a, b, c, d) = rotated
    _only_forged(_audit(store), d)  # incremental: the new bundles
    full = _audit(store, full=True)  # every bundle again, against the log
    _only_forged(full, d)
    assert {a, b, c, d} <= full.examined
    _only_forged(_audit(store), d)  # the incremental audits after it carry the full audit's results
    memory_path(store.uri).unlink()  # an auditor with no memory of the store
    _only_forged(_audit(store), d)
    _only_forged(_audit(store, full=True), d)


def test_verify_and_the_readers_apply_the_same_rule(rotated, capsys) -> None:
    store, (a, b, c, d) = rotated
    assert _audit(store).checkpoint.checkpoint.size == 4  # D is logged, after the cut-off
    assert main(["verify", "--store", store.uri]) == 1
    out = capsys.readouterr().out
    for run_id in (a, b, c):
        assert f"OK    {run_id}" in out, out
    assert f"FAIL  {d}" in out and "after its cut-off at log size 2" in out, out
    assert main(["show", "--store", store.uri, a]) == 0 and main(["show", "--store", store.uri, d]) == 1
    from prov_common.bundle.trust import bundle_trust

    trust = bundle_trust(Settings.from_env(store=store.uri), store)  # verification workers get the same rule
    reports = list(map_batches(_verify_batch, [(r, None) for r in (a, b, c, d)], store, trust, workers=2, parallel_from=2))
    assert [r.ok for r in reports] == [True, True, True, False], [r.findings for r in reports]


def test_a_retired_key_counts_only_where_the_log_holds_its_bundle(rotated, tmp_path, monkeypatch) -> None:
    """A bundle of the retired key that no audit logged before the cut-off is a finding even when older than D; a
    cut-off beyond the log's size is a finding of its own (what the key signs next would count)."""
    store, (a, _b, _c, d) = rotated
    late = seal(store, run_events("sealed_before_loss_never_logged", [], [dataset("/d/y", digest("y"))], start=T0 - timedelta(hours=1)),
                SigningKey.from_pem((tmp_path / "keys" / "w1.key").read_bytes()))
    found = _audit(store)
    assert {f.run_id for f in found.errors} == {d, late}, _errors(found)
    monkeypatch.setenv("TDPROV_RETIRED_KEYS", f"{_pub(tmp_path, 'w1')}@99")
    beyond = _audit(store)
    assert any("cut-off at log size 99, beyond the log's 5 leaves" in w for w in _errors(beyond)), _errors(beyond)
    monkeypatch.setenv("TDPROV_RETIRED_KEYS", _pub(tmp_path, "w1"))
    with pytest.raises(BadInputError, match="is not PATH@SIZE"):
        trust_from_settings(Settings.from_env())


def test_a_lost_auditor_key_retired_at_the_log_size_lets_the_store_be_audited_again(tmp_path, monkeypatch, capsys) -> None:
    """The auditor's key a1 is lost: audits sign with a2, TDPROV_AUDITOR_KEYS names a2 only and a1 is retired at the log
    size (TDPROV_RETIRED_AUDITOR_KEYS). Everything a1 wrote up to then counts; the next checkpoint, signed by a2, extends
    a1's head; new bundles are logged. Before, every checkpoint, state, catalog, lookup and record a1 had signed was a
    finding on every audit, nothing new was logged, and accepting the checkpoint changed nothing."""
    from prov_common.audit.state import STATE_PAYLOAD_TYPE, STATE_PREFIX
    from prov_common.canonical_json import loads
    from prov_common.signing import Envelope, sign_envelope

    from test_audit_support import raw_read, raw_write

    keys = _keys(tmp_path, "writer", "a1", "a2")
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(tmp_path / "keys" / "a1.key"))
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", _pub(tmp_path, "a1"))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", _pub(tmp_path, "writer"))
    store = open_store(str(tmp_path / "store"))
    first = seal(store, run_events("prepare", [], [dataset("/d/f", digest("f"))]), keys["writer"])
    assert _audit(store).clean
    old_head = _audit(store).checkpoint
    assert old_head.checkpoint.size == 1

    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(tmp_path / "keys" / "a2.key"))
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", _pub(tmp_path, "a2"))
    monkeypatch.setenv("TDPROV_RETIRED_AUDITOR_KEYS", f"{_pub(tmp_path, 'a1')}@1")
    second = seal(store, run_events("prepare_more", [], [dataset("/d/g", digest("g"))], start=T0 + timedelta(hours=1)), keys["writer"])
    after = _audit(store)
    assert after.clean and after.bundles_logged == 1, _errors(after)
    head = after.checkpoint
    assert head.checkpoint.size == 2 and head.signer == keys["a2"].key_id and head.checkpoint.previous == old_head.digest
    for result in (_audit(store), _audit(store, full=True)):
        assert result.clean, _errors(result)
    memory_path(store.uri).unlink()  # an auditor with no memory of the store
    assert _audit(store).clean and _audit(store, full=True).clean
    assert main(["verify", "--store", store.uri]) == 0
    assert main(["prove", "--store", store.uri, first]) == 0 and main(["prove", "--store", store.uri, second]) == 0
    capsys.readouterr()

    # the thief signs with a1 after the cut-off: an audit state at the new head that would drop its open results
    a1 = SigningKey.from_pem((tmp_path / "keys" / "a1.key").read_bytes())
    newest = list(store.list(STATE_PREFIX))[-1]
    state = Envelope.from_json(raw_read(store.uri, newest)).payload
    forged = newest.rsplit("-", 2)[0] + "-99991231T235959999999Z-zzzzzzzz.json"
    raw_write(store.uri, forged, sign_envelope(state, STATE_PAYLOAD_TYPE, [a1]).to_json())
    # ... and one at the old size, which a1 could have signed before: it appeared after the key was retired
    old_state = [k for k in store.list(STATE_PREFIX) if k.startswith(f"{STATE_PREFIX}000000000001-")][-1]
    planted = old_state.rsplit("-", 2)[0] + "-99991231T235959999999Z-yyyyyyyy.json"
    raw_write(store.uri, planted, raw_read(store.uri, old_state))
    assert loads(Envelope.from_json(raw_read(store.uri, planted)).payload)["checkpoint"]["size"] == 1
    for _ in ("found", "still found"):
        result = _audit(store)
        shown = _errors(result)
        assert any(forged in w and "signed by retired key" in w and "cut-off at log size 1" in w for w in shown), shown
        assert any(planted in w and "appeared after the key was retired" in w for w in shown), shown


def test_an_acceptance_signed_before_the_auditor_key_was_retired_still_counts(tmp_path, monkeypatch) -> None:
    """A person accepts a run's findings in an audit signed with a1; a1 is then retired at that audit's log size. The
    signed acceptance names the checkpoint of the audit state that keeps it, as the audit records do: another auditor
    (its own memory, key b) that lists it first after the retirement takes it. It named none before, so a retired key's
    signature on it never counted and that auditor named it on every audit."""
    from prov_common.audit.resolve import RESOLUTIONS_PREFIX

    keys = _keys(tmp_path, "writer", "a1", "a2", "b")
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", _pub(tmp_path, "writer"))
    store = open_store(str(tmp_path / "store"))
    prepare = seal(store, run_events("orders", [dataset("vendor-orders", None, namespace="tdprov://sources")],
                                     [dataset("/data/clean.parquet", digest("clean"))]), keys["writer"])
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", os.pathsep.join([_pub(tmp_path, "a1"), _pub(tmp_path, "b")]))

    def audit_as(auditor: str, key: str, **kw):
        monkeypatch.setenv("TDPROV_HOME", str(tmp_path / auditor))
        monkeypatch.setenv("TDPROV_SIGNING_KEY", str(tmp_path / "keys" / f"{key}.key"))
        return _audit(store, **kw)

    assert audit_as("other", "b").exit_code == 1  # the other auditor remembers the store: the completeness findings
    accepting = audit_as("person", "a1", accept_findings=[prepare], reason="run before vendor-orders was registered")
    [entry] = accepting.accepted
    assert accepting.clean and entry["key"].startswith(RESOLUTIONS_PREFIX), _errors(accepting)
    size = accepting.checkpoint.checkpoint.size

    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", os.pathsep.join([_pub(tmp_path, "a2"), _pub(tmp_path, "b")]))
    monkeypatch.setenv("TDPROV_RETIRED_AUDITOR_KEYS", f"{_pub(tmp_path, 'a1')}@{size}")
    for auditor, key in (("other", "b"), ("other", "b"), ("person", "a2")):
        result = audit_as(auditor, key)
        assert result.accepted and result.accepted[0]["key"] == entry["key"], (auditor, result.accepted)
        assert not [f for f in result.errors if f.object == entry["key"]], (auditor, _errors(result))


def test_a_retired_key_left_among_the_trusted_keys_counts_as_retired(rotated, tmp_path, monkeypatch, capsys) -> None:
    """The lost key retired but not moved out of TDPROV_TRUSTED_KEYS (a copy left in trusted_keys/ alike): retiring
    wins, so what the thief signed after the cut-off still fails, and what it signed before still counts."""
    store, (a, b, c, d) = rotated
    assert _audit(store).checkpoint.checkpoint.size == 4
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", os.pathsep.join([_pub(tmp_path, "w1"), _pub(tmp_path, "w2")]))
    assert main(["verify", "--store", store.uri]) == 1
    out = capsys.readouterr().out
    assert all(f"OK    {run_id}" in out for run_id in (a, b, c)), out
    assert f"FAIL  {d}" in out and "signed by retired key" in out and "after its cut-off at log size 2" in out, out
