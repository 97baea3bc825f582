"""The planted-secret corpus (over 100 shapes) finds nothing in any stored or spooled byte, and
redaction stays linear on hostile values.

Every shape sits under a neutral field name, so only its structure or its content can give it away.
One run is emitted while the store is down (its objects go to the spool, which is scanned before it is
flushed), one while it is up; then every object of the store and the spool and every log line is
decoded (gzip, Parquet, JSON, base64 inside JSON) and searched for every secret fragment.
"""
from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from pathlib import Path

import pytest

from bundle_support import all_stored_bytes, dataset, event
from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.lineage.redact import REDACTED, TOO_DEEP, redact_text, redact_value
from prov_common.store import Outbox, open_store
from secret_corpus import ALL_SECRETS, CORPUS, leaks, shape_of

TEXT_SHAPES = [shape for shape in CORPUS if isinstance(shape.value, str)]
URI_SHAPES = [shape for shape in CORPUS if shape.name.split("-", 1)[1].startswith("URI")]


def test_corpus_is_large_and_its_fragments_unique() -> None:
    assert len(CORPUS) >= 100 and len({shape.name for shape in CORPUS}) == len(CORPUS)
    assert len(ALL_SECRETS) >= len(CORPUS)
    for secret in ALL_SECRETS:  # no fragment contains another, so a leak names one shape
        assert [s for s in ALL_SECRETS if secret in s] == [secret]


@pytest.mark.parametrize("shape", CORPUS, ids=lambda shape: shape.name)
def test_each_shape_is_redacted(shape) -> None:
    out = json.dumps(redact_value({"note": shape.value, "epochs": 3}), ensure_ascii=False)
    assert leaks({"out": out.encode()}, list(shape.secrets)) == []
    assert '"epochs": 3' in out and REDACTED in out  # the rest is kept, the secret is replaced


def _events(run_id: str, terminal: str) -> list[dict]:
    notes = {f"note_{i:03d}": shape.value for i, shape in enumerate(CORPUS)}
    inputs = [dataset(shape.value, f"t{i}", "blake3:" + "1" * 64) for i, shape in enumerate(URI_SHAPES[:4])]
    start = event(run_id, "START", "2026-03-01T10:00:00Z", inputs=inputs)
    start["job"]["facets"]["notes"] = {"_producer": "p", "_schemaURL": "s", **notes}
    start["run"]["facets"]["tdprov_runContext"] = {"_producer": "p", "_schemaURL": "s", "parameters": notes}
    end = event(run_id, terminal, "2026-03-01T10:00:05Z", inputs=inputs,
                outputs=[dataset("s3://lake", "clean/users.parquet", "blake3:" + "3" * 64)])
    text = "\n".join(shape.value for shape in TEXT_SHAPES)
    end["run"]["facets"]["errorMessage"] = {"_producer": "p", "_schemaURL": "s", "programmingLanguage": "python",
                                            "message": text, "stackTrace": text}
    return [start, end]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_corpus_finds_nothing_in_store_spool_or_logs(s3_server, s3_fault, monkeypatch, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    bucket = s3_server.create_bucket()
    spool = tmp_path / "spool"
    down, up = str(uuid.uuid4()), str(uuid.uuid4())
    with caplog.at_level(logging.DEBUG):
        transport = ProvenanceTransport(ProvenanceConfig(store=s3_fault("closed", bucket), spool=str(spool), timeout=10))
        for ev in _events(down, "FAIL"):
            transport.emit(ev)
        transport.close()
        spooled = _files(spool)
        assert len(Outbox(spool).pending()) == 3 and any(down.encode() in b for b in spooled.values())
        s3_server.point(monkeypatch)
        monkeypatch.delenv("TDPROV_STORE_MAX_ATTEMPTS")
        uri = f"s3://{bucket}/prefix"
        transport = ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(spool), timeout=10))
        for ev in _events(up, "FAIL"):
            transport.emit(ev)
        transport.close()
        assert Outbox(spool).flush().ok
    store = open_store(uri)
    assert {s.run_id for s in list_bundles(store)} == {down, up}
    events = read_bundle(store, up).files["events.jsonl"]
    assert b"note_135" in events and b"stopped" in events and b"Server=db" in events  # the record is kept, redacted
    stored = {"store": all_stored_bytes(uri)}
    stored.update({f"store:{k}": v for k, v in read_bundle(store, up).files.items()})  # each object decoded on its own
    found = leaks({**stored, **{f"spool:{k}": v for k, v in spooled.items()}, "log": caplog.text.encode()})
    assert found == [], [f"{leak} ({shape_of(leak.split(' in ')[0])})" for leak in found]


