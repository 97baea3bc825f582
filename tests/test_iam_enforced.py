"""The IAM templates in docs/iam/, enforced: moto's S3 server with IAM authentication and
authorisation switched on (server mode's ``/moto-api/reset-auth``, what
``set_initial_no_auth_action_count`` does), one IAM user per role holding its template (bucket and
prefix filled in), and tdprov's own S3 store, transport, audit, verify, repair and ``store init``
running with each user's access keys through boto3. Every request is signed and checked against the
user's policy: an action the template lacks is ``AccessDenied``, as on AWS.

The server runs in a process of its own: moto's switch is process-wide, and the rest of the suite
shares this process's moto server with dummy credentials.

What moto does not evaluate, and how the policy is installed for it (``moto_policy``):

- Conditions: moto gives an S3 request no condition keys and skips operators other than
  ``StringEquals``, so it ignores every Condition of the templates. The ``Null s3:if-none-match``
  Deny (refuse a put that could overwrite) would then deny every put: it is left out, and an
  unconditional overwrite is shown instead to leave the first version in place, undeletable, on a
  versioned Object Lock bucket. The ``s3:prefix`` limit on listing applies to every prefix. Both
  stay checked by ``test_secrets_iam.py``'s evaluator.
- Action names: moto authorises HEAD bucket as ``s3:HeadBucket`` (AWS: ``s3:ListBucket``) and
  ``PutObjectLockConfiguration`` as ``s3:CreateBucket`` (AWS: ``s3:PutBucketObjectLockConfiguration``);
  those names are added next to the AWS ones. It checks ``GetObjectLockConfiguration`` as
  ``s3:ListBucket``, ``PutObjectRetention``/``PutObjectLegalHold`` as ``s3:PutObject`` and
  ``PutBucketReplication`` as ``s3:CreateBucket``, and has no ``s3:BypassGovernanceRetention``, so
  those denies are checked structurally only.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from bundle_support import run_events
from conftest import s3_env
from prov_common.audit import run_audit
from prov_common.audit.catalog import CATALOG_PREFIX
from prov_common.audit.model import CHECK_UNFINISHED
from prov_common.audit.publish import REPORTS_PREFIX, RUNS_PREFIX
from prov_common.bundle import layout, verify_bundle
from prov_common.bundle.repair import find_unindexed
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main
from prov_common.cli.store import init_s3
from prov_common.errors import ObjectConflictError, StoreError
from prov_common.signing import trust_from_settings
from prov_common.sources.registry import SOURCES_PREFIX
from prov_common.store import open_store
from prov_common.store.snapshots import snapshot_path
from prov_common.tlog.log import CHECKPOINTS_PREFIX, LEAVES_PREFIX

# one xdist worker runs this module (scripts/test: --dist loadgroup), so the IAM-enforcing S3 server is built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_iam_enforced")

IAM = Path(__file__).resolve().parents[1] / "docs" / "iam"
PREFIX = "prod/tdprov"
MOTO_ACTION_NAMES = {"s3:ListBucket": "s3:HeadBucket", "s3:PutBucketObjectLockConfiguration": "s3:CreateBucket"}
RECORD_PREFIXES = ["bundles/", "index/", "staging/", "objects/blake3/", SOURCES_PREFIX]
AUDIT_PREFIXES = [LEAVES_PREFIX, CHECKPOINTS_PREFIX, REPORTS_PREFIX, RUNS_PREFIX, CATALOG_PREFIX]
SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # a port the OS gives: no other server's
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test closes stdin
server.stop()
"""


