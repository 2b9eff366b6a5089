"""Who follows a node: one PostgreSQL session advisory lock per node, on a connection of its own.

PostgreSQL frees a session lock when the session ends. A killed bridge's socket is closed
by its kernel, its backend exits at once, and another instance takes the node at its next
try (every ``freeswitch.takeover_interval``). An instance that falls silent (machine gone,
network cut, process frozen) keeps its locks until the server ends its session:
``idle_session_timeout`` = ``lock_idle_timeout`` seconds after its last statement (the
holder sends one every ``takeover_interval``), or the TCP keepalives for a peer that
vanished with a reply unacknowledged (``tcp_user_timeout``). PostgreSQL 14 or later.

The connection lives on an event loop in a thread of its own (``bridge-node-locks``), so a
busy app loop cannot delay the round trips that keep the locks: that thread confirms them
every ``takeover_interval`` and moves the Event Socket hub's deadline (``on_confirmed``).

The holder cannot see its own session end under a partition, so it counts: every round
trip on the lock connection (a try or a ``SELECT 1``) confirms the locks as of the moment
it was sent. Without a confirmation for ``lock_timeout`` seconds the hub closes every node
connection (its deadline passed) and the lock thread gives every node up and closes the
connection. The server cannot free the locks earlier than ``lock_idle_timeout`` after that
last confirmed send, and the config refuses ``lock_timeout + takeover_interval >=
lock_idle_timeout``, so the old follower has stopped before a new one can start. When the
server ends the session itself (restart, ``pg_terminate_backend``, failover), the socket
closes and the hub's deadline is moved to now: every node is given up at once, not at the
next try (reconnecting would hold none of them). Writes do not rely on that timing: each
write batch checks, in its own transaction, that this session still holds the node's lock
(persist.py, ``HOLDS``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from bridge.config import FreeSwitchConfig
from bridge.db import CONNECTION_ERRORS

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Whether the session (pid, backend_start) still holds the advisory lock with this bigint
# key (pg_locks shows a bigint key as classid = high 32 bits, objid = low 32, objsubid 1).
# backend_start guards against a reused pid. Run inside a write transaction.
HOLDS = """
SELECT EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.pid = $1 AND a.backend_start = $2
      AND l.classid::bigint = $3 AND l.objid::bigint = $4
)
"""
# LIMIT stops the scan once enough locks are taken: keys past it are never tried.
_TRY = "SELECT k FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_lock(k) LIMIT $2"
_MEMBERS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 1
  AND classid::bigint = $1 AND objid::bigint = $2 AND database = (
      SELECT oid FROM pg_database WHERE datname = current_database())
"""
_WHO = "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"


