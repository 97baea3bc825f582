"""A TCP proxy on localhost in front of an S3 server that can stop answering: ``hang()`` drops the open connections
and then accepts new ones without ever answering (an outage of a server that still takes connections), ``hang_after``
does so once a request holding given bytes has gone through, ``resume()`` forwards again."""
from __future__ import annotations

import socket
import threading


class HangingProxy:
    """Forwards 127.0.0.1:``port`` to ``target`` (host, port) until :meth:`hang`; :meth:`resume` forwards again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._hanging = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._marker: bytes | None = None
        self.tripped: bytes | None = None  # the read of the request that made ``hang_after`` hang
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hang(self) -> None:
        """From now on accept and never answer; the connections open now are closed (a client's pool would reuse them)."""
        self._hanging.set()
        self._drop()

    def hang_after(self, marker: bytes) -> None:
        """Forward until a request holding ``marker`` (in one read of it) has gone through; then answer nothing more
        (its own answer still comes back, unless its body was not in that read); the read is kept in ``tripped``."""
        self._marker = marker

    def resume(self) -> None:
        """Forward again; the hung connections are closed."""
        self._hanging.clear()
        self._drop()

    def close(self) -> None:
        self._listener.close()
        self._drop()

    def _drop(self) -> None:
        with self._lock:
            held, self._open = self._open, []
        for sock in held:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.append(client)
            if self._hanging.is_set():
                continue  # held open, never read from or answered
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open.append(upstream)
            for source, sink, asked in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(source, sink, asked), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, asked: bool) -> None:
        """Copy ``source`` to ``sink``; ``asked``: the client's side, whose requests are held once hanging."""
        try:
            while data := source.recv(65536):
                if asked and self._hanging.is_set():
                    continue  # read, never forwarded nor answered
                sink.sendall(data)
                if asked and self._marker is not None and self._marker in data:
                    self._marker, self.tripped = None, data
                    self._hanging.set()
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