def moto_policy(role: str, bucket: str, prefix: str) -> dict[str, Any]:
    """The role's template with ``bucket`` and ``prefix`` filled in, as moto can evaluate it (see
    the module docstring); any other condition is refused, so a template change meets this test."""
    text = (IAM / f"tdprov-{role}.json").read_text().replace("BUCKET", bucket).replace("PREFIX", prefix)
    statements = []
    for statement in json.loads(text)["Statement"]:
        condition = statement.pop("Condition", None)
        if condition == {"Null": {"s3:if-none-match": "true"}} and statement["Effect"] == "Deny":
            continue
        assert condition in (None, {"StringLikeIfExists": {"s3:prefix": [f"{prefix}/*", prefix]}}), (role, condition)
        actions = statement["Action"]
        statement["Action"] = [*actions, *(MOTO_ACTION_NAMES[a] for a in actions if a in MOTO_ACTION_NAMES)]
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class Principal:
    """An IAM user's access keys on the server."""

    key_id: str
    secret: str
    endpoint: str

    def client(self, service: str = "s3") -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)

    def use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make these keys the AWS environment that tdprov's store reads."""
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", self.secret)


@dataclass(frozen=True)
class IamS3:
    endpoint: str
    env: dict
    root: Principal  # may do anything (sets up buckets and users, plays the attacker's raw requests)

    def user(self, name: str, policy: dict[str, Any]) -> Principal:
        iam = self.root.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="tdprov", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Principal(key["AccessKeyId"], key["SecretAccessKey"], self.endpoint)

    def store(self, *, lock: bool = False) -> tuple[str, dict[str, Principal]]:
        """A fresh bucket (with Object Lock when ``lock``) and one user per role for ``bucket/PREFIX``."""
        bucket = f"tdprov-iam-{uuid.uuid4().hex[:10]}"
        self.root.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=lock)
        roles = {role: self.user(f"{role}-{bucket}", moto_policy(role, bucket, PREFIX)) for role in ("writer", "auditor", "admin")}
        return f"s3://{bucket}/{PREFIX}", roles


@pytest.fixture(scope="module")
def iam_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamS3]:
    log = (tmp_path_factory.mktemp("moto-iam") / "server.log").open("wb")
    # the server binds a port the OS picks and says which: a port chosen here first could be taken by another
    # worker's server meanwhile, and this test would then enforce IAM on (and talk to) that server
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    try:
        told = proc.stdout.readline().strip() if proc.stdout else b""
        assert told.isdigit(), f"moto's server did not start (said {told!r})"
        endpoint = f"http://127.0.0.1:{int(told)}"
        deadline = time.monotonic() + 60  # a loaded machine imports moto slowly
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.05)
        iam = Principal("testing", "testing", endpoint).client("iam")  # not checked yet: enforcement is off
        iam.create_user(UserName="root")
        iam.put_user_policy(UserName="root", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": "*"}]}))
        key = iam.create_access_key(UserName="root")["AccessKey"]
        assert requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=5).ok  # enforce from now on
        yield IamS3(endpoint, s3_env(endpoint, tmp_path_factory.mktemp("aws")),
                    Principal(key["AccessKeyId"], key["SecretAccessKey"], endpoint))
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def aws(iam_s3: IamS3, monkeypatch: pytest.MonkeyPatch) -> IamS3:
    """The AWS environment pointed at the enforcing server (credentials: set by ``Principal.use``)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in iam_s3.env.items():
        monkeypatch.setenv(name, value)
    return iam_s3


def _denied(call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    assert caught.value.response["Error"]["Code"] == "AccessDenied", caught.value.response["Error"]


def _store_denied(store: Any, key: str) -> None:
    with pytest.raises(StoreError, match=r"access denied \(AccessDenied\)"):
        store.put(key, b"x")


def _record(store_uri: str, spool: Path, count: int) -> list[str]:
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool), strict=True))
    runs = []
    for _ in range(count):
        for event in (events := run_events()):
            transport.emit(event)
        runs.append(events[0]["run"]["runId"])
    transport.close()
    return runs


def _bucket_of(uri: str) -> str:
    return uri.split("/")[2]


def test_unknown_and_unsigned_keys_are_refused(aws: IamS3) -> None:
    """Enforcement is on: the suite's dummy keys and a wrong secret get nowhere."""
    uri, roles = aws.store()
    outsider = Principal("AKIAIOSFODNN7EXAMPLE", "x" * 40, aws.endpoint)
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):
        outsider.client().list_objects_v2(Bucket=_bucket_of(uri))
    forged = Principal(roles["writer"].key_id, "y" * 40, aws.endpoint)
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        forged.client().list_objects_v2(Bucket=_bucket_of(uri))


