"""Every audit of an S3 store reads its bucket's versioning and Object Lock default retention (moto's server, which
honours changing both, and suspending versioning even on an Object Lock bucket, which AWS refuses) and holds them
against what its auditor saw: a weakening is a finding naming the setting, both values and the fix until restored or
accepted, a strengthening a note; a refused read names the permission to grant."""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable

import pytest

from prov_common.audit.memory import memory_path
from prov_common.audit.model import CHECK_INVENTORY, NOTE
from prov_common.cli.store import init_s3
from prov_common.store import open_store
from prov_common.store.s3 import S3Store

from test_audit_support import T0, audit, dataset, digest, run_events, seal
from test_reliability_proxy import fault_proxy  # noqa: F401 - fixture


def _store(s3_server, *, lock: bool) -> tuple[str, object]:
    """A store in a fresh bucket (with Object Lock when ``lock``) that holds one sealed run; its URI and the admin's client."""
    bucket = f"tdprov-lock-{uuid.uuid4().hex[:10]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=lock)
    uri = f"s3://{bucket}/prov"
    init_s3(uri, versioning=True, lock_mode="compliance" if lock else None, retention_days=30 if lock else None)
    seal(open_store(uri), run_events("prepare", [], [dataset("/d/f.parquet", digest("f"))], start=T0))
    return uri, client


def _bucket_findings(result) -> list:
    return [f for f in result.findings if f.check == CHECK_INVENTORY and f.object.startswith("bucket ")]


def _empty_locked(s3_server, tmp_path) -> tuple[str, Callable[..., None], Callable[..., object]]:
    """A store in a fresh, empty bucket with Object Lock: its URI, how to set the bucket's default retention
    (``lock("COMPLIANCE", Days=30)``) and a read-only audit of it. moto sets an Object Lock configuration on an empty
    bucket only ("Bucket needs to be empty"; AWS has no such rule), so the audits that see each change are read-only
    ones of a store with nothing in it yet."""
    bucket = f"tdprov-lock-{uuid.uuid4().hex[:10]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    uri = f"s3://{bucket}/prov"

    def lock(mode: str, **period: int) -> None:
        client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": mode, **period}}})

    def looked(**kw):
        return audit(uri, read_only=True, report_dir=tmp_path, **kw)

    return uri, lock, looked


def test_a_weakened_retention_is_a_finding_until_restored_or_accepted(s3_server, monkeypatch, tmp_path) -> None:
    s3_server.point(monkeypatch)
    uri, lock, looked = _empty_locked(s3_server, tmp_path)
    lock("COMPLIANCE", Days=30)
    first = looked()
    assert first.clean and not _bucket_findings(first), [f.what for f in first.errors]
    kept = json.loads(memory_path(uri).read_text())["bucketProtection"]
    assert kept == {"versioning": "Enabled", "objectLock": True, "lockMode": "compliance", "retentionDays": 30, "retentionYears": None}

    lock("GOVERNANCE", Days=1)  # a bucket admin weakens both
    for _ in range(2):  # every audit, not only the first to see it
        found = looked()
        whats = sorted(f.what for f in _bucket_findings(found))
        assert not found.clean and len(whats) == 2 and all(f.severity != NOTE for f in _bucket_findings(found)), whats
        assert "default retention mode is governance, not compliance as this auditor saw it before" in whats[0], whats
        assert "default retention period is 1 day, not 30 days as this auditor saw it before" in whats[1], whats
        fixes = {f.fix for f in _bucket_findings(found)}
        assert all(f"'tdprov store init {uri} --object-lock compliance --retention-days 30'" in fix and "--accept-checkpoint" in fix
                   for fix in fixes), fixes

    lock("COMPLIANCE", Years=1)  # restored, and longer: a note, remembered
    stronger = looked()
    notes = [f.what for f in _bucket_findings(stronger)]
    assert stronger.clean and notes == ["the bucket's Object Lock default retention period is 1 year now (it was 30 days)"], notes
    assert not _bucket_findings(looked())  # noted once

    lock("COMPLIANCE", Days=30)  # shorter than the year remembered; the fix keeps it in years
    (shorter,) = _bucket_findings(looked())
    assert "period is 30 days, not 1 year" in shorter.what and "aws s3api put-object-lock-configuration --bucket" in shorter.fix \
        and "Mode=COMPLIANCE,Years=1" in shorter.fix, shorter

    accepted = audit(uri, accept_checkpoint="retention shortened for the migration, ticket 42")  # writes the resolution
    assert accepted.clean and [f["what"] for f in accepted.resolution["closed"]] == [shorter.what], accepted.resolution
    assert not _bucket_findings(audit(uri))  # the bucket as it is now is what this auditor expects


