"""S3 store specifics: conditional puts on the server, and outages that must fail fast."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from prov_common.errors import StoreError, StoreUnavailableError
from prov_common.store import open_store
from prov_common.store.s3 import S3Options, S3Store, parse_s3_uri

from conftest import free_port


def test_moto_server_honours_if_none_match(s3_server) -> None:
    """The write-once guarantee rests on the server refusing a second conditional put."""
    client, bucket = s3_server.client(), s3_server.create_bucket()
    client.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_objects_live_under_the_prefix(s3_server, s3_store_uri: str) -> None:
    store = open_store(s3_store_uri)
    store.put("runs/r1/events.jsonl", b"{}\n")
    bucket, prefix = parse_s3_uri(s3_store_uri)
    listed = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [prefix + "runs/r1/events.jsonl"]
    other = open_store(f"s3://{bucket}/prefix2")
    assert list(other.list()) == []  # 'prefix2/' is not inside 'prefix/' and vice versa
    other.put("a", b"1")
    assert list(store.list()) == ["runs/r1/events.jsonl"]


def test_missing_bucket_is_a_store_error_with_a_fix(s3_server) -> None:
    store = open_store("s3://no-such-bucket-tdprov/x")
    with pytest.raises(StoreError) as info:
        store.put("k", b"1")
    assert not isinstance(info.value, StoreUnavailableError)
    assert "no-such-bucket-tdprov" in str(info.value) and "create the bucket" in str(info.value)


def _fast(endpoint: str, attempts: int = 1) -> S3Store:
    import boto3
    from botocore.config import Config

    options = S3Options(connect_timeout=1.0, read_timeout=1.0, max_attempts=attempts)
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t",
        config=Config(connect_timeout=1.0, read_timeout=1.0, retries={"max_attempts": attempts, "mode": "standard"}),
    )
    return S3Store("s3://bucket/prefix", options=options, client=client)


@pytest.fixture
def failing_endpoint(request) -> Iterator[str]:
    """An HTTP server on localhost answering every request with the given S3 error status and code."""
    status, code = request.param

    class Handler(BaseHTTPRequestHandler):
        def _fail(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_POST = _fail

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "failing_endpoint", [(503, "SlowDown"), (500, "InternalError"), (503, "ServiceUnavailable")], indirect=True
)
def test_server_errors_and_throttling_are_unavailable(failing_endpoint: str) -> None:
    store = _fast(failing_endpoint)
    for call in (lambda: store.put("k", b"1"), lambda: store.get("k"), lambda: store.exists("k"), lambda: list(store.list())):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as info:
            call()
        assert time.monotonic() - started < 10
        assert "'k'" in str(info.value) or "list" in str(info.value)


@pytest.mark.parametrize("failing_endpoint", [(403, "AccessDenied")], indirect=True)
def test_access_denied_names_the_permissions(failing_endpoint: str) -> None:
    with pytest.raises(StoreError) as info:
        _fast(failing_endpoint).put("runs/x", b"1")
    assert not isinstance(info.value, StoreUnavailableError)
    assert "s3:PutObject" in str(info.value) and "runs/x" in str(info.value)


def test_closed_port_is_unavailable_within_seconds() -> None:
    store = _fast(f"http://127.0.0.1:{free_port()}", attempts=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.put("k", b"1")
    assert time.monotonic() - started < 8


def test_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung endpoint (accepts, never replies) is cut off by the read timeout, not waited on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "t")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "t")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("TDPROV_STORE_READ_TIMEOUT", "0.5")
        monkeypatch.setenv("TDPROV_STORE_MAX_ATTEMPTS", "1")
        store = open_store("s3://bucket/p")
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as info:
            store.get("runs/k")
        assert time.monotonic() - started < 5
        assert "runs/k" in str(info.value)
