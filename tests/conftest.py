"""Fixtures: the OpenLineage validator (the spec copy in common/schemas/openlineage), isolated tdprov homes and stores."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

import fork_env

REPO = Path(__file__).resolve().parents[1]

# A fork server's children (the Dagster step processes of the tests' multiprocess jobs) take the environment of the
# test that asks for them, as spawned ones would; the server is stopped and reaped when the session ends.
fork_env.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    fork_env.stop_server()


# Property tests draw the same examples on every run of the suite (a run of CI must not pass or fail by the draw);
# HYPOTHESIS_PROFILE=explore draws new ones each run, to look for what the fixed draw misses.
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """absl's log handler (absl comes with mlcroissant, which test modules import at collection) writes to the
    ``sys.stderr`` of the moment it was imported, here pytest's capture file of the worker, and closes that stream
    whenever logging is configured again and it is not the ``sys.stderr`` of that moment (``logging.config.dictConfig``
    closes every handler; Dagster's run set-up calls it): a Dagster run under ``capsys`` closed the worker's capture,
    and that test and every later one of the worker failed. Before each test the handler writes to
    ``sys.__stderr__``, which it never closes (pytest still captures the descriptor)."""
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        handler = absl_logging.get_absl_handler().python_handler
        if handler.stream is not sys.__stderr__:
            handler.stream = sys.__stderr__


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep ``--dist loadgroup`` grouping (scripts/test): an xdist worker tells the controller a test's
    ``xdist_group`` by the suffix ``@group`` of its node id, which pytest-xdist 3.8 writes where pytest 9.2 no longer
    reads it (pytest-dev/pytest-xdist#1386): every group was spread over the workers, and each worker built the
    group's module fixtures again. The suffix is written where pytest reads it, unless xdist's own took."""
    if not getattr(config.option, "loadgroup", False):  # set on the workers of a loadgroup run only
        return
    try:
        from _pytest.nodeid import NodeId  # pytest >= 9.2: structured node ids (older pytest takes xdist's own suffix)
    except ImportError:  # a pytest before 9.2 (xdist's own suffix works there) or one that moved it: scheduling only
        return

    for item in items:
        groups = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        if groups and "@" not in item.nodeid.rsplit("]", 1)[-1]:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(groups))}")


@pytest.fixture(autouse=True)
def _isolated_tdprov(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own TDPROV_HOME (keys) and no inherited TDPROV_* settings."""
    for name in ("TDPROV_STORE", "TDPROV_SIGNING_KEY", "TDPROV_TRUSTED_KEYS", "TDPROV_SPOOL", "TDPROV_STRICT", "TDPROV_WITNESS",
                 "TDPROV_AUDITOR_KEYS", "TDPROV_RETIRED_KEYS", "TDPROV_RETIRED_AUDITOR_KEYS", "TDPROV_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path_factory.mktemp("tdprov-home")))


@pytest.fixture(scope="session")
def ol_validator():
    """The suite's OpenLineage validator module, with format checking (``validate_event(dict)`` raises on invalid events)."""
    import ol_validate

    return ol_validate


# --- S3 on localhost (moto's ThreadedMotoServer through real boto3) ------------------------------
import contextlib  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    """A running S3 server on localhost: ``endpoint`` and the environment that points boto3 at it."""

    endpoint: str
    env: dict

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def create_bucket(self) -> str:
        name = f"tdprov-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def point(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the AWS environment of one test at this server."""
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)


