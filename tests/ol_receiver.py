"""An OpenLineage HTTP backend on localhost for the tests (what Marquez offers): keeps every event POSTed to it."""
from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """An OpenLineage HTTP backend on localhost (what Marquez offers): keeps every event POSTed to it."""

    def __init__(self, delay: float = 0.0) -> None:
        """``delay``: seconds each POST takes before its event is kept and answered (a slow backend)."""
        self.events: list[dict] = []
        self.paths: set[str] = set()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                time.sleep(delay)
                received.paths.add(self.path)
                received.events.append(json.loads(body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def by_step(self) -> dict[tuple[str, str], dict]:
        return {(e["job"]["name"], e["eventType"]): e for e in self.events}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
