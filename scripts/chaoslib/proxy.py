"""A small TCP proxy per supervisor, between it and PostgreSQL, that can cut its connections.

Modes (`Proxy.set`):

    pass       forward both ways
    refuse     reset every established connection, refuse new ones (listener closed)
    blackhole  established connections frozen; new ones accepted and never answered
    freeze     established connections frozen (nothing read or written, no reset); new
               ones forwarded

`pass` heals: frozen connections flow again with what they held, held ones are forwarded.
All proxies share one asyncio loop in a thread of the chaos script.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")
MODES = ("pass", "refuse", "blackhole", "freeze")
CHUNK = 65536


class Loop:
    """An asyncio loop in a daemon thread, for the proxies."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxies", daemon=True)
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class _Link:
    """One client connection and its upstream, each direction behind a gate."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                _reset(writer)


class Proxy:
    """Listens on `host` (a free port), forwards to `upstream`."""

    def __init__(self, loop: Loop, host: str, upstream: tuple[str, int]) -> None:
        self.loop = loop
        self.host = host
        self.upstream = upstream
        self.mode = "pass"
        self.port = 0
        self.links: set[_Link] = set()
        self.held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()  # held connections forwarded late
        loop.call(self._listen())

    def set(self, mode: str) -> None:
        assert mode in MODES, mode
        self.loop.call(self._set(mode))

    def close(self) -> None:
        self.loop.call(self._close())

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._accept, self.host, self.port,
                                                 reuse_address=True)  # fmt: skip
        self.port = self.server.sockets[0].getsockname()[1]

    async def _set(self, mode: str) -> None:
        previous, self.mode = self.mode, mode
        if mode == "refuse":
            await self._unlisten()
            for link in list(self.links):
                link.reset()
        elif mode in ("blackhole", "freeze"):
            for link in self.links:
                link.gate.clear()
        else:  # pass
            if previous == "refuse" or self.server is None:
                await self._listen()
            for link in self.links:
                link.gate.set()
            held, self.held = self.held, []
            for reader, writer in held:
                task = asyncio.ensure_future(self._forward(reader, writer))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _unlisten(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _close(self) -> None:
        await self._unlisten()
        for link in list(self.links):
            link.reset()
        for _, writer in self.held:
            _reset(writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "blackhole":
            self.held.append((reader, writer))
        elif self.mode == "refuse":  # accepted just before the listener closed
            _reset(writer)
        else:
            await self._forward(reader, writer)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        try:
            up_reader, link.upstream = await asyncio.open_connection(*self.upstream)
        except OSError:  # PostgreSQL is down: as a refused connection would look
            _reset(writer)
            return
        self.links.add(link)
        try:
            await asyncio.gather(_pump(reader, link.upstream, link.gate),
                                 _pump(up_reader, writer, link.gate))  # fmt: skip
        finally:
            self.links.discard(link)
            link.reset()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                gate: asyncio.Event) -> None:  # fmt: skip
    """Copy until end of file; while the gate is shut, read and write nothing."""
    with suppress(OSError, asyncio.IncompleteReadError):
        while True:
            await gate.wait()
            data = await reader.read(CHUNK)
            if not data:
                break
            await gate.wait()
            writer.write(data)
            await writer.drain()
    with suppress(OSError):
        writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed peer or a firewall would."""
    sock = writer.get_extra_info("socket")
    with suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
