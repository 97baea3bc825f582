"""A TCP proxy on localhost in front of an S3 server that can stop answering: ``hang()`` drops the open connections
and then accepts new ones without ever answering (an outage of a server that still takes connections), ``resume()``
forwards again."""
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
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hang(self) -> None:
        """From now on accept and never answer; the connections open now are closed (a client's pool would reuse them)."""
        self._hanging.set()
        self._drop()

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
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
