"""A TCP proxy to a PostgreSQL server that a test can cut: refuse, black-hole, heal.

It runs on a thread of the test process, listens on 127.0.0.1 and forwards to the server's
address (TCP, or the Unix socket of an embedded server). Modes:

- `pass`: forward both ways;
- `blackhole`: established connections freeze (nothing is read or forwarded) and new ones
  are accepted and never answered, as behind a dropped route;
- `refuse`: every connection is closed and new ones are refused, as a server that is down.
"""

from __future__ import annotations

import selectors
import socket
import threading
from contextlib import suppress
from typing import Any

import psycopg2.extensions


class Proxy:
    def __init__(self, server_url: str) -> None:
        params = psycopg2.extensions.parse_dsn(server_url)
        host, port = params.get("host") or "127.0.0.1", int(params.get("port") or 5432)
        self.upstream: Any = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
        self.family = socket.AF_UNIX if host.startswith("/") else socket.AF_INET
        self.params = params
        self.mode = "pass"
        self._listener: socket.socket | None = None
        self.port = 0
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []  # accepted while black-holed, never answered
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stop = False
        self._listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self) -> str:
        """A DSN for the same database, through the proxy."""
        keep = {k: v for k, v in self.params.items() if k not in ("host", "port", "hostaddr")}
        parts = [f"host=127.0.0.1 port={self.port}"] + [f"{k}={v}" for k, v in keep.items()]
        return " ".join(parts)

    def set(self, mode: str) -> None:
        assert mode in ("pass", "blackhole", "refuse")
        with self._lock:
            was, self.mode = self.mode, mode
            if mode == "refuse":
                self._close_all()
            elif self._listener is None:
                self._listen()
            if was == "pass" and mode == "blackhole":  # frozen: not even read
                for sock in self._pairs:
                    self._selector.unregister(sock)
            if was == "blackhole" and mode == "pass":
                for sock in self._pairs:
                    self._selector.register(sock, selectors.EVENT_READ)
                for held in self._held:
                    held.close()
                self._held.clear()
        self._wake_w.send(b"x")

    def held(self) -> int:
        """The connections held unanswered (black-holed) so far."""
        return len(self._held)

    def close(self) -> None:
        self._stop = True
        self._wake_w.send(b"x")
        self._thread.join(5)
        with self._lock:
            self._close_all()

    # -- the thread ------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ)

    def _close_all(self) -> None:
        for sock in [*self._pairs, *self._held]:
            with suppress(KeyError, ValueError):
                self._selector.unregister(sock)  # a frozen one is not registered
            sock.close()
        self._pairs.clear()
        self._held.clear()
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def _serve(self) -> None:
        while not self._stop:
            for key, _ in self._selector.select(0.2):
                with self._lock:
                    self._handle(key.fileobj)  # type: ignore[arg-type]

    def _handle(self, sock: socket.socket) -> None:
        if sock is self._wake_r:
            self._wake_r.recv(4096)
        elif sock is self._listener:
            self._accept()
        elif sock in self._pairs:
            self._forward(sock)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self.mode == "blackhole":
            self._held.append(client)
            return
        server = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            server.connect(self.upstream)
        except OSError:
            client.close()
            server.close()
            return
        self._pairs[client], self._pairs[server] = server, client
        for s in (client, server):
            s.setblocking(False)
            self._selector.register(s, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        peer = self._pairs[sock]
        try:
            data = sock.recv(65536)
            if data:
                peer.setblocking(True)
                peer.sendall(data)
                peer.setblocking(False)
                return
        except OSError:
            pass
        for s in (sock, peer):
            self._selector.unregister(s)
            self._pairs.pop(s, None)
            s.close()
