"""PostgreSQL access: the asyncpg pool, the migration runner over sql/, and error translation.

Every query on a request path goes through ``Database.fetch*`` so that a dead or slow
database becomes one ``DatabaseUnavailable`` after ``database.query_timeout`` seconds,
never a hang and never an asyncpg traceback on the wire.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from bridge.config import DatabaseConfig
from bridge.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

SQL_DIR = Path(__file__).resolve().parent / "sql"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Any number works as long as every bridge instance uses the same one.
_MIGRATION_LOCK = 0x6272_6964_6765  # "bridge"
# Seconds past a statement's limit before its connection is closed (Database._timed_acquire):
# time for the caller's own timeout to cancel it first, and for a live server to answer that.
_CLOSE_GRACE = 0.05

# What a dead, restarting or overloaded PostgreSQL looks like from asyncpg.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.PostgresConnectionError,
    # A pooled connection whose server died under it can be handed out once more and
    # then refuse the next statement ("cannot switch to state 12; another operation (2)
    # is in progress"): seen when PostgreSQL is stopped and restarted under load.
    asyncpg.exceptions.InternalClientError,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name must be NNN_name.sql: {path.name}")
        migrations.append(Migration(match.group(1), path.stem, path.read_text()))
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise ValueError(f"two migrations share a number in {sql_dir}")
    return migrations


async def upgrade(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply every migration not yet recorded, in order, each in its own transaction.

    Returns the names applied. Safe to run from several instances at once (an advisory
    lock serialises them) and as often as wanted (applied ones are skipped). A recorded
    migration whose file changed is refused rather than silently re-run.
    """
    migrations = load_migrations(sql_dir)
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS bridge_schema_migrations (
                version     TEXT PRIMARY KEY,
                name        TEXT NOT NULL,
                checksum    TEXT NOT NULL,
                applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """
        )
        rows = await conn.fetch("SELECT version, checksum FROM bridge_schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        done = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    log.warning(
                        "migration changed after it was applied name=%s (not re-run)",
                        migration.name,
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO bridge_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration applied name=%s", migration.name)
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)


async def pending(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    exists = await conn.fetchval("SELECT to_regclass('bridge_schema_migrations') IS NOT NULL")
    applied: set[str] = set()
    if exists:
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM bridge_schema_migrations")}
    return [m.name for m in load_migrations(sql_dir) if m.version not in applied]


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool does to a connection on release, beyond rolling back an open transaction.

    asyncpg's default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release: one more round trip that every directory read waits for
    (its callers are answered after the release). Nothing here leaves session state on a
    pooled connection (no SET, LISTEN, session advisory lock or cursor outside a
    transaction: the LISTEN and the migration lock have connections of their own), so
    there is nothing to reset. asyncpg still rolls back a transaction left open.
    """


class Database:
    """The pool plus the one rule for request paths: bounded time, one error type."""

    def __init__(self, pool: asyncpg.Pool, config: DatabaseConfig) -> None:
        self.pool = pool
        self.config = config
        # Called with the seconds each pool acquire waited (the metrics histogram).
        self.on_acquire: Callable[[float], None] | None = None
        self._held: list[HeldConnections] = []
        # Connections handed out by acquire/fetch*/execute*, for ``stopping`` to cut.
        self._in_use: set[asyncpg.Connection] = set()
        self._close_by: float | None = None  # loop time by which close() must be done

    @classmethod
    async def connect(cls, dsn: str, config: DatabaseConfig) -> Database:
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=config.pool_min,
                max_size=config.pool_max,
                init=_init_connection,
                reset=_keep_session,
                # Fail a connection attempt quickly: the caller retries or degrades.
                timeout=config.connect_timeout,
                command_timeout=None,
            )
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        return cls(pool, config)

    def stopping(self, drain: float, total: float) -> None:
        """Shutdown began: statements still running ``drain`` seconds from now have their
        connections closed (PostgreSQL rolls their transactions back whole: a write is
        committed whole or not at all), and ``close`` is done ``total`` seconds from now."""
        loop = asyncio.get_running_loop()
        self._close_by = loop.time() + total
        loop.call_later(drain, self._cut)

    def _cut(self) -> None:
        for conn in list(self._in_use):
            conn.terminate()

    async def close(self) -> None:
        for held in self._held:
            await held.close()  # else pool.close() would wait for them
        loop = asyncio.get_running_loop()
        within = 5.0 if self._close_by is None else max(self._close_by - loop.time(), 0.1)
        try:
            # A stalled server never answers the goodbye of each connection: then terminate.
            await asyncio.wait_for(self.pool.close(), timeout=within)
        except TimeoutError:
            self.pool.terminate()

    @asynccontextmanager
    async def acquire(self, timeout: float | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for at most ``timeout`` seconds (query_timeout by default),
        acquire included: the caller bounds its block with ``asyncio.timeout`` of the same
        limit, and the connection is closed if it is still held past it (``_timed_acquire``)."""
        limit = self.config.query_timeout if timeout is None else timeout
        try:
            async with self._timed_acquire(limit) as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def _timed_acquire(self, limit: float) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, closed if it is still held ``limit`` seconds (plus a grace)
        after the acquire began. The caller's own timeout cancels its statement at ``limit``;
        but then asyncpg sends a cancel request, a transaction block sends ROLLBACK and the
        pool resets the connection, each waiting on a server that may be stalled (SIGSTOP,
        a frozen VM, a dead network path): a closed connection fails them all at once. The
        server rolls back whatever transaction was open: a write is committed whole or not
        at all (issue 21 item 8)."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        deadline = loop.time() + limit + _CLOSE_GRACE
        async with self.pool.acquire(timeout=limit) as conn:
            if self.on_acquire is not None:
                self.on_acquire(time.perf_counter() - started)
            watchdog = loop.call_at(deadline, conn.terminate)
            self._in_use.add(conn)
            try:
                yield conn
            except (asyncio.CancelledError, TimeoutError):
                # Cut short mid-statement: the pool's release would wait (up to the limit
                # again) for asyncpg's cancel request, which a stalled server never answers.
                conn.terminate()
                raise
            finally:
                watchdog.cancel()
                self._in_use.discard(conn)

    async def _bounded(self, timeout: float | None, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``work`` on a pooled connection, acquire included, within the query timeout: the
        one rule of request paths (DatabaseUnavailable, never a hang)."""
        limit = self.config.query_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                async with self._timed_acquire(limit) as conn:
                    return await work(conn)
        except CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}") from exc

    def held(self, most: int) -> HeldConnections:
        """Connections kept out of the pool between statements (see ``HeldConnections``)."""
        held = HeldConnections(self, most)
        self._held.append(held)
        return held

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._bounded(timeout, lambda conn: conn.fetch(query, *args))
        return rows

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> asyncpg.Record | None:
        rows = await self.fetch(query, *args, timeout=timeout)
        return rows[0] if rows else None

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        row = await self.fetchrow(query, *args, timeout=timeout)
        return None if row is None else row[0]

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        status: str = await self._bounded(timeout, lambda conn: conn.execute(query, *args))
        return status

    async def executemany(
        self, query: str, args: Sequence[Sequence[Any]], timeout: float | None = None
    ) -> None:
        await self._bounded(timeout, lambda conn: conn.executemany(query, args))