def lock_key(node: str, kind: str = "bridge-esl-node") -> int:
    """The node's advisory lock key: the same on every instance, signed 64 bits."""
    digest = hashlib.sha256(f"{kind}:{node}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# Held shared by every instance's lock session: their number is how nodes are spread.
MEMBER_KEY = lock_key("instances", kind="bridge-members")


def key_parts(key: int) -> tuple[int, int]:
    """(classid, objid) as pg_locks shows the bigint key."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class Session:
    """The lock connection's server session, as ``HOLDS`` identifies it."""

    pid: int
    started: object  # backend_start, a datetime handed back to PostgreSQL as is


class NodeLocks:
    """The lock connection and the nodes it holds.

    The connection lives on an event loop of its own, in a thread of its own
    (``bridge-node-locks``), which confirms the locks held every ``takeover_interval`` by
    itself and tells ``on_confirmed`` (the Event Socket hub's deadline): a busy app loop
    (a 10,000-binding snapshot applied, a full collection, a big list) no longer delays the
    round trip past ``lock_timeout`` and loses every node. A partition still does: no
    answer, no confirmation. The coroutines below are called from the app's loop and run on
    the lock loop; ``held``, ``session`` and ``surplus`` are replaced, never changed in
    place, so the app's loop always reads a whole value.
    """

    def __init__(
        self,
        dsn: str,
        config: FreeSwitchConfig,
        *,
        connect_timeout: float,
        on_confirmed: Callable[[float], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._config = config
        self._connect_timeout = connect_timeout
        self._on_confirmed = on_confirmed
        self._conn: asyncpg.Connection | None = None
        self.session: Session | None = None
        self.held: frozenset[str] = frozenset()
        self._confirmed = 0.0  # monotonic send time of the last answered round trip
        # Nodes held beyond this instance's share (freeswitch.spread): the store gives
        # one up per poll (unfollow, then ``release``) for an instance with room to take.
        self.surplus = 0
        self._old_server_logged = False
        self._down_logged = False
        # Set when the locks go without the app's loop asking (the server ended the
        # session: terminated, restarted, failed over; or the lock thread's own round trip
        # failed): the store's lock task polls at once and gives the nodes up.
        self.ended = asyncio.Event()
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the lock thread's
        self._thread: threading.Thread | None = None
        self._keeper: concurrent.futures.Future[None] | None = None
        self._busy = asyncio.Lock()  # one round trip at a time (used on the lock loop only)

    def _lock_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._app_loop = asyncio.get_running_loop()
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="bridge-node-locks", daemon=True)
            self._thread.start()
            self._loop = loop
            self._keeper = asyncio.run_coroutine_threadsafe(self._keep(), loop)
        return self._loop

    async def _there(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run ``work`` on the lock loop; the caller waits on its own loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._lock_loop()))

    async def poll(self, wanted: Iterable[str], most: int) -> tuple[set[str], set[str]]:
        """Try to take wanted nodes not held, ``most`` at most; confirm the ones held.
        Returns (gained, lost).

        The whole round trip, connect included, is bounded: by ``lock_timeout`` from the
        last confirmation while anything is held, else by the connect timeout.
        """
        self.ended.clear()
        return await self._there(self._poll(list(wanted), most, self.held))

    async def _poll(self, nodes: list[str], most: int, asked: frozenset[str]) -> tuple[set[str], set[str]]:
        async with self._busy:
            if asked - self.held:
                # The lock thread lost them while this poll waited: say so now, before a
                # reconnect that may take connect_timeout (the caller is still following).
                return set(), set(asked - self.held)
            if self._conn is not None and self._conn.is_closed():
                # Reconnecting would hold nothing of what ``held`` says: the locks went with it.
                return set(), self._lost("the lock session ended")
            started = time.monotonic()
            limit = self._connect_timeout
            if self.held:
                limit = self._confirmed + self._config.lock_timeout - started
            try:
                async with asyncio.timeout(max(limit, 0.0)):
                    conn = await self._connection()
                    share = len(nodes)
                    if self._config.spread:
                        members = max(1, await conn.fetchval(_MEMBERS, *key_parts(MEMBER_KEY)))
                        share = -(-len(nodes) // members)  # ceil: every node has a taker
                    keys = {lock_key(name): name for name in nodes if name not in self.held}
                    room = min(share - len(self.held), most)
                    if keys and room > 0:
                        got = [keys[row["k"]] for row in await conn.fetch(_TRY, list(keys), room)]
                    else:
                        await conn.fetchval("SELECT 1")
                        got = []
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                return set(), self._lost(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            if conn is not self._conn:
                # drop() ended the session while this round trip was answered: whatever it
                # took died with it, and what was held is already reported lost.
                return set(), set()
            self.held = self.held | set(got)
            self.surplus = max(0, len(self.held) - share)
            self._confirm(started)
            return set(got), set()

    async def _keep(self) -> None:
        """Confirm the locks held every ``takeover_interval``, whatever the app's loop does."""
        interval = self._config.takeover_interval
        while True:
            await asyncio.sleep(interval)
            if not self.held or time.monotonic() - self._confirmed < interval:
                continue  # nothing to keep, or a poll just confirmed them
            async with self._busy:
                conn = self._conn
                if not self.held or conn is None:
                    continue
                started = time.monotonic()
                left = self._confirmed + self._config.lock_timeout - started
                try:
                    async with asyncio.timeout(max(left, 0.0)):
                        await conn.fetchval("SELECT 1")
                except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                    self._lost(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                    continue
                if conn is self._conn:
                    self._confirm(started)

    def _confirm(self, sent: float) -> None:
        self._confirmed = sent
        self._down_logged = False
        if self._on_confirmed is not None:
            self._on_confirmed(self.confirmed_until)

    def _wake_app(self) -> None:
        if self._app_loop is not None:
            with contextlib.suppress(RuntimeError):  # the app's loop is closed: nobody to wake
                self._app_loop.call_soon_threadsafe(self.ended.set)

    @property
    def confirmed_until(self) -> float:
        """Monotonic time until which the locks held count as confirmed: ``lock_timeout``
        after the send of the last answered round trip (the next poll must end by then)."""
        return self._confirmed + self._config.lock_timeout

    async def release(self, node: str) -> None:
        """Free one node's lock (given up for spreading; the caller unfollowed it first)."""
        if node in self.held:
            await self._there(self._release(node))

    async def _release(self, node: str) -> None:
        async with self._busy:
            if node not in self.held or self._conn is None:
                return
            self.held = self.held - {node}
            try:
                async with asyncio.timeout(self._config.lock_timeout):
                    await self._conn.fetchval("SELECT pg_advisory_unlock($1)", lock_key(node))
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                self._lost(f"{type(exc).__name__}")

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            config = self._config
            kept = config.lock_idle_timeout + config.lock_keepalive_interval * config.lock_keepalive_count
            settings = {
                "application_name": "bridge-node-locks",
                "tcp_keepalives_idle": str(config.lock_idle_timeout),
                "tcp_keepalives_interval": str(config.lock_keepalive_interval),
                "tcp_keepalives_count": str(config.lock_keepalive_count),
            }
            conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout, server_settings=settings)
            if conn.get_server_version() >= (12, 0):
                # Unacknowledged data (a reply the partitioned client never got) is given
                # up after as long as the keepalives would take: never sooner than idle.
                await conn.execute(f"SET tcp_user_timeout = {1000 * kept}")
            if conn.get_server_version() >= (14, 0):
                # Silence this long ends the session: the locks of a frozen or cut-off
                # instance are freed although its kernel still answers keepalives.
                await conn.execute(f"SET idle_session_timeout = {1000 * config.lock_idle_timeout}")
            elif not self._old_server_logged:
                log.warning(
                    "registrations: PostgreSQL before 14 has no idle_session_timeout: a frozen"
                    " instance keeps its nodes until its TCP keepalives fail"
                )
                self._old_server_logged = True
            row = await conn.fetchrow(_WHO)
            assert row is not None
            await conn.execute("SELECT pg_advisory_lock_shared($1)", MEMBER_KEY)
            conn.add_termination_listener(self._on_end)
            self._conn, self.session = conn, Session(row["pid"], row["backend_start"])
        return self._conn

    def _on_end(self, conn: object) -> None:
        # asyncpg calls this for every close; ours (_lost, close) forget the connection first.
        if conn is self._conn:
            self._fence()
            self._wake_app()

    def _fence(self) -> None:
        # The hub closes every node connection at its next look (0.1 s), and opens none until
        # confirmed again, whatever the app's loop is busy with.
        if self._on_confirmed is not None:
            self._on_confirmed(0.0)

    def _lost(self, reason: str) -> set[str]:
        lost, self.held = set(self.held), frozenset()
        self.session = None
        if self._conn is not None:
            # terminate(): no goodbye round trip; the server frees the locks as soon as it
            # sees the socket close (at once if it is reachable).
            conn, self._conn = self._conn, None
            conn.terminate()
        if lost:
            log.warning("registrations: node locks lost nodes=%s reason=%s", ",".join(sorted(lost)), reason)
            self._fence()
            self._wake_app()  # the app's loop may not be the one that asked
        elif not self._down_logged:
            log.warning("registrations: cannot reach the node lock connection reason=%s", reason)
        self._down_logged = True
        return lost

    async def drop(self, reason: str) -> set[str]:
        """Give every lock up now (a write found one gone: the session is not to be trusted)."""
        if self._loop is None:
            return set()
        return await self._there(self._drop(reason))

    async def _drop(self, reason: str) -> set[str]:
        return self._lost(reason)

    async def close(self) -> None:
        """Release every lock (clean shutdown: a standby takes the nodes at its next try),
        then end the lock thread."""
        self.held = frozenset()
        self.session = None
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            await self._there(self._close())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, self._connect_timeout)
            if not thread.is_alive():
                loop.close()

    async def _close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        self.held = frozenset()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await asyncio.wait_for(conn.close(), timeout=self._connect_timeout)
            except (*CONNECTION_ERRORS, asyncpg.PostgresError):
                conn.terminate()
