"""A fault-injecting HTTP proxy in front of moto's S3 server, for the reliability tests.

``FaultProxy(upstream)`` listens on 127.0.0.1 and forwards every request to ``upstream`` unchanged
(Host header and signature included). ``proxy.fault = rule`` injects faults: ``rule(method, path)``
returns ``None`` (forward), ``("status", 503, "SlowDown")`` (an S3 error reply), ``("delay", seconds)``
(forward after a pause), ``("hang", event)`` (read the request, then wait until ``event`` is set and
drop the connection) or ``("half", event)`` (read half of the body, signal ``event``, then drop).
``proxy.drop_headers`` names request headers it does not forward (e.g. ``{"if-none-match"}``: an S3-compatible
server that ignores conditional writes). Every request is counted in ``proxy.log`` as ``(method, path, outcome)``.
"""
from __future__ import annotations

import http.client
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

Rule = Callable[[str, str], Any]
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class FaultProxy:
    """See the module docstring."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.fault: Rule | None = None
        self.log: list[tuple[str, str, str]] = []
        self.drop_headers: set[str] = set()  # lower-case names of request headers not forwarded
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        # shutdown() waits for the loop's next poll: 0.5 s by default, at every test's teardown
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, outcome: str, method: str | None = None) -> int:
        return sum(1 for m, _, o in self.log if o == outcome and (method is None or m == method))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls

            def _body(self, limit: int | None = None) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    raw = b""
                    while True:
                        line = self.rfile.readline()
                        raw += line
                        size = int(line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while True:  # trailers, up to the blank line
                                trailer = self.rfile.readline()
                                raw += trailer
                                if trailer in (b"\r\n", b"\n", b""):
                                    return raw
                        raw += self.rfile.read(size + 2)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length if limit is None else min(limit, length))

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                rule = proxy.fault(self.command, self.path) if proxy.fault else None
                kind = rule[0] if rule else "forward"
                if kind == "half":
                    self._body(limit=int(self.headers.get("Content-Length") or 2) // 2)
                    proxy.log.append((self.command, self.path, "half"))
                    rule[1].set()
                    time.sleep(30)  # the writer is killed meanwhile
                    self.close_connection = True
                    return
                body = self._body()
                if kind == "hang":
                    proxy.log.append((self.command, self.path, "hang"))
                    rule[1].wait(30)
                    self.close_connection = True
                    return
                if kind == "status":
                    proxy.log.append((self.command, self.path, f"{rule[1]}"))
                    error = f"<Error><Code>{rule[2]}</Code><Message>injected</Message></Error>".encode()
                    self._reply(rule[1], [("Content-Type", "application/xml")], error)
                    return
                if kind == "delay":
                    time.sleep(rule[1])
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in ("connection", "keep-alive", *proxy.drop_headers):
                            conn.putheader(name, value)
                    conn.endheaders(body or None)
                    response = conn.getresponse()
                    data = response.read()
                    proxy.log.append((self.command, self.path, kind))
                    self._reply(response.status, response.getheaders(), data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def fault_proxy(s3_server, monkeypatch: pytest.MonkeyPatch):
    """A FaultProxy in front of the session's moto server; the AWS environment points at the proxy with one attempt per
    call, so that an injected reply shows up at once. The time bounds stay the store's defaults: a request the proxy
    and moto (threads of the test's own process) are slow to answer on a loaded machine is no fault; a test of a slow
    or silent store sets the bound its fault exceeds."""
    proxy = FaultProxy(s3_server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
    for name in ("TDPROV_STORE_CONNECT_TIMEOUT", "TDPROV_STORE_READ_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TDPROV_STORE_MAX_ATTEMPTS", "1")
    yield proxy
    proxy.close()


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Path:
    """A folder in memory (/dev/shm) where there is one: the spool fsyncs every entry, and these
    tests are about faults, not disks. Falls back to ``tmp_path``."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="tdprov-rel-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_proxy_forwards_and_injects(s3_server, fault_proxy: FaultProxy) -> None:
    from prov_common.errors import StoreUnavailableError
    from prov_common.store import open_store

    store = open_store(f"s3://{s3_server.create_bucket()}/p")
    assert store.put("a/b.json", b"{}") and store.get("a/b.json") == b"{}"
    fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown")
    with pytest.raises(StoreUnavailableError, match="SlowDown"):
        store.put("a/c.json", b"{}")
    fault_proxy.fault = None
    assert list(store.list("a/")) == ["a/b.json"]
    assert fault_proxy.count("503") == 1 and fault_proxy.count("forward", "PUT") == 1