class HeldConnections:
    """Up to ``most`` pool connections kept between statements, for one hot read path.

    A pooled read pays for the pool on every statement: asyncpg's acquire (its own
    timeout, a queue) and release (a task under ``asyncio.shield``), about as much CPU
    as the statement itself (bench/freeswitch_shaped.py, cold lookups). The directory's
    misses instead take a connection from here: one kept since the previous statement
    when there is one, else one from the pool. A statement that succeeds puts its
    connection back here; one that fails in any way (outage, timeout, cancellation)
    hands it back to the pool, which closes or resets it. ``close()`` returns them all
    before the pool closes (``Database.close()`` calls it too). Held connections count as busy
    in the pool's metrics.
    """

    def __init__(self, db: Database, most: int) -> None:
        self._db = db
        self._most = max(1, most)
        self._idle: list[asyncpg.Connection] = []
        self._closed = False

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """``query`` within ``database.query_timeout``, acquire included; DatabaseUnavailable otherwise."""
        if self._closed:
            raise DatabaseUnavailable("database closed")
        pool = self._db.pool
        conn: asyncpg.Connection | None = None
        try:
            async with asyncio.timeout(self._db.config.query_timeout):
                if self._idle:
                    conn = self._idle.pop()
                else:
                    started = time.perf_counter()
                    conn = await pool.acquire()
                    if self._db.on_acquire is not None:
                        self._db.on_acquire(time.perf_counter() - started)
                rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        except BaseException as exc:
            if conn is not None:
                if isinstance(exc, TimeoutError | asyncio.CancelledError):
                    conn.terminate()  # as Database._timed_acquire: never wait on a stalled server
                await _give_back(pool, conn)
            if isinstance(exc, CONNECTION_ERRORS):
                raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}") from exc
            raise
        if self._closed or len(self._idle) >= self._most:
            await _give_back(pool, conn)
        else:
            self._idle.append(conn)
        return rows

    async def close(self) -> None:
        """Hand every held connection back to the pool (call before the pool closes)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await _give_back(self._db.pool, conn)


async def _give_back(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    try:
        # Shielded (a cancelled caller still returns what it took); bounded (a dead server).
        await asyncio.shield(asyncio.wait_for(pool.release(conn), timeout=5))
    except Exception:
        conn.terminate()