def s3_env(endpoint: str, home: Path) -> dict:
    """AWS environment for a local endpoint: dummy credentials, a region, no user config files."""
    return {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def moto_lists_its_services_once() -> None:
    """Make moto's server list its own package folder once per process rather than on every request.

    Each request's dispatch asks ``moto.backends.list_of_moto_modules()``, which lists moto's ~180 folders with a
    ``stat`` each (about 1 ms of a 4-5 ms request here); the folder does not change while the suite runs, so the
    answer is kept. What each request does and answers is unchanged."""
    import moto.backends

    if not getattr(moto.backends.list_of_moto_modules, "kept", False):
        services = tuple(moto.backends.list_of_moto_modules())

        def kept() -> tuple[str, ...]:
            return services

        kept.kept = True  # type: ignore[attr-defined]
        moto.backends.list_of_moto_modules = kept


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """moto's S3 server on 127.0.0.1 (a free port) for the whole session; the AWS environment points at it."""
    from moto.server import ThreadedMotoServer

    moto_lists_its_services_once()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # the OS picks a free port: no race for it
    server.start()
    port = server.get_host_and_port()[1]
    info = S3Server(endpoint=f"http://127.0.0.1:{port}", env=s3_env(f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("aws")))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        for name, value in info.env.items():
            mp.setenv(name, value)
        yield info
    server.stop()


@pytest.fixture
def s3_ignoring_if_match(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that drops ``If-Match`` from every request it passes on,
    as an S3-compatible server (or a proxy before one) that ignores conditional reads: a :class:`S3Server` for the
    proxy (``point`` it at a test). Everything else of each request and answer is passed on as it is."""
    with _rewriting_proxy(s3_server, tmp_path_factory, drop_if_match=True) as proxy:
        yield proxy


@pytest.fixture
def s3_answering_pinned_reads_without_etag(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that drops the ``ETag`` header from the answer to every
    read of a bundle's object (a key under ``bundles/``) asked with ``If-Match`` (which the server honours), as an
    S3-compatible server (or a proxy before one) that gives no ETag with the bytes: a :class:`S3Server` for the proxy.
    Everything else (the audit's own objects, which it reads at their ETag too) is passed on as it is."""
    with _rewriting_proxy(s3_server, tmp_path_factory, drop_pinned_etag_under="/bundles/") as proxy:
        yield proxy


@pytest.fixture
def s3_weakening_etags(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that makes the ``ETag`` header of every answer weak
    (``W/"..."``), as a proxy or CDN that compresses answers does: a :class:`S3Server` for the proxy. Everything else
    (the bytes, and the ETags a listing's body holds) is passed on as it is."""
    with _rewriting_proxy(s3_server, tmp_path_factory, weaken_etags=True) as proxy:
        yield proxy


@pytest.fixture
def s3_listing_without_etags(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that removes every ``<ETag>`` element from the body of each
    listing it answers (ListObjectsV2, ListObjectVersions), as an S3-compatible server whose listings give no ETag:
    a :class:`S3Server` for the proxy. Everything else (a PutObject's or GetObject's ``ETag`` header, ``If-Match``) is
    passed on as it is."""
    with _rewriting_proxy(s3_server, tmp_path_factory, unlisted_etags=True) as proxy:
        yield proxy


@pytest.fixture
def s3_refusing_bucket_settings(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that refuses (403 AccessDenied) reads of a bucket's
    versioning and Object Lock configuration, as S3 refuses credentials without s3:GetBucketVersioning and
    s3:GetBucketObjectLockConfiguration: a :class:`S3Server` for the proxy."""
    with _rewriting_proxy(s3_server, tmp_path_factory, refuse=("versioning", "object-lock")) as proxy:
        yield proxy


@pytest.fixture
def s3_refusing_versioning_change(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that refuses (403 AccessDenied) a change of a bucket's
    versioning, as S3 refuses credentials without s3:PutBucketVersioning: a :class:`S3Server` for the proxy."""
    with _rewriting_proxy(s3_server, tmp_path_factory, refuse_puts=("versioning",)) as proxy:
        yield proxy


@pytest.fixture
def s3_refusing_object_lock(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that refuses (403 AccessDenied) reads of a bucket's Object
    Lock configuration alone, as S3 refuses credentials with s3:GetBucketVersioning but without
    s3:GetBucketObjectLockConfiguration: a :class:`S3Server` for the proxy."""
    with _rewriting_proxy(s3_server, tmp_path_factory, refuse=("object-lock",)) as proxy:
        yield proxy


@pytest.fixture
def s3_refusing_object_lock_change(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that refuses (403 AccessDenied) a change of a bucket's Object
    Lock configuration, as S3 refuses credentials without s3:PutBucketObjectLockConfiguration: a :class:`S3Server` for
    the proxy."""
    with _rewriting_proxy(s3_server, tmp_path_factory, refuse_puts=("object-lock",)) as proxy:
        yield proxy


@pytest.fixture
def s3_refusing_version_reads(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy on localhost that refuses (403 AccessDenied) a GET of one version of an
    object (``?versionId=``), as S3 refuses credentials with s3:GetObject but without s3:GetObjectVersion, and listings
    (``?list-type=2``), as S3 refuses credentials without s3:ListBucket: a :class:`S3Server` for the proxy."""
    with _rewriting_proxy(s3_server, tmp_path_factory, refuse=("versionId", "list-type")) as proxy:
        yield proxy


@contextlib.contextmanager
def _rewriting_proxy(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory, *, drop_if_match: bool = False,
                     drop_pinned_etag_under: str | None = None, weaken_etags: bool = False, unlisted_etags: bool = False,
                     refuse: tuple[str, ...] = (), refuse_puts: tuple[str, ...] = ()) -> Iterator[S3Server]:
    """A proxy on localhost before the session's S3 server that passes each request and answer on as it is, but
    for ``If-Match`` dropped from requests (``drop_if_match``), ``ETag`` dropped from the answers to requests that hold
    ``If-Match`` of a path holding ``drop_pinned_etag_under``, or made weak in every answer (``weaken_etags``), the
    ``<ETag>`` elements removed from the body of each listing (``unlisted_etags``: ``?list-type=2``, ``?versions``), and
    a GET of a bucket's subresource named in ``refuse`` (``versioning``), or a PUT of one named in ``refuse_puts``,
    answered 403 AccessDenied, as S3 answers credentials without the permission: a :class:`S3Server` for the proxy."""
    import http.client
    from http.server import BaseHTTPRequestHandler

    target = s3_server.endpoint.removeprefix("http://")
    hop = {"connection", "keep-alive", "transfer-encoding", "content-length"}  # this hop's own; set again below

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # an answer's headers and body are two writes: each answer waited ~40 ms for an ACK

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # the trailer
                pass
            return b"".join(chunks)

        def _forward(self) -> None:
            body = self._body()
            asked = set(self.path.partition("?")[2].replace("=", "&").split("&"))
            if asked & set({"GET": refuse, "PUT": refuse_puts}.get(self.command, ())):
                denied = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                self.send_response_only(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(denied)))
                self.end_headers()
                self.wfile.write(denied)
                return
            dropped = hop | ({"if-match"} if drop_if_match else set())
            headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
            pinned = "If-Match" in self.headers and drop_pinned_etag_under is not None and drop_pinned_etag_under in self.path
            unanswered = hop | ({"etag"} if pinned else set())
            upstream = http.client.HTTPConnection(target, timeout=30)
            try:
                upstream.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                                 headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            if unlisted_etags and self.command == "GET" and asked & {"list-type", "versions"}:
                data = re.sub(rb"<ETag>[^<]*</ETag>", b"", data)
            self.send_response_only(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in unanswered:
                    self.send_header(name, f"W/{value}" if weaken_etags and name.lower() == "etag" else value)
            length = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    port, stop = _serving(Handler)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        yield S3Server(endpoint=endpoint, env=s3_env(endpoint, tmp_path_factory.mktemp("aws")))
    finally:
        stop()


def _serving(handler: type) -> tuple[int, Callable[[], None]]:
    """A threading HTTP server of ``handler`` on a free port of 127.0.0.1, serving from a thread of its own: its port,
    and what stops it."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1], lambda: (server.shutdown(), server.server_close())


@pytest.fixture
def s3_store_uri(s3_bucket: str) -> str:
    """A fresh bucket on the local S3 server, as ``s3://bucket/prefix``."""
    return f"s3://{s3_bucket}/prefix"


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the local S3 server, with the AWS environment pointed at the server."""
    s3_server.point(monkeypatch)
    return s3_server.create_bucket()


@pytest.fixture(params=["local", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URI on each backend: a local folder and an S3 bucket on localhost."""
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_store_uri")


@pytest.fixture
def s3_fault(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Factory: ``s3_fault(kind)`` points the AWS environment at a broken S3 endpoint on localhost and
    returns a store URI for it (``s3_fault(kind, bucket)`` names the bucket). Kinds: ``closed`` (nothing listens), ``hang`` (accepts, never answers),
    or an HTTP error ``"<status> <Code>"`` such as ``"503 SlowDown"``, ``"500 InternalError"``,
    ``"403 AccessDenied"``. Calls are bounded (1 s connect, 0.5 s read) to one attempt so tests stay fast."""
    from http.server import BaseHTTPRequestHandler

    cleanups = []

    def error_server(status: int, code: str) -> int:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait for an ACK between them

            def _fail(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = f"<Error><Code>{code}</Code><Message>injected fault</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _fail

            def log_message(self, *args: object) -> None:
                pass

        port, stop = _serving(Handler)
        cleanups.append(stop)
        return port

    def hanging_server() -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        cleanups.append(listener.close)
        return listener.getsockname()[1]

    def make(kind: str, bucket: str = "tdprov-down") -> str:
        if kind == "closed":
            port = free_port()
        elif kind == "hang":
            port = hanging_server()
        else:
            status, code = kind.split()
            port = error_server(int(status), code)
        env = s3_env(f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("aws"))
        env.update(TDPROV_STORE_CONNECT_TIMEOUT="1", TDPROV_STORE_READ_TIMEOUT="0.5", TDPROV_STORE_MAX_ATTEMPTS="1")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return f"s3://{bucket}/prefix"

    yield make
    for cleanup in cleanups:
        cleanup()