def test_the_fix_restores_a_configuration_the_bucket_had(s3_server, monkeypatch, tmp_path) -> None:
    """Compliance 30 days, then governance 60 days: the mode is weaker, the period longer. The auditor kept the stronger
    of each setting, compliance and 60 days, and from the next audit on its fix set that, a retention the bucket never
    had and that no one can shorten once set. It keeps the configuration it saw whole, and its fix restores that."""
    s3_server.point(monkeypatch)
    uri, lock, looked = _empty_locked(s3_server, tmp_path)
    lock("COMPLIANCE", Days=30)
    assert looked().clean
    seen = json.loads(memory_path(uri).read_text())["bucketProtection"]

    lock("GOVERNANCE", Days=60)
    for _ in range(2):  # every audit, the second too
        found = _bucket_findings(looked())
        assert [f.what.split(":")[0] for f in found] == [
            "the bucket's Object Lock default retention mode is governance, not compliance as this auditor saw it before"], found
        assert f"restore the default retention (compliance mode, 30 days): 'tdprov store init {uri} --object-lock compliance " \
               "--retention-days 30'" in found[0].fix, found[0].fix
        assert json.loads(memory_path(uri).read_text())["bucketProtection"] == seen

    lock("COMPLIANCE", Days=60)  # stronger than what was seen in every setting: a note, and the new expectation
    notes = [f.what for f in _bucket_findings(looked())]
    assert notes == ["the bucket's Object Lock default retention period is 60 days now (it was 30 days)"], notes
    assert json.loads(memory_path(uri).read_text())["bucketProtection"]["retentionDays"] == 60


def test_suspended_versioning_is_a_finding(s3_server, monkeypatch) -> None:
    s3_server.point(monkeypatch)
    uri, client = _store(s3_server, lock=False)
    assert audit(uri).clean
    client.put_bucket_versioning(Bucket=uri[5:].split("/")[0], VersioningConfiguration={"Status": "Suspended"})
    found = _bucket_findings(audit(uri))
    assert [f.what.split(":")[0] for f in found] == ["the bucket's versioning is Suspended, not Enabled as this auditor saw it before"]
    assert f"'tdprov store init {uri} --versioning'" in found[0].fix


def test_a_refused_read_names_the_permission(s3_server, s3_refusing_bucket_settings, monkeypatch) -> None:
    s3_server.point(monkeypatch)
    uri, _ = _store(s3_server, lock=True)
    refused = S3Store(uri, client=s3_refusing_bucket_settings.client())
    bucket = refused.bucket
    first = audit(refused)  # never seen: a note, the audit goes on
    (note,) = _bucket_findings(first)
    assert first.clean and note.severity == NOTE, note
    assert note.what == (f"the versioning and Object Lock settings of bucket '{bucket}' could not be read: GetBucketVersioning "
                         "was refused with AccessDenied"), note.what
    assert note.fix.startswith(f"grant s3:GetBucketVersioning on arn:aws:s3:::{bucket} to these credentials"), note.fix
    assert "bucketProtection" not in json.loads(memory_path(uri).read_text())

    assert audit(uri).clean  # read directly: remembered
    later = audit(refused)  # seen before, now unreadable: a finding
    (finding,) = _bucket_findings(later)
    assert not later.clean and finding.severity != NOTE and "cannot be told whether they are still versioning Enabled, Object Lock " \
        "enabled, compliance mode, 30 days, as this auditor saw them before" in finding.what, finding.what