def test_admin_initialises_the_store_and_nobody_else_can(aws: IamS3, monkeypatch, capsys) -> None:
    uri, roles = aws.store(lock=True)
    bucket = _bucket_of(uri)
    with pytest.raises(StoreError, match=r"GetBucketVersioning was refused with AccessDenied\. Fix: grant "
                                         r"s3:GetBucketVersioning on arn:aws:s3:::"):
        init_s3(uri, versioning=True, client=roles["writer"].client())  # it cannot even read the bucket's settings
    for role in ("writer", "auditor"):
        _denied(roles[role].client().put_bucket_versioning, Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        _denied(roles[role].client().put_object_lock_configuration, Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    roles["admin"].use(monkeypatch)
    assert main(["store", "init", uri, "--versioning", "--object-lock", "compliance", "--retention-days", "1"]) == 0
    out = capsys.readouterr().out
    assert "versioning:         Enabled" in out and "enabled, compliance mode, 1 day" in out
    assert "honoured (If-None-Match: *)" in out  # the probe under _tdprov/ was written and not overwritten
    admin = roles["admin"].client()
    assert admin.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # the admin reads everything but writes no record and deletes nothing
    probe = f"{PREFIX}/_tdprov/conditional-write-probe"
    assert admin.get_object(Bucket=bucket, Key=probe)["Body"].read().startswith(b"tdprov conditional write probe")
    for prefix in RECORD_PREFIXES + AUDIT_PREFIXES:
        _denied(admin.put_object, Bucket=bucket, Key=f"{PREFIX}/{prefix}x", Body=b"x", IfNoneMatch="*")
    version = admin.list_object_versions(Bucket=bucket, Prefix=probe)["Versions"][0]["VersionId"]
    _denied(admin.delete_object, Bucket=bucket, Key=probe)
    _denied(admin.delete_object, Bucket=bucket, Key=probe, VersionId=version)
    _denied(admin.delete_bucket, Bucket=bucket)
    # the auditor reads the versioning and Object Lock configuration (every audit compares them with what it saw), sets none
    checked = init_s3(uri, lock_mode="governance", retention_days=1, client=roles["auditor"].client())
    found = checked.protection
    assert found and found.versioning == "Enabled" and found.object_lock and found.lock_mode == "compliance" and found.retention_days == 1, checked
    assert any("could not set Object Lock" in p and "AccessDenied" in p for p in checked.problems), checked.problems


def test_writer_records_runs_and_cannot_rewrite_history(aws: IamS3, monkeypatch, tmp_path: Path) -> None:
    uri, roles = aws.store(lock=True)
    bucket = _bucket_of(uri)
    init_s3(uri, versioning=True, lock_mode="compliance", retention_days=1, client=roles["admin"].client())
    roles["writer"].use(monkeypatch)
    runs = _record(uri, tmp_path / "spool", 2)  # staging, bundle objects, indexed record, index entry
    store = open_store(uri)
    keys = list(store.list())
    assert {k.split("/")[0] for k in keys} == {"_tdprov", "staging", "bundles", "index"}  # _tdprov: the admin's probe, the identity
    assert len(keys) == 2 + 2 * 8  # per run: 2 staged events, 4 bundle objects, the indexed record, the index entry
    assert "_tdprov/store.json" in keys  # made by the admin's store init; the writer signs its id into each bundle
    assert all(verify_bundle(store, run, trust_from_settings()).ok for run in runs)
    assert main(["verify", "--store", uri]) == 0
    store.check_write_once()  # the probe needs put and get under _tdprov/ only
    assert not store.exists(layout.bundle_key("no-such-run", layout.STATEMENT_FILE))  # 404, not 403

    writer = roles["writer"].client()
    events_key = layout.bundle_key(runs[0], layout.EVENTS_FILE)
    original = store.get(events_key)
    with pytest.raises(ObjectConflictError):  # a conditional overwrite: 412, the object keeps its bytes
        store.put(events_key, b"rewritten")
    assert store.get(events_key) == original
    for prefix in AUDIT_PREFIXES:  # no log, checkpoint, catalog or report
        _store_denied(store, f"{prefix}forged.json")
    for key in ("other-team/x", "prod/x", "prod/tdprov2/bundles/x"):  # nothing outside the store's prefix
        _denied(writer.put_object, Bucket=bucket, Key=key, Body=b"x", IfNoneMatch="*")
    _denied(writer.delete_object, Bucket=bucket, Key=f"{PREFIX}/{events_key}")
    errors = writer.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"{PREFIX}/{k}"} for k in keys]})["Errors"]
    assert {e["Code"] for e in errors} == {"AccessDenied"} and len(errors) == len(keys)
    _denied(writer.put_bucket_versioning, Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert sorted(store.list()) == sorted(keys)
    # the writer's other records: a data snapshot (bytes and table index) and a source record
    data = tmp_path / "users.csv"
    data.write_text("id,name\n1,a\n2,b\n")
    digest = snapshot_path(store, data)
    assert main(["source", "add", str(data), "--name", "vendor-users", "--license", "CC-BY-4.0", "--issuer", "ACME",
                 "--store", uri]) == 0
    added = sorted(set(store.list()) - set(keys))
    assert [k.split("/")[0] + "/" + k.split("/")[1] for k in added] == ["objects/blake3", "objects/index", "sources/vendor-users"], added
    assert store.exists(f"objects/index/{digest.split(':')[1]}.json")

    # moto does not evaluate the template's Deny of puts without If-None-Match: an unconditional put
    # goes through there (AWS refuses it). Versioning and Object Lock still keep the first version,
    # which nobody can delete, and verification names the changed object.
    writer.put_object(Bucket=bucket, Key=f"{PREFIX}/{events_key}", Body=b"rewritten")
    _denied(writer.list_object_versions, Bucket=bucket, Prefix=PREFIX)  # the writer has no ListBucketVersions
    versions = aws.root.client().list_object_versions(Bucket=bucket, Prefix=f"{PREFIX}/{events_key}")["Versions"]
    [first] = [v["VersionId"] for v in versions if not v["IsLatest"]]  # LastModified has whole seconds only
    assert writer.get_object(Bucket=bucket, Key=f"{PREFIX}/{events_key}", VersionId=first)["Body"].read() == original
    for version in versions:
        _denied(writer.delete_object, Bucket=bucket, Key=f"{PREFIX}/{events_key}", VersionId=version["VersionId"])
    report = verify_bundle(store, runs[0], trust_from_settings())
    assert any(f.key == events_key and f.problem == "digest mismatch" for f in report.findings)


def test_auditor_audits_reads_everything_and_writes_no_record(aws: IamS3, monkeypatch, tmp_path: Path) -> None:
    uri, roles = aws.store()
    bucket = _bucket_of(uri)
    roles["writer"].use(monkeypatch)
    runs = _record(uri, tmp_path / "spool", 3)
    # a writer that stopped before its index entry (the entry removed by the bucket's owner)
    (entry,) = [k for k in open_store(uri).list("index/") if runs[2] in k]
    aws.root.client().delete_object(Bucket=bucket, Key=f"{PREFIX}/{entry}")

    roles["auditor"].use(monkeypatch)
    store = open_store(uri)
    audit = run_audit(store, stale_after=timedelta(0), progress=False)  # the report goes into the store
    assert audit.checkpoint is not None and audit.checkpoint.checkpoint.size == 2
    assert {f.run_id for f in audit.findings if f.check == CHECK_UNFINISHED} == {runs[2]}
    assert not [f for f in audit.findings if f.object.startswith("bucket ")]  # its template lets it read the bucket's protection
    written = set(store.list()) - {k for k in store.list() if k.split("/")[0] in ("bundles", "index", "staging")}
    assert {p for p in AUDIT_PREFIXES if any(k.startswith(p) for k in written)} == set(AUDIT_PREFIXES)
    assert main(["verify", "--store", uri, runs[0], runs[1]]) == 0
    auditor = roles["auditor"].client()
    for prefix in RECORD_PREFIXES:
        _store_denied(store, f"{prefix}forged.json")
    for key in [*store.list()][:5]:
        _denied(auditor.delete_object, Bucket=bucket, Key=f"{PREFIX}/{key}")
    # the repair needs the writer's permissions: the auditor's attempt writes nothing
    with pytest.raises(StoreError, match="access denied"):
        list(find_unindexed(store, trust_from_settings()))
    assert not [k for k in store.list("index/") if runs[2] in k]

    roles["writer"].use(monkeypatch)
    assert main(["store", "repair", uri]) == 0
    roles["auditor"].use(monkeypatch)
    again = run_audit(open_store(uri), stale_after=timedelta(0), report_dir=tmp_path / "report2", progress=False)
    assert not [f for f in again.findings if f.check == CHECK_UNFINISHED]
    assert again.checkpoint.checkpoint.size == 3


def _objects(client: Any, bucket: str) -> dict[str, str]:
    """Every object under the store's prefix with its ETag (what a put or an overwrite would change)."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/").get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listed}


def test_an_auditor_with_read_access_only_audits_read_only_and_is_told_so_up_front(
        aws: IamS3, monkeypatch, tmp_path: Path, capsys) -> None:
    """A reader (the auditor's template without its puts) and the writer (no puts under log/ or audit/): a writing
    audit is refused before it examines anything, naming the access and the fix; the read-only audit writes nothing."""
    uri, roles = aws.store()
    bucket = _bucket_of(uri)
    roles["writer"].use(monkeypatch)
    _record(uri, tmp_path / "spool", 2)
    roles["auditor"].use(monkeypatch)
    logged = run_audit(open_store(uri), progress=False)  # the team's auditor logs the two runs (whose inputs have no source)
    assert logged.checkpoint.checkpoint.size == 2 and {f.check for f in logged.errors} == {"completeness"}, logged.errors
    roles["writer"].use(monkeypatch)
    _record(uri, tmp_path / "spool", 1)
    policy = moto_policy("auditor", bucket, PREFIX)
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "AppendLogAndAuditRecords"]
    reader = aws.user(f"reader-{bucket}", policy)
    before = _objects(aws.root.client(), bucket)
    assert {f"{PREFIX}/log/write-probe", f"{PREFIX}/audit/write-probe"} <= before.keys()  # refused 403 before 412: no proof
    for principal in (reader, roles["writer"]):
        principal.use(monkeypatch)
        capsys.readouterr()
        assert main(["audit", "--store", uri]) == 2
        out, err = capsys.readouterr()
        assert out == "" and f"cannot write to the store {uri}" in err and "access denied" in err, err
        assert "--read-only --report DIR" in err and "docs/iam/tdprov-auditor.json" in err
        assert _objects(aws.root.client(), bucket) == before
    reader.use(monkeypatch)
    report = tmp_path / "report"
    assert main(["audit", "--read-only", "--report", str(report), "--store", uri]) == 1
    out = capsys.readouterr().out
    assert "1 bundle not yet logged: examined, not logged (read-only audit)" in out and "; log size 2;" in out, out
    assert not re.findall(r"\[(?!completeness)\w+\] error", out), out  # the same findings as the team's audit, no others
    assert _objects(aws.root.client(), bucket) == before
    assert (report / "report.html").exists() and (report / "audit.prov.dsse.json").exists()
