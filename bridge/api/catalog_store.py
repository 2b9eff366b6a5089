"""The admin API's catalog of live extensions: each scope read when first asked, then kept
current by re-reading only the extensions changed since (sql/021, sql/085).

A domain administrator's request reads that domain's rows (``extensions.domain`` equal, as
in SQL), a global administrator's every row; a scope is read once per process. After a
write, the next request that finds the catalog stale (one index probe) reads the ids the
change log names for the transactions committed since its snapshot, and those rows, in one
REPEATABLE READ snapshot, and patches every scope it holds: a few rows read, whatever the
number of extensions. Everything is read again only after a TRUNCATE, when the log was
pruned past the snapshot, or when more than FULL_ABOVE ids changed (a bulk import).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass

import asyncpg

from bridge.api.catalog import Catalog, Listing, Rows, parse_copy
from bridge.db import Database
from bridge.errors import DatabaseUnavailable
from bridge.metrics import Metrics

log = logging.getLogger(__name__)

# More changed ids than this since the snapshot (a bulk import): read the scopes again,
# one COPY each, rather than every changed row by id.
FULL_ABOVE = 50_000

# The change logs are pruned (rows older than a day) at most this often per process.
PRUNE_EVERY = 600.0

# A write to extensions committed that ``$1`` (a pg_snapshot) does not see.
CHANGED_SINCE = """
EXISTS (SELECT 1 FROM bridge_extension_changes c
        WHERE c.xid >= pg_snapshot_xmin($1::text::pg_snapshot)
          AND NOT pg_visible_in_snapshot(c.xid, $1::text::pg_snapshot))
"""
_SINCE = (
    "xid >= pg_snapshot_xmin($1::text::pg_snapshot)"
    " AND NOT pg_visible_in_snapshot(xid, $1::text::pg_snapshot)"
)
# The ids logged since $1 (at most $2), and whether they are not the whole story: a
# TRUNCATE, or a row it needs pruned. The ids by their transactions' xids (equality on the
# primary key's first column): a range over xid would scan a bulk import's million rows.
_CHANGED_IDS = f"""
SELECT coalesce((SELECT bool_or(truncated) FROM bridge_extension_changes WHERE {_SINCE}), false)
    OR coalesce((SELECT below >= pg_snapshot_xmin($1::text::pg_snapshot)
                 FROM bridge_extension_changes_pruned), false) AS incomplete,
       ARRAY(SELECT DISTINCT id FROM bridge_extension_changed_ids
             WHERE xid = ANY(ARRAY(SELECT xid FROM bridge_extension_changes WHERE {_SINCE}))
             LIMIT $2) AS ids
"""
_FRESH = (
    "SELECT id, extn, domain FROM extensions WHERE id = ANY($1::int[]) AND deleted_at IS NULL ORDER BY id"
)
_EVERY = "SELECT id, extn, domain FROM extensions WHERE deleted_at IS NULL ORDER BY id"
_OF_DOMAIN = "SELECT id, extn, domain FROM extensions WHERE deleted_at IS NULL AND domain = $1 ORDER BY id"
# One statement, so the watermark and the deletions commit together (sql/085's header).
# ORDER BY, not max(): PostgreSQL 13 has no max(xid8).
_PRUNE = """
WITH gone AS (DELETE FROM bridge_extension_changes WHERE changed_at < now() - interval '1 day' RETURNING xid),
     ids AS (DELETE FROM bridge_extension_changed_ids WHERE xid = ANY(ARRAY(SELECT xid FROM gone)))