def test_an_unread_object_lock_alone_is_named_and_the_versioning_read_is_still_checked(
        s3_server, s3_refusing_object_lock, monkeypatch) -> None:
    """Credentials with s3:GetBucketVersioning but not s3:GetBucketObjectLockConfiguration: the audit said "the
    versioning and Object Lock settings ... could not be read" though it had read the versioning, and a versioning
    suspended since was not named. The Object Lock alone is named as unread, with its permission; the versioning read
    is held against what this auditor saw, and the memory keeps the configuration it saw whole."""
    s3_server.point(monkeypatch)
    uri, client = _store(s3_server, lock=True)
    refused = S3Store(uri, client=s3_refusing_object_lock.client())
    bucket = refused.bucket
    unread = (f"the Object Lock settings of bucket '{bucket}' could not be read: GetObjectLockConfiguration was refused "
              "with AccessDenied")
    first = audit(refused)  # never seen: a note naming the Object Lock alone, nothing remembered
    (note,) = _bucket_findings(first)
    assert first.clean and note.severity == NOTE and note.what == unread, note
    assert note.fix.startswith(f"grant s3:GetBucketObjectLockConfiguration on arn:aws:s3:::{bucket} to these credentials"), note.fix
    assert "bucketProtection" not in json.loads(memory_path(uri).read_text())

    assert audit(uri).clean  # read whole: remembered
    kept = json.loads(memory_path(uri).read_text())["bucketProtection"]
    (finding,) = _bucket_findings(audit(refused))
    assert finding.severity != NOTE and finding.what == (f"{unread}, so it cannot be told whether it is still Object Lock "
                                                         "enabled, compliance mode, 30 days, as this auditor saw it before"), finding.what

    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    for accept in (None, "versioning suspended"):  # a configuration not read whole is never taken, even when accepting
        found = _bucket_findings(audit(refused, accept_checkpoint=accept))
        assert [f.what.split(":")[0] for f in found] == ["the bucket's versioning is Suspended, not Enabled as this auditor saw it before",
                                                         unread.split(":")[0]], [f.what for f in found]
        assert f"'tdprov store init {uri} --versioning'" in found[0].fix, found[0].fix
        assert json.loads(memory_path(uri).read_text())["bucketProtection"] == kept


def test_store_init_prints_settings_it_could_not_read_as_unknown(s3_server, s3_refusing_bucket_settings, monkeypatch) -> None:
    """A refused read of the bucket's versioning and Object Lock was named, and yet printed as 'versioning: off' and
    'object lock: off', which the bucket may not be: they are unknown."""
    s3_server.point(monkeypatch)
    uri, _ = _store(s3_server, lock=True)
    state = init_s3(uri, client=s3_refusing_bucket_settings.client())
    assert "versioning:         unknown" in state.lines() and "object lock:        unknown" in state.lines(), state.lines()
    assert state.to_dict()["versioning"] == "unknown" and state.to_dict()["objectLock"] is None
    assert [p.split(":")[0] for p in state.problems] == [f"the versioning and Object Lock settings of bucket '{uri[5:].split('/')[0]}' "
                                                         "could not be read"], state.problems


def test_store_init_prints_the_versioning_it_read_when_only_the_object_lock_is_refused(
        s3_server, s3_refusing_object_lock, monkeypatch) -> None:
    """Credentials with s3:GetBucketVersioning but not s3:GetBucketObjectLockConfiguration: the versioning was read,
    and yet printed as 'unknown' beside the Object Lock, and the problem said neither could be read. The versioning is
    printed as read (and a bucket without it is still told so); the Object Lock alone is unknown, with the permission."""
    s3_server.point(monkeypatch)
    uri, client = _store(s3_server, lock=True)
    bucket = uri[5:].split("/")[0]
    state = init_s3(uri, client=s3_refusing_object_lock.client())
    assert "versioning:         Enabled" in state.lines() and "object lock:        unknown" in state.lines(), state.lines()
    assert (state.to_dict()["versioning"], state.to_dict()["objectLock"]) == ("Enabled", None), state.to_dict()
    (problem,) = state.problems
    assert problem.startswith(f"the Object Lock settings of bucket '{bucket}' could not be read: GetObjectLockConfiguration "
                              f"was refused with AccessDenied: grant s3:GetBucketObjectLockConfiguration on arn:aws:s3:::{bucket}"), problem

    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    suspended = init_s3(uri, client=s3_refusing_object_lock.client())
    assert "versioning:         Suspended" in suspended.lines(), suspended.lines()
    assert [p.split(":")[0] for p in suspended.problems] == [f"the Object Lock settings of bucket '{bucket}' could not be read",
                                                             "versioning is off"], suspended.problems


