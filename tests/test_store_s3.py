"""S3 store specifics: conditional puts on the server, and outages that must fail fast."""
from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from prov_common.errors import BadInputError, StoreError, StoreUnavailableError
from prov_common.store import open_store
from prov_common.store.errors import UnreadableObjectError
from prov_common.store.pinning import pin_listing
from prov_common.store.s3 import FIX_CREDENTIALS, FIX_WEAK_ETAG, S3Options, parse_s3_uri

from conftest import free_port, s3_env
from test_reliability_proxy import FaultProxy, fault_proxy  # noqa: F401 - fixtures


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


@pytest.mark.parametrize("kind", ["503 SlowDown", "500 InternalError", "503 ServiceUnavailable", "closed", "hang"])
def test_outages_and_throttling_are_unavailable_within_seconds(s3_fault, kind: str, monkeypatch) -> None:
    uri = s3_fault(kind)
    if kind == "hang":  # it never answers: any read bound shows that; a put also waits 1 s for 100-continue
        monkeypatch.setenv("TDPROV_STORE_READ_TIMEOUT", "0.1")
    store = open_store(uri)
    calls = [lambda: store.put("runs/k", b"1"), lambda: store.get("runs/k"), lambda: store.exists("runs/k"),
             lambda: list(store.list("runs/"))]
    for call in calls[:2] if kind == "hang" else calls:  # a hung server costs a timeout per call
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as info:
            call()
        assert time.monotonic() - started < 5
        assert "runs/" in str(info.value) and "tdprov flush" in str(info.value)


def test_access_denied_names_the_permissions(s3_fault) -> None:
    with pytest.raises(StoreError) as info:
        open_store(s3_fault("403 AccessDenied")).put("runs/x", b"1")
    assert not isinstance(info.value, StoreUnavailableError)
    assert "s3:PutObject" in str(info.value) and "runs/x" in str(info.value)


GRANT = "grant s3:GetObject, s3:PutObject and s3:ListBucket on {bucket}/p/* to these credentials"


@pytest.mark.parametrize("status, code, said, fix", [
    (403, "InvalidAccessKeyId", "the credentials were refused (InvalidAccessKeyId).", FIX_CREDENTIALS),
    (403, "SignatureDoesNotMatch", "the credentials were refused (SignatureDoesNotMatch).", FIX_CREDENTIALS),
    (400, "ExpiredToken", "the credentials were refused (ExpiredToken).", FIX_CREDENTIALS),
    (403, "AccessDenied", "access denied (AccessDenied).", GRANT)],
    ids=["unknown-key-id", "wrong-secret", "expired-token", "access-denied"])
def test_a_head_refused_without_a_body_names_the_cause_a_ranged_get_is_given(
        s3_server, fault_proxy: FaultProxy, status: int, code: str, said: str, fix: str) -> None:
    """S3 answers a HEAD request it refuses with no body, so its status alone says nothing of the cause: refused
    credentials (an unknown key id, a wrong secret, an expired token) were called access denied, with permissions to
    grant. The one GET of the key's first byte that follows names S3's code, and the error its cause and fix."""
    bucket = s3_server.create_bucket()
    store = open_store(f"s3://{bucket}/p")
    assert store.put("runs/k", b"1")
    fault_proxy.fault = lambda method, path: ("status", status, code)
    with pytest.raises(StoreError) as info:
        store.exists("runs/k")
    assert not isinstance(info.value, StoreUnavailableError)
    assert info.value.what == f"cannot check 'runs/k' in {store.describe()}: {said}", info.value.what
    assert info.value.fix == fix.format(bucket=bucket)
    assert [(method, outcome) for method, _, outcome in fault_proxy.log[-2:]] == [("HEAD", str(status)), ("GET", str(status))]


@pytest.mark.parametrize("status, code, causes, other", [
    (403, "InvalidAccessKeyId", ", or they lack a permission", GRANT),
    (400, "ExpiredToken", " (S3 answers an expired or invalid session token so), or S3 could not take the request "
     "as sent", "check the store URI and the endpoint and region the requests are sent to and signed for "
     "(AWS_ENDPOINT_URL_S3, AWS_REGION)")], ids=["403", "400"])
