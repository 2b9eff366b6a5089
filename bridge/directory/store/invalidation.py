"""LISTEN bridge_directory on a dedicated connection; hand each change to a sink.

The triggers in ``sql/030_directory_notify.sql`` announce every change to ``extensions``
and ``users``. This module owns one PostgreSQL connection outside the pool (a pooled
connection would lose its LISTEN when recycled), notices when it dies (termination, or a
keepalive that gets no answer), reconnects with a jittered backoff and, each time LISTEN
is active again, tells the sink to resync: changes made while nobody listened were missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import asyncpg

from bridge.db import CONNECTION_ERRORS
from bridge.directory.extension import Key

log = logging.getLogger(__name__)

CHANNEL = "bridge_directory"

ListenerState = Literal["connecting", "listening", "down", "stopped"]


class InvalidationSink(Protocol):
    def changed(self, keys: Sequence[Key]) -> None:
        """These (domain, extn) changed."""

    def changed_all(self) -> None:
        """Anything may have changed (TRUNCATE, a bulk statement)."""

    def resynced(self) -> None:
        """LISTEN is active (again): whatever happened before may have been missed."""

    def lost(self) -> None:
        """Changes can no longer be heard until ``resynced``."""


@dataclass(frozen=True, slots=True)
class ListenerStatus:
    state: ListenerState
    # time.time() of the last state change, and why the last connection ended.
    since: float
    last_error: str
    reconnects: int


def parse_payload(payload: str) -> list[Key] | None:
    """The keys of one notification, or None for "everything" (also for a payload we cannot read)."""
    try:
        document = json.loads(payload)
        if document.get("all"):
            return None
        return [(str(domain), str(extn)) for domain, extn in document["k"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("unreadable directory notification, dropping everything payload=%.200s", payload)
        return None


class InvalidationListener:
    def __init__(
        self,
        dsn: str,
        sink: InvalidationSink,
        *,
        connect_timeout: float = 2.0,
        keepalive_interval: float = 5.0,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._sink = sink
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive_interval
        self._initial = reconnect_initial
        self._max = reconnect_max
        self._state: ListenerState = "connecting"
        self._since = time.time()
        self._last_error = ""
        self._reconnects = 0
        self._listening = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    def status(self) -> ListenerStatus:
        return ListenerStatus(self._state, self._since, self._last_error, self._reconnects)

    async def wait_listening(self) -> None:
        await self._listening.wait()

    def backend_pid(self) -> int | None:
        """The server process of the listening connection (tests terminate it)."""
        return None if self._conn is None else int(self._conn.get_server_pid())

    async def run(self) -> None:
        delay = self._initial
        try:
            while True:
                if await self._session():
                    delay = self._initial
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._max)
        finally:
            self._set_state("stopped")

    async def _session(self) -> bool:
        """One connection's life; True if it got as far as listening."""
        try:
            conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            self._last_error = f"connect: {type(exc).__name__}"
            self._set_state("down")
            return False
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        listened = False
        try:
            await asyncio.wait_for(conn.add_listener(CHANNEL, self._on_notify), self._connect_timeout)
            self._conn = conn
            listened = True
            self._set_state("listening")
            self._listening.set()
            self._sink.resynced()
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), self._keepalive)
                except TimeoutError:
                    # A silently dead peer (partition, frozen server) never closes the socket.
                    await asyncio.wait_for(conn.execute("SELECT 1"), self._connect_timeout)
            self._last_error = "connection closed"
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            self._last_error = f"{type(exc).__name__}"
        finally:
            self._conn = None
            self._listening.clear()
            if listened:
                self._sink.lost()
                self._reconnects += 1
            self._set_state("down")
            conn.terminate()
        log.warning("directory change listener lost error=%s", self._last_error)
        return listened

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        keys = parse_payload(str(payload))
        if keys is None:
            self._sink.changed_all()
        else:
            self._sink.changed(keys)

    def _set_state(self, state: ListenerState) -> None:
        if state != self._state:
            self._state = state
            self._since = time.time()
            log.info("directory change listener state=%s", state)
