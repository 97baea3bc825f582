"""No secret enters an event: URIs, connection strings, parameters, config, environment and error messages."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from prov_common.hashing.model import FileDigest
from prov_common.lineage import (
    REDACTED,
    DatasetRef,
    build_run_event,
    collect_run_context,
    event_to_json,
    is_secret_key,
    redact_mapping,
    redact_text,
    redact_uri,
    redact_value,
)

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = [AWS_KEY_ID, AWS_SECRET, "hunter2", "s3cr3t-token-value", "SIGNATUREVALUE123", "ghp_abcdefghijklmnopqrstuvwxyz012345"]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("postgresql://bob:hunter2@db:5432/sales", "postgresql://bob:***@db:5432/sales"),
        (f"s3://{AWS_KEY_ID}:{AWS_SECRET}@bucket/k.parquet", "s3://***:***@bucket/k.parquet"),
        ("https://ghp_abcdefghijklmnopqrstuvwxyz012345@github.com/o/r.git", "https://***@github.com/o/r.git"),
        (
            "https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101&X-Amz-Signature=SIGNATUREVALUE123&versionId=7",
            "https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=***&X-Amz-Signature=***&versionId=7",
        ),
        ("https://acct.blob.core.windows.net/c/f?sv=2022&sig=SIGNATUREVALUE123", "https://acct.blob.core.windows.net/c/f?sv=2022&sig=***"),
        ("s3://bucket/user@example.com/data.csv", "s3://bucket/user@example.com/data.csv"),
        ("/data/train.parquet", "/data/train.parquet"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_redact_text_connection_strings_and_tokens() -> None:
    text = (
        "Server=db;User Id=bob;Password=hunter2; api_key: s3cr3t-token-value "
        f"aws {AWS_KEY_ID} Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig "
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY----- "
        "see mysql://root:hunter2@h/db"
    )
    out = redact_text(text)
    for secret in ("hunter2", "s3cr3t-token-value", AWS_KEY_ID, "eyJhbGciOiJIUzI1NiJ9", "AAAA"):
        assert secret not in out
    assert "Server=db" in out and "User Id=bob" in out and "mysql://root:***@h/db" in out


def test_secret_key_names() -> None:
    for name in ("password", "DB_PASSWORD", "aws_secret_access_key", "AWS_ACCESS_KEY_ID", "api_key", "apiKey", "token",
                 "accessToken", "X-Amz-Signature", "X-Amz-Security-Token", "sig", "credentials", "key", "connection_string", "dsn"):
        assert is_secret_key(name), name
    for name in ("partition_key", "s3_key", "primary_key", "epochs", "learning_rate", "keyword", "monkey", "path", "user"):
        assert not is_secret_key(name), name


def test_a_long_key_naming_a_secret_past_its_first_256_characters_is_a_secret_key() -> None:
    """A key was judged by its first 256 characters only, so 'x' * 300 + '_password' kept its value unredacted."""
    long_name = "column_" + "x" * 300 + "_password"
    assert is_secret_key(long_name)
    assert redact_mapping({long_name: "hunter2-hunter2"}) == {long_name: "***"}
    assert not is_secret_key("column_" + "x" * 300 + "_count")


def test_redact_mapping_recurses_and_stays_json_ready() -> None:
    params = {
        "epochs": 3,
        "db": {"password": "hunter2", "host": "db", "url": "postgres://u:hunter2@db/x"},
        "sources": ["s3://bucket/a", f"s3://{AWS_KEY_ID}:{AWS_SECRET}@bucket/b"],
        "partition_key": "2026-01",
        "token": "s3cr3t-token-value",
        "empty_password": "",
        "when": object(),
    }
    out = redact_mapping(params)
    assert out["epochs"] == 3 and out["partition_key"] == "2026-01" and out["db"]["host"] == "db"
    assert out["db"]["password"] == REDACTED and out["token"] == REDACTED and out["empty_password"] == ""
    assert out["db"]["url"] == "postgres://u:***@db/x" and out["sources"][0] == "s3://bucket/a"
    assert isinstance(out["when"], str)
    assert not any(s in repr(out) for s in SECRETS)


def test_no_planted_secret_reaches_the_event(monkeypatch: pytest.MonkeyPatch, ol_validator) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("DB_URL", "postgres://bob:hunter2@db/x")
    env = {k: v for k, v in os.environ.items() if k in ("AWS_SECRET_ACCESS_KEY", "DB_URL")}
    ctx = collect_run_context(
        orchestrator="airflow",
        parameters={"config": {"password": "hunter2", "source": f"s3://{AWS_KEY_ID}:{AWS_SECRET}@b/k"}, "env": env,
                    "cmd": "train --api-key=s3cr3t-token-value"},
    )
    inp = DatasetRef.from_uri(
        "https://b.s3.amazonaws.com/k.csv?X-Amz-Signature=SIGNATUREVALUE123&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE",
        digest=FileDigest("blake3:" + "0" * 64, 1),
    )
    out = DatasetRef("postgres://bob:hunter2@db:5432", "sales.public.t")
    error = RuntimeError("cannot connect to postgres://bob:hunter2@db:5432 with token=s3cr3t-token-value")
    try:
        raise error
    except RuntimeError as raised:  # with a traceback, so the stack trace is recorded (and redacted) too
        event = build_run_event("FAIL", run_id=str(uuid.uuid4()), job_name="j", inputs=[inp], outputs=[out], context=ctx, error=raised)
    text = event_to_json(event)
    ol_validator.validate_event(json.loads(text))
    assert "Traceback" in json.loads(text)["run"]["facets"]["errorMessage"]["stackTrace"]
    for secret in SECRETS:
        assert secret not in text, secret
    assert '"namespace":"https://b.s3.amazonaws.com"' in text and '"namespace":"postgres://db:5432"' in text


def test_an_error_naming_a_uri_urlsplit_refuses_is_recorded_redacted(ol_validator) -> None:
    """An unclosed IPv6 bracket makes urlsplit refuse a URI; its redaction used to read it as text holding that URI
    again, until RecursionError lost the FAIL event."""
    error = ValueError("no route to postgres://bob:hunter2@[::1:5432/db nor https://ghp_abcdefghijklmnopqrstuvwxyz012345@[fe80::1/x?password=pw")
    event = json.loads(event_to_json(build_run_event("FAIL", run_id=str(uuid.uuid4()), job_name="j", error=error)))
    ol_validator.validate_event(event)
    assert event["run"]["facets"]["errorMessage"]["message"] == (
        "ValueError: no route to postgres://bob:***@[::1:5432/db nor https://***@[fe80::1/x?password=***")
    assert redact_uri("abfss://container@[account/x") == "abfss://container@[account/x"  # a container is no user


def test_columns_named_like_secrets_keep_their_digests_and_metrics() -> None:
    """Columns called token, key, session, password are data: the per-column digests, metrics and column
    lineage keyed by them survive redaction (they became '***', silently dropping the record); a secret-named
    setting elsewhere is still redacted."""
    digest = "blake3:" + "ab" * 32
    facets = {
        "tdprov_content_hash": {"columns": {"tokens": digest, "key": digest, "password": digest, "text": digest}},
        "dataQualityMetrics": {"rowCount": 3, "columnMetrics": {"session": {"nullCount": 0}, "api_key": {"nullCount": 1}}},
        "columnLineage": {"fields": {"token": {"inputFields": [{"namespace": "file", "name": "/a", "field": "secret"}]}}},
        "settings": {"password": "hunter2", "columns": 3},
    }
    clean = redact_mapping(facets)
    assert clean["tdprov_content_hash"]["columns"] == facets["tdprov_content_hash"]["columns"]
    assert clean["dataQualityMetrics"]["columnMetrics"] == {"session": {"nullCount": 0}, "api_key": {"nullCount": 1}}
    assert clean["columnLineage"]["fields"]["token"]["inputFields"][0]["field"] == "secret"
    assert clean["settings"] == {"password": "***", "columns": 3}


def test_the_name_of_a_name_value_pair_is_kept_and_a_bare_key_setting_is_not() -> None:
    """``key`` names the pair in ``{"key": ..., "value": ...}`` (OpenLineage tags, execution parameters): the
    name stays unless it is itself a token; the value is redacted when the name looks secret. A ``key`` with
    no value beside it is a setting (an encryption key) and is still redacted."""
    token = "ghp_" + "Q7xK2mP9vR4tW8zB3nC6" * 2
    pairs = [{"key": "environment", "value": "prod"}, {"key": "api_key", "value": "s3cr3t"},
             {"Key": "region", "Value": "eu"}, {"key": "task.timeout", "description": "seconds", "value": None},
             {"key": token, "value": "1"}]
    assert redact_value(pairs) == [{"key": "environment", "value": "prod"}, {"key": "api_key", "value": REDACTED},
                                   {"Key": "region", "Value": "eu"}, {"key": "task.timeout", "description": "seconds", "value": None},
                                   {"key": REDACTED, "value": "1"}]
    assert redact_mapping({"encryption": {"key": "hunter2", "algorithm": "aes"}}) == {"encryption": {"key": REDACTED, "algorithm": "aes"}}
    assert redact_mapping({"key": ["hunter2"], "value": "x"})["key"] == REDACTED  # a name is text, not a structure


def test_the_keys_of_events_redacted_one_after_another_are_judged_once_and_a_key_holding_a_secret_is_not_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event's mappings have the same keys (facet and field names): redacting a second event judges none of them
    again, and gives what redacting it alone gives. A key that holds a secret by its shape is redacted each time and
    never kept in memory."""
    from prov_common.lineage import redact

    judged: list[str] = []
    is_secret_key = redact.is_secret_key

    def counted(name: str) -> bool:
        judged.append(name)
        return is_secret_key(name)
    monkeypatch.setattr(redact, "is_secret_key", counted)
    monkeypatch.setattr(redact, "_KEYS", {}, raising=False)  # none kept from other tests
    token = "ghp_abcdefghijklmnopqrstuvwxyz012345"

    def one_event(n: int) -> dict:
        return {"run": {"runId": str(n), "facets": {"env": {"api_password": f"pw{n}", "owner": "team", token: n}}},
                "job": {"namespace": "tests", "name": f"job{n}"}}
    first = redact_value(one_event(1))
    keys = sorted(judged)
    assert first["run"]["facets"]["env"] == {"api_password": "***", "owner": "team", "***": 1}
    judged.clear()
    assert redact_value(one_event(2)) == {"run": {"runId": "2", "facets": {"env": {"api_password": "***", "owner": "team",
                                                                                   "***": 2}}},
                                          "job": {"namespace": "tests", "name": "job2"}}
    assert sorted(judged) == sorted([token, "job2"]) and token in keys  # the token again, not kept; a name field's value
    assert token not in redact._KEYS and redact._KEYS["api_password"] is True


def test_the_keys_kept_are_bounded_in_number_and_length_and_redaction_is_the_same_past_the_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The answers kept for mapping keys are at most KEYS_KEPT, each key at most KEY_KEPT_LENGTH characters: past either
    bound a key is judged afresh, and the redacted mapping is the one redaction gives with nothing kept."""
    from prov_common.lineage import redact

    monkeypatch.setattr(redact, "_KEYS", {}, raising=False)
    monkeypatch.setattr(redact, "KEYS_KEPT", 8)
    many = {f"field_{n}": "x" for n in range(20)} | {"db_password": "hunter2", "token_" + "a" * 300: "hunter2"}
    expected = {**{f"field_{n}": "x" for n in range(20)}, "db_password": REDACTED, "token_" + "a" * 300: REDACTED}
    for _ in range(3):  # kept, cleared at the bound, kept again: the same each time
        assert redact_mapping(many) == expected
        assert len(redact._KEYS) <= 8 and all(len(key) <= redact.KEY_KEPT_LENGTH for key in redact._KEYS), redact._KEYS
    assert "token_" + "a" * 300 not in redact._KEYS
