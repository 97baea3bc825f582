"""``tdprov store init`` against moto's S3 server: reads, sets and prints versioning and Object Lock;
a compliance-mode retention really refuses deleting an object version."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from prov_common.cli import main


def _bucket(s3_server, *, lock: bool) -> str:
    name = f"tdprov-lock-{uuid.uuid4().hex[:10]}"
    s3_server.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    return name


def test_plain_bucket_is_reported_unprotected_then_versioned(s3_server, monkeypatch, capsys) -> None:
    s3_server.point(monkeypatch)
    bucket = _bucket(s3_server, lock=False)
    assert main(["store", "init", f"s3://{bucket}/prov"]) == 1
    out = capsys.readouterr().out
    assert "versioning:         off" in out and "object lock:        off" in out
    assert "honoured (If-None-Match: *)" in out and "versioning is off" in out
    assert main(["store", "init", f"s3://{bucket}/prov", "--versioning", "--object-lock", "compliance", "--retention-days", "1"]) == 1
    out = capsys.readouterr().out
    assert "changed: versioning turned on" in out and "could not set Object Lock" in out
    assert s3_server.client().get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_object_lock_bucket_gets_default_retention_that_refuses_deletes(s3_server, monkeypatch, capsys) -> None:
    s3_server.point(monkeypatch)
    bucket = _bucket(s3_server, lock=True)
    assert main(["store", "init", f"s3://{bucket}/prov", "--versioning", "--object-lock", "compliance",
                 "--retention-days", "30"]) == 0
    out = capsys.readouterr().out
    assert "object lock:        enabled, compliance mode, 30 days" in out and "versioning:         Enabled" in out
    client = s3_server.client()
    rule = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (rule["Mode"], rule["Days"]) == ("COMPLIANCE", 30)
    assert main(["store", "init", f"s3://{bucket}/prov", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["lockMode"] == "compliance" and found["retentionDays"] == 30 and found["conditionalWrites"] is True
    # the probe object written by the check is now under retention: its version cannot be deleted
    version = client.list_object_versions(Bucket=bucket, Prefix="prov/")["Versions"][0]
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def test_bad_input_and_local_folder(tmp_path: Path, capsys) -> None:
    assert main(["store", "init", "s3://b-x/p", "--object-lock", "compliance"]) == 2
    assert main(["store", "init", "s3://b-x/p", "--object-lock", "governance", "--retention-days", "0"]) == 2
    assert main(["store", "init", str(tmp_path / "s"), "--versioning"]) == 2
    assert main(["store", "init", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s").is_dir() and "no WORM" in capsys.readouterr().out


def test_a_bucket_it_cannot_reach_is_named_with_the_cause(s3_server, s3_fault, monkeypatch, capsys) -> None:
    """The HEAD of the bucket was passed on as botocore wrote it ('An error occurred (403) when calling the HeadBucket
    operation (reached max retries: 0): Forbidden', fix 'create it'): it is named as the store's own reads name it,
    refused credentials by the code one ranged GET is answered with, a missing bucket as missing."""
    from prov_common.store.s3 import FIX_CREDENTIALS

    s3_server.point(monkeypatch)
    missing = f"tdprov-none-{uuid.uuid4().hex[:10]}"
    assert main(["store", "init", f"s3://{missing}/prov"]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach bucket '{missing}' in S3 store s3://{missing}/prov" in err, err
    assert f": bucket '{missing}' does not exist. Fix: create the bucket or fix the store URI" in err, err
    down = s3_fault("403 InvalidAccessKeyId")
    assert main(["store", "init", down]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach bucket 'tdprov-down' in S3 store {down}" in err, err
    assert f": the credentials were refused (InvalidAccessKeyId). Fix: {FIX_CREDENTIALS}" in err, err
    assert "HeadBucket" not in err and "create it" not in err


@pytest.mark.parametrize("refusing, request_, templates", [
    ("s3_refusing_bucket_settings", "GetBucketVersioning", "the auditor's and the admin's templates in docs/iam/ have it"),
    ("s3_refusing_versioning_change", "PutBucketVersioning", "the admin's template in docs/iam/ has it")])
def test_a_refused_versioning_read_or_change_names_the_permission(
        s3_server, monkeypatch, capsys, request, refusing: str, request_: str, templates: str) -> None:
    """``--versioning`` on credentials S3 refuses the versioning's read or change was told in botocore's words on one
    line ('An error occurred (AccessDenied) when calling the GetBucketVersioning operation: Access Denied'). The error
    names the request refused, the permission to grant and where it is, as init's other refused reads do."""
    bucket = _bucket(s3_server, lock=False)
    request.getfixturevalue(refusing).point(monkeypatch)
    assert main(["store", "init", f"s3://{bucket}/prov", "--versioning"]) == 2
    err = capsys.readouterr().err
    action = "read the versioning of bucket" if request_.startswith("Get") else "turn on versioning of bucket"
    assert f"cannot {action} '{bucket}' in S3 store s3://{bucket}/prov" in err, err
    assert (f": {request_} was refused with AccessDenied. Fix: grant s3:{request_} on arn:aws:s3:::{bucket} to these "
            f"credentials ({templates})") in err, err
    assert "An error occurred" not in err, err
    assert s3_server.client().get_bucket_versioning(Bucket=bucket).get("Status") is None  # nothing changed