def test_scanner_finds_a_planted_secret_in_every_encoding() -> None:
    """The scan is not vacuous: a secret hidden by each decoding the scanner knows is found."""
    import gzip
    import io

    import pandas as pd

    secret = ALL_SECRETS[0]
    table = io.BytesIO()
    pd.DataFrame({"v": [secret]}).to_parquet(table)
    envelope = json.dumps({"payload": base64.b64encode(json.dumps({"s": secret}).encode()).decode()}).encode()
    escaped = json.dumps({"s": secret}, ensure_ascii=True).replace(secret[3], "\\u%04x" % ord(secret[3])).encode()
    for blob in (gzip.compress(secret.encode() * 3), table.getvalue(), envelope, escaped):
        assert leaks({"x": blob}, [secret]) == [f"{secret} in x"]
    for hidden in (gzip.compress(secret.encode() * 3), envelope, escaped):  # found only by decoding
        assert secret.encode() not in hidden


# -- linear time ----------------------------------------------------------------------------------
MB = 1_000_000
TOKEN_LIKE = {
    "base64": lambda n: base64.b64encode(secrets.token_bytes(n * 3 // 4)).decode(),
    "hex": lambda n: secrets.token_hex(n // 2),
    "urlsafe": lambda n: secrets.token_urlsafe(n * 3 // 4)[:n],
}


def _cpu(func, *args) -> float:
    started = time.thread_time()
    func(*args)
    return time.thread_time() - started


@pytest.mark.parametrize("kind", sorted(TOKEN_LIKE))
def test_a_megabyte_token_is_redacted_in_under_a_second(kind: str) -> None:
    token = TOKEN_LIKE[kind](MB)
    for value in ({"note": token}, {"note": f"job said {token} twice"}, {"api_token": token}):
        started = time.thread_time()
        out = json.dumps(redact_value(value))
        assert time.thread_time() - started < 1.0
        assert token[1000:1100] not in out and REDACTED in out


HOSTILE = {
    "letters": lambda n: "a" * n, "spaces": lambda n: " " * n, "colons": lambda n: "a:" * (n // 2),
    "schemes": lambda n: "a://" * (n // 4), "assignments": lambda n: "password=" * (n // 9),
    "open quotes": lambda n: "password='" * (n // 10), "flags": lambda n: "--token " * (n // 8),
    "tags": lambda n: "<a>" * (n // 3), "jwt heads": lambda n: "eyJ." * (n // 4),
    "pem heads": lambda n: "-----BEGIN PRIVATE KEY-----" * (n // 27), "identified by": lambda n: "identified by " * (n // 14),
    "webhooks": lambda n: "hooks.slack.com/" * (n // 16), "json": lambda n: "[" * (n // 2) + "]" * (n // 2),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_redaction_is_linear_on_hostile_text(kind: str) -> None:
    """Ten times the input costs about ten times the time (a quadratic pattern would cost a hundred)."""
    small, large = HOSTILE[kind](100_000), HOSTILE[kind](MB)
    redact_value(small)
    took = _cpu(redact_value, large)
    ratio = took / max(_cpu(redact_value, small), 1e-3)
    assert ratio < 30 and took < 3.0, (ratio, took)


def test_deep_nesting_is_bounded_not_a_recursion_error() -> None:
    deep: dict = {"password": "x"}
    for _ in range(5000):
        deep = {"a": [deep]}
    out = json.dumps(redact_value(deep))
    assert TOO_DEEP in out and '"x"' not in out
    assert redact_text("[" * 200_000) == "[" * 200_000