def test_store_init_names_the_permission_when_setting_the_object_lock_is_refused(
        s3_server, s3_refusing_object_lock_change, monkeypatch) -> None:
    """Credentials without s3:PutBucketObjectLockConfiguration: the refused PutObjectLockConfiguration was a problem
    naming only the error code, with the fix to create the bucket with Object Lock, which it was. It names the request
    refused and the permission to grant, as a refused change of the versioning does; a bucket created without Object
    Lock keeps its fix."""
    s3_server.point(monkeypatch)
    bucket = f"tdprov-lock-{uuid.uuid4().hex[:10]}"
    s3_server.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    state = init_s3(f"s3://{bucket}/prov", lock_mode="compliance", retention_days=30, client=s3_refusing_object_lock_change.client())
    assert state.problems[0] == (f"could not set Object Lock on '{bucket}': PutObjectLockConfiguration was refused with "
                                 f"AccessDenied: grant s3:PutBucketObjectLockConfiguration on arn:aws:s3:::{bucket} to these "
                                 "credentials (the admin's template in docs/iam/ has it)"), state.problems
    assert "no Object Lock default retention" in state.problems[-1] and not any("retention" in c for c in state.changed), state

    plain = f"tdprov-lock-{uuid.uuid4().hex[:10]}"
    s3_server.client().create_bucket(Bucket=plain)
    unlocked = init_s3(f"s3://{plain}/prov", lock_mode="compliance", retention_days=30)
    assert unlocked.problems[0].startswith(f"could not set Object Lock on '{plain}': ") and \
        "create the bucket with Object Lock enabled" in unlocked.problems[0], unlocked.problems


def test_a_bucket_that_stops_answering_is_the_store_unavailable(s3_server, fault_proxy, monkeypatch) -> None:
    """A connection dropped while reading the bucket's settings was a raw botocore traceback: it is the store's
    StoreUnavailableError, as for any other read of the store, naming the bucket and the endpoint to check."""
    from prov_common.errors import StoreUnavailableError

    uri, _ = _store(s3_server, lock=False)
    assert audit(uri).clean
    dropped = threading.Event()
    dropped.set()  # the proxy reads the request and drops the connection at once
    fault_proxy.fault = lambda method, path: ("hang", dropped) if "versioning" in path.partition("?")[2] else None
    with pytest.raises(StoreUnavailableError) as raised:
        audit(uri)
    bucket = uri[5:].split("/")[0]
    assert raised.value.what.startswith(f"cannot read the versioning of bucket '{bucket}' in S3 store {uri}"), \
        raised.value.what
    assert "check the endpoint (AWS_ENDPOINT_URL_S3) and network" in raised.value.fix, raised.value.fix


@pytest.mark.parametrize("method, query, action, options", [
    ("HEAD", "", "reach bucket", {}),
    ("GET", "versioning", "read the versioning of bucket", {"versioning": True}),
    ("PUT", "versioning", "turn on versioning of bucket", {"versioning": True}),
    ("PUT", "object-lock", "set the Object Lock default retention of bucket", {"lock_mode": "compliance", "retention_days": 1}),
])
def test_store_init_on_a_bucket_that_stops_answering_is_the_store_unavailable(s3_server, fault_proxy, method, query,
                                                                               action, options) -> None:
    """tdprov store init's own requests of the bucket (its HEAD, and when asked, the versioning read and put and the
    Object Lock put) dropped by the endpoint were a raw botocore traceback: each is the store's StoreUnavailableError
    naming the request and the bucket, with the fix to check the endpoint and network."""
    from prov_common.errors import StoreUnavailableError

    bucket = f"tdprov-lock-{uuid.uuid4().hex[:10]}"
    s3_server.client().create_bucket(Bucket=bucket)
    dropped = threading.Event()
    dropped.set()  # the proxy reads the request and drops the connection at once
    fault_proxy.fault = lambda m, path: ("hang", dropped) if m == method and path.partition("?")[2].split("=")[0] == query else None
    with pytest.raises(StoreUnavailableError) as raised:
        init_s3(f"s3://{bucket}/prov", **options)
    assert fault_proxy.count("hang", method) == 1
    assert raised.value.what.startswith(f"cannot {action} '{bucket}' in S3 store s3://{bucket}/prov "), raised.value.what
    assert "check the endpoint (AWS_ENDPOINT_URL_S3) and network" in raised.value.fix, raised.value.fix
