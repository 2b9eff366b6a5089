"""The admin API's reads of ``extensions`` and ``users``, and the in-memory catalog's loads.

Status filters are answered in memory (catalog.Listing against the presence's online set):
PostgreSQL only checks, in the same statement that reads the page's rows, that no write to
``extensions`` committed since the catalog was read (sql/021_extension_changes.sql). With a
``name`` filter the candidates come from SQL instead (``ILIKE`` keeps PostgreSQL's case
rules), read in the same REPEATABLE READ transaction as the page. Client text only ever
travels as a bound parameter.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable

import asyncpg

from bridge.api.catalog import Catalog, Listing, parse_copy
from bridge.db import Database

log = logging.getLogger(__name__)

# A catalog is reloaded at least this often (seconds), whatever the change log says: it
# bounds what a pruned log row could hide (see _PRUNE).
MAX_CATALOG_AGE = 3600.0

_LIVE = "SELECT id, extn, domain FROM extensions WHERE deleted_at IS NULL ORDER BY id"
_CHANGED_SINCE = """
EXISTS (SELECT 1 FROM bridge_extension_changes c
        WHERE c.xid >= pg_snapshot_xmin($1::text::pg_snapshot)
          AND NOT pg_visible_in_snapshot(c.xid, $1::text::pg_snapshot))
"""
_PRUNE = "DELETE FROM bridge_extension_changes WHERE changed_at < now() - interval '1 day'"
_PAGE = f"""
SELECT {_CHANGED_SINCE} AS stale, e.*
FROM (SELECT 1) one LEFT JOIN extensions e ON e.id = ANY($2::int[]) AND e.deleted_at IS NULL
ORDER BY e.id
"""
_ROWS = "SELECT e.* FROM extensions e WHERE e.id = ANY($1::int[]) AND e.deleted_at IS NULL ORDER BY e.id"


class CatalogStore:
    """The current Catalog of one app: loaded on first use, reloaded when PostgreSQL says a
    write committed since (one index probe per request) or when it is an hour old."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()

    async def current(self, *, check: bool = True) -> Catalog:
        """The catalog; ``check=False`` when the caller checks staleness itself (page_rows)."""
        catalog = self._catalog
        if catalog is None or time.monotonic() - catalog.loaded_at > MAX_CATALOG_AGE:
            return await self.reload(catalog)
        if check and await self._db.fetchval(f"SELECT {_CHANGED_SINCE}", catalog.snapshot):
            return await self.reload(catalog)
        return catalog

    async def reload(self, seen: Catalog | None) -> Catalog:
        async with self._lock:
            if self._catalog is not None and self._catalog is not seen:
                return self._catalog  # another request reloaded meanwhile
            limit = self._db.config.connect_timeout
            started = time.monotonic()
            async with asyncio.timeout(limit), self._db.acquire(timeout=limit) as conn:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    snapshot: str = await conn.fetchval("SELECT pg_current_snapshot()::text")
                    buffer = io.BytesIO()
                    await conn.copy_from_query(_LIVE, output=buffer)
                await conn.execute(_PRUNE)
            # ~60 ms of pure Python at 100,000 rows: in a thread, so the event loop (and the
            # directory lookups FreeSWITCH is waiting on) gets the GIL every switch interval.
            self._catalog = await asyncio.to_thread(_build, snapshot, buffer.getvalue())
            elapsed = (time.monotonic() - started) * 1e3
            log.debug("extension catalog loaded rows=%d ms=%.1f", len(self._catalog.everything), elapsed)
            return self._catalog


def _build(snapshot: str, data: bytes) -> Catalog:
    return Catalog.build(snapshot, time.monotonic(), *parse_copy(data))


# A listing -> (how many match, the ids of the page asked for).
Pick = Callable[[Listing], tuple[int, list[int]]]


async def catalog_page(
    store: CatalogStore, db: Database, scope: str | None, pick: Pick
) -> tuple[int, list[asyncpg.Record]]:
    """``pick`` over the catalog's listing of ``scope``, and the page's rows, read in the one
    statement that also proves the catalog current (else reload and pick again)."""
    catalog = await store.current(check=False)
    for _ in range(3):
        count, ids = pick(catalog.scope(scope))
        rows = await page_rows(db, catalog, ids)
        if rows is not None:
            return count, rows
        catalog = await store.reload(catalog)
    # Writes landed between every reload and read (a bulk import): answer the last listing.
    count, ids = pick(catalog.scope(scope))
    return count, await db.fetch(_ROWS, ids) if ids else []


async def page_rows(db: Database, catalog: Catalog, ids: list[int]) -> list[asyncpg.Record] | None:
    """The rows of ``ids`` in id order, or None when ``catalog`` is stale (reload, select again)."""
    rows = await db.fetch(_PAGE, catalog.snapshot, ids)
    if rows and rows[0]["stale"]:
        return None
    return [row for row in rows if row["id"] is not None]


async def named_page(
    db: Database, domain: str | None, extn: str | None, name: str, pick: Pick
) -> tuple[int, list[asyncpg.Record]]:
    """Candidates matching ``name`` (and domain, extn) in SQL, then ``pick(listing) -> (count,
    ids)`` in Python, then those rows, in one REPEATABLE READ snapshot."""
    args: list[object]
    clauses, args = ["deleted_at IS NULL", "name ILIKE $1 ESCAPE '\\'"], [_contains(name)]
    if domain is not None:
        args.append(domain)
        clauses.append(f"domain = ${len(args)}")
    if extn is not None:
        args.append(extn)
        clauses.append(f"extn = ${len(args)}")
    query = f"SELECT id, extn, domain FROM extensions WHERE {' AND '.join(clauses)} ORDER BY id"
    limit = db.config.query_timeout
    async with (
        asyncio.timeout(limit),
        db.acquire(timeout=limit) as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        listing = Listing.of(await conn.fetch(query, *args))
        count, ids = pick(listing)
        rows: list[asyncpg.Record] = await conn.fetch(_ROWS, ids) if ids else []
    return count, rows


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def extension_by_id(db: Database, ext_id: int, domain: str | None) -> asyncpg.Record | None:
    return await db.fetchrow(
        """
        SELECT e.*, u.login FROM extensions e LEFT JOIN users u ON u.id = e.user_id
        WHERE e.id = $1 AND e.deleted_at IS NULL AND ($2::text IS NULL OR e.domain = $2)
        """,
        ext_id,
        domain,
    )


async def extension_with_user(
    db: Database, extn: str, domain: str | None
) -> tuple[asyncpg.Record, asyncpg.Record | None] | None:
    """The live extension ``extn`` in scope (lowest id first across domains) and its owner."""
    ext = await db.fetchrow(
        "SELECT e.id, e.extn, e.domain, e.ha1, e.ha1b, e.user_id FROM extensions e"
        " WHERE e.extn = $1 AND e.deleted_at IS NULL AND ($2::text IS NULL OR e.domain = $2)"
        " ORDER BY e.id LIMIT 1",
        extn,
        domain,
    )
    if ext is None:
        return None
    user = await db.fetchrow("SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL", ext["user_id"])
    return ext, user
