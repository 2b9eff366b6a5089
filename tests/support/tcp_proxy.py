"""A TCP proxy a test can cut: the network between a bridge instance and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``upstream``. ``cut()`` is a partition: nothing more
    passes either way and nobody is told (sockets stay open, as a pulled cable leaves them).
    ``close_upstream()`` ends the server's side of every connection, as the server's TCP
    keepalive does once it gives up on a client it cannot reach."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._cut = asyncio.Event()
        self._upstream_writers: list[asyncio.StreamWriter] = []
        self._client_writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    def cut(self) -> None:
        self._cut.set()

    def close_upstream(self) -> None:
        for writer in self._upstream_writers:
            writer.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.close_upstream()
        for writer in self._upstream_writers + self._client_writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._client_writers.append(writer)
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._upstream_writers.append(up_writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        if not self._cut.is_set():  # a real close on one side is passed on
            writer.transport.abort()
            up_writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not self._cut.is_set():
            data = await reader.read(65536)
            if not data or self._cut.is_set():
                return
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
