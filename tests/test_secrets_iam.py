"""The IAM policy templates in docs/iam/: valid policy JSON, and what each role may do to each key
of the store layout, decided by a small evaluator of the statements (explicit Deny wins, then an
Allow must match; ``s3:prefix`` and ``s3:if-none-match`` conditions are honoured).

``test_iam_enforced.py`` runs tdprov against moto with the templates enforced; this structural check
covers what moto does not evaluate (condition keys, retention and legal-hold actions), see
docs/threat-model.md.
"""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from prov_common.audit.catalog import CATALOG_PREFIX
from prov_common.audit.publish import REPORTS_PREFIX, RUNS_PREFIX
from prov_common.bundle import layout
from prov_common.sources.registry import SOURCES_PREFIX
from prov_common.store.s3 import PROBE_KEY
from prov_common.tlog.log import CHECKPOINTS_PREFIX, LEAVES_PREFIX

IAM = Path(__file__).resolve().parents[1] / "docs" / "iam"
BUCKET, PREFIX = "lineage", "prod/tdprov"
RUN = "6f1c2a4e-0000-4000-8000-000000000001"
RECORDS = [layout.bundle_key(RUN, layout.EVENTS_FILE), layout.bundle_key(RUN, layout.STATEMENT_FILE),
           f"{layout.INDEX}/2026/03/01/20260301T100000000000Z-{RUN}.json", f"{layout.STAGING}/{RUN}/x.json",
           "objects/blake3/" + "0" * 64, f"{SOURCES_PREFIX}vendor.json"]
AUDIT = [f"{LEAVES_PREFIX}000000000000.json", f"{CHECKPOINTS_PREFIX}000000000001.json", f"{REPORTS_PREFIX}a.json",
         f"{RUNS_PREFIX}a.prov.dsse.json", f"{CATALOG_PREFIX}000000000001.json"]
EVERY_KEY = [*RECORDS, *AUDIT, PROBE_KEY]


def _policy(role: str) -> dict:
    return json.loads((IAM / f"tdprov-{role}.json").read_text())


def _arn(text: str) -> str:
    return text.replace("BUCKET", BUCKET).replace("PREFIX", PREFIX)


def _listify(value) -> list:
    return value if isinstance(value, list) else [value]


def _conditions_hold(statement: dict, context: dict) -> bool:
    for operator, tests in statement.get("Condition", {}).items():
        for key, wanted in tests.items():
            present = context.get(key)
            if operator == "Null" and (present is None) != (str(wanted).lower() == "true"):
                return False
            if operator.startswith("StringLike"):  # ...IfExists holds when the key is absent
                if present is None and operator == "StringLike":
                    return False
                if present is not None and not any(fnmatch.fnmatchcase(present, _arn(w)) for w in _listify(wanted)):
                    return False
    return True


def allowed(role: str, action: str, key: str | None, **context) -> bool:
    """IAM evaluation for one request: ``key`` None means the bucket itself."""
    resource = f"arn:aws:s3:::{BUCKET}" + (f"/{PREFIX}/{key}" if key is not None else "")
    verdict = False
    for statement in _policy(role)["Statement"]:
        matches = (any(fnmatch.fnmatchcase(action, a) for a in _listify(statement["Action"]))
                   and any(fnmatch.fnmatchcase(resource, _arn(r)) for r in _listify(statement["Resource"]))
                   and _conditions_hold(statement, context))
        if matches and statement["Effect"] == "Deny":
            return False
        verdict |= matches and statement["Effect"] == "Allow"
    return verdict


@pytest.mark.parametrize("role", ["writer", "auditor", "admin"])
def test_templates_are_valid_policy_documents(role: str) -> None:
    policy = _policy(role)
    assert policy["Version"] == "2012-10-17" and policy["Statement"]
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert statement["Effect"] in ("Allow", "Deny")
        assert all(a.startswith("s3:") for a in _listify(statement["Action"]))
        assert all(r.startswith("arn:aws:s3:::BUCKET") for r in _listify(statement["Resource"]))


@pytest.mark.parametrize("role", ["writer", "auditor", "admin"])
def test_nobody_deletes_overwrites_or_unlocks(role: str) -> None:
    for key in EVERY_KEY:
        for action in ("s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"):
            assert not allowed(role, action, key), (role, action, key)
        assert not allowed(role, "s3:PutObject", key)  # without If-None-Match: * a put could overwrite
    if role != "admin":
        for key in EVERY_KEY:
            for action in ("s3:DeleteObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold"):
                assert not allowed(role, action, key), (role, action, key)
        assert not allowed(role, "s3:PutBucketPolicy", None)
        assert not allowed(role, "s3:PutBucketObjectLockConfiguration", None)


def test_writer_creates_records_only() -> None:
    for key in [*RECORDS, PROBE_KEY]:
        assert allowed("writer", "s3:PutObject", key, **{"s3:if-none-match": "*"}), key
        assert allowed("writer", "s3:GetObject", key)
    for key in AUDIT:
        assert not allowed("writer", "s3:PutObject", key, **{"s3:if-none-match": "*"}), key
    assert allowed("writer", "s3:ListBucket", None, **{"s3:prefix": f"{PREFIX}/staging/{RUN}/"})
    assert not allowed("writer", "s3:ListBucket", None, **{"s3:prefix": "other-team/"})
    # a GET/HEAD of a missing key carries no s3:prefix: S3 answers 404 (not 403) only to a caller that may list
    assert allowed("writer", "s3:ListBucket", None) and allowed("auditor", "s3:ListBucket", None)
    assert not allowed("writer", "s3:PutObject", "../../other/x", **{"s3:if-none-match": "*"})


def test_auditor_reads_everything_and_appends_log_and_reports_only() -> None:
    for key in EVERY_KEY:
        assert allowed("auditor", "s3:GetObject", key)
    for key in AUDIT:
        assert allowed("auditor", "s3:PutObject", key, **{"s3:if-none-match": "*"}), key
    for key in RECORDS:
        assert not allowed("auditor", "s3:PutObject", key, **{"s3:if-none-match": "*"}), key


def test_admin_configures_protection_but_cannot_rewrite_records() -> None:
    for action in ("s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"):
        assert allowed("admin", action, None)
    assert allowed("admin", "s3:PutObject", PROBE_KEY, **{"s3:if-none-match": "*"})
    for key in [*RECORDS, *AUDIT]:
        assert not allowed("admin", "s3:PutObject", key, **{"s3:if-none-match": "*"}), key
        assert allowed("admin", "s3:GetObject", key)