INSERT INTO bridge_extension_changes_pruned (below)
SELECT xid FROM gone ORDER BY xid DESC LIMIT 1
ON CONFLICT (one) DO UPDATE SET below = greatest(bridge_extension_changes_pruned.below, excluded.below)
"""


@dataclass(frozen=True, slots=True)
class _Read:
    """What one reload read, in one snapshot: the changes since the catalog's (None: none
    held, or every scope read again: ``whole``) and the scopes read whole."""

    snapshot: str
    changes: tuple[list[int], Rows] | None
    scopes: dict[str | None, bytes]
    whole: bool


class CatalogStore:
    """The current Catalog of one app, one reload at a time."""

    def __init__(self, db: Database, metrics: Metrics) -> None:
        self._db = db
        self._metrics = metrics
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()
        self._pruned_at: float | None = None

    async def current(self, scope: str | None, *, check: bool = True) -> Catalog:
        """The catalog holding ``scope``; ``check=False`` when the caller proves it current
        itself (queries.page_rows)."""
        catalog = self._catalog
        if catalog is None or scope not in catalog.scopes:
            return await self.reload(scope)
        if check and await self._stale(catalog):
            return await self.reload(scope, stale=catalog)
        return catalog

    async def reload(self, scope: str | None, *, stale: Catalog | None = None) -> Catalog:
        """A catalog holding ``scope`` and every write committed before this call (``stale``:
        the one the caller found stale). Requests that wait here while another reloads take
        its result if it is still current (single flight: N requests during a reload make
        one more at most)."""
        asked = time.monotonic()
        async with self._lock:
            current = self._catalog
            if (
                current is not None
                and current is not stale
                and scope in current.scopes
                and await self._still_good(current, asked)
            ):
                return current
            limit = self._db.config.connect_timeout
            loaded_at = time.monotonic()
            try:
                async with asyncio.timeout(limit):
                    read = await self._read(current, scope, limit)
            except TimeoutError as exc:
                raise DatabaseUnavailable(f"extension catalog not read within {limit} s") from exc
            # Parsing and building: pure Python, ~60 ms a 100,000 rows; in a thread, so the event
            # loop (and the directory lookups FreeSWITCH is waiting on) gets the GIL every switch interval.
            catalog = await asyncio.to_thread(_build, current, read, loaded_at)
            self._catalog = catalog
            self._count(read)
            log.debug(
                "extension catalog read scopes=%d changed=%s ms=%.1f",
                len(read.scopes),
                "all" if read.changes is None else len(read.changes[0]),
                (time.monotonic() - loaded_at) * 1e3,
            )
            return catalog

    async def _read(self, current: Catalog | None, scope: str | None, limit: float) -> _Read:
        async with self._db.acquire(timeout=limit) as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snapshot: str = await conn.fetchval("SELECT pg_current_snapshot()::text")
                changes = None if current is None else await _changes(conn, current.snapshot)
                wanted = {scope} if current is None else {*current.scopes, scope}
                if changes is not None and current is not None:
                    wanted -= current.scopes.keys()
                scopes = {domain: await _copy(conn, domain) for domain in wanted}
            if self._pruned_at is None or time.monotonic() - self._pruned_at > PRUNE_EVERY:
                await conn.execute(_PRUNE)
                self._pruned_at = time.monotonic()
        return _Read(snapshot, changes, scopes, whole=current is not None and changes is None)

    async def _still_good(self, catalog: Catalog, asked: float) -> bool:
        """Read after ``asked`` (another request's reload), or nothing written since."""
        return catalog.loaded_at >= asked or not await self._stale(catalog)

    async def _stale(self, catalog: Catalog) -> bool:
        stale: bool = await self._db.fetchval(f"SELECT {CHANGED_SINCE}", catalog.snapshot)
        return stale

    def _count(self, read: _Read) -> None:
        reloads, rows = self._metrics.api_catalog_reloads, self._metrics.api_catalog_rows
        if read.changes is not None:
            reloads.labels("changes").inc()
            rows.labels("changes").inc(len(read.changes[1]))
        kind = "whole" if read.whole else "scope"
        for data in read.scopes.values():
            reloads.labels(kind).inc()
            rows.labels(kind).inc(data.count(b"\n"))


async def _changes(conn: asyncpg.Connection, snapshot: str) -> tuple[list[int], Rows] | None:
    """The ids changed since ``snapshot`` and their live rows now, or None when the log
    cannot tell (TRUNCATE, pruned) or names more than FULL_ABOVE."""
    logged = await conn.fetchrow(_CHANGED_IDS, snapshot, FULL_ABOVE + 1)
    ids: list[int] = logged["ids"]
    if logged["incomplete"] or len(ids) > FULL_ABOVE:
        return None
    fresh = await conn.fetch(_FRESH, ids) if ids else []
    return ids, [(row["id"], row["extn"], row["domain"]) for row in fresh]


async def _copy(conn: asyncpg.Connection, domain: str | None) -> bytes:
    buffer = io.BytesIO()
    if domain is None:
        await conn.copy_from_query(_EVERY, output=buffer)
    else:
        await conn.copy_from_query(_OF_DOMAIN, domain, output=buffer)
    return buffer.getvalue()


def _build(current: Catalog | None, read: _Read, loaded_at: float) -> Catalog:
    scopes: dict[str | None, Listing] = {}
    if current is not None and read.changes is not None:
        scopes = current.patched(read.snapshot, loaded_at, *read.changes).scopes
    for domain, data in read.scopes.items():
        scopes[domain] = Listing.of_columns(*parse_copy(data))
    return Catalog(snapshot=read.snapshot, loaded_at=loaded_at, scopes=scopes)