def test_a_head_refused_without_a_body_that_a_get_does_not_explain_names_both_causes(
        s3_server, fault_proxy: FaultProxy, status: int, code: str, causes: str, other: str) -> None:
    """A HEAD refused with no body whose GET is answered tells neither cause: both are named, with both fixes. A bare 400
    said '400 (Bad Request)' with a general fix; S3 answers a missing permission 403, so its other cause is the request."""
    bucket = s3_server.create_bucket()
    store = open_store(f"s3://{bucket}/p")
    assert store.put("runs/k", b"1")
    fault_proxy.fault = lambda method, path: ("status", status, code) if method == "HEAD" else None
    with pytest.raises(StoreError) as info:
        store.exists("runs/k")
    assert info.value.what == (f"cannot check 'runs/k' in {store.describe()}: refused ({status}) with no error code, as S3 "
                               f"answers a HEAD request: the credentials were refused{causes}."), info.value.what
    assert info.value.fix == f"{FIX_CREDENTIALS}; else {other.format(bucket=bucket)}", info.value.fix
    assert [(method, outcome) for method, _, outcome in fault_proxy.log[-2:]] == [("HEAD", str(status)), ("GET", "forward")]


def test_a_pinned_read_answered_with_a_weak_etag_names_the_proxy_that_altered_the_answer(
        s3_store_uri: str, s3_weakening_etags, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy or CDN that compresses S3's answers makes their ETag weak (``W/"..."``), which proves no bytes: a read
    at the listed ETag so answered is refused, as it was, but said the endpoint ignored If-Match, with its fix."""
    import hashlib

    assert open_store(s3_store_uri).put("runs/k", b"1")
    s3_weakening_etags.point(monkeypatch)
    store = open_store(s3_store_uri)
    etag = hashlib.md5(b"1").hexdigest()
    assert pin_listing(store, {"runs/k": f"1:{etag}"}) == []
    with pytest.raises(UnreadableObjectError) as info:
        store.get("runs/k")
    assert info.value.what == (
        f"'runs/k' cannot be read as it was listed in {store.describe()}: a read of the bytes with ETag \"{etag}\" "
        f"(If-Match) was answered with bytes with the weak ETag W/\"{etag}\", which S3 never gives: a proxy (or CDN) "
        "before the endpoint altered the answer (compressed or otherwise transformed it), and a weak ETag does not prove "
        "they are the bytes asked for"), info.value.what
    assert info.value.fix == f"{FIX_WEAK_ETAG}; the next audit verifies it again"


def test_default_bounds_give_up_within_seconds(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """With no tuning at all, a dead endpoint costs seconds (default timeouts and retries), not minutes."""
    for name, value in s3_env(f"http://127.0.0.1:{free_port()}", tmp_path).items():
        monkeypatch.setenv(name, value)
    store = open_store("s3://bucket/p")
    assert store.options == S3Options()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        store.put("k", b"1")
    assert time.monotonic() - started < 10


def test_bad_timeout_setting_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDPROV_STORE_READ_TIMEOUT", "soon")
    with pytest.raises(BadInputError) as info:
        open_store("s3://bucket/p")
    assert "TDPROV_STORE_READ_TIMEOUT" in str(info.value)


def test_write_once_probe_passes_on_moto_and_fails_on_a_server_that_ignores_if_none_match(s3_store_uri, monkeypatch) -> None:
    open_store(s3_store_uri).check_write_once()
    open_store(s3_store_uri).check_write_once()  # repeatable: the probe object keeps its first bytes

    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    stored: dict[str, bytes] = {}

    class Careless(BaseHTTPRequestHandler):
        """Stores every PUT, ignoring If-None-Match, as old S3-compatible servers do."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait for an ACK between them

        def do_PUT(self) -> None:
            stored[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("ETag", '"x"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            body = stored.get(self.path, b"")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Careless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(StoreError) as info:
            open_store("s3://careless/p").check_write_once()
        assert "If-None-Match" in str(info.value) and "_tdprov/conditional-write-probe" in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


def test_local_write_once_probe(tmp_path) -> None:
    open_store(tmp_path / "s").check_write_once()


def test_write_once_probe_reads_no_further_than_a_probe_writes(s3_store_uri) -> None:
    """An object planted at the probe's key, larger than any probe leaves there, was read whole by every probe (each
    'tdprov store init', each strict writer): it is read no further than that and named."""
    from prov_common.store.errors import ObjectTooLargeError
    from prov_common.store.s3 import PROBE_KEY, PROBE_LIMIT

    store = open_store(s3_store_uri)
    store.put(PROBE_KEY, b"x" * (PROBE_LIMIT + 1))
    with pytest.raises(ObjectTooLargeError, match=f"object '{PROBE_KEY}' in .* is larger than {PROBE_LIMIT} bytes"):
        store.check_write_once()
