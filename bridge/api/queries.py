"""The admin API's reads of ``extensions`` and ``users``.

Status filters are answered in memory (catalog.Listing against the presence's online set,
the catalog kept by catalog_store.py): PostgreSQL only checks, in the same statement that
reads the page's rows, that no write to ``extensions`` committed since the catalog was read
(sql/021_extension_changes.sql). With a ``name`` filter the candidates come from SQL
instead (``ILIKE`` keeps PostgreSQL's case rules), read in the same REPEATABLE READ
transaction as the page. Client text only ever travels as a bound parameter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from bridge.api.catalog import Catalog, Listing
from bridge.api.catalog_store import CHANGED_SINCE, CatalogStore
from bridge.db import Database

_PAGE = f"""
SELECT {CHANGED_SINCE} AS stale, e.*
FROM (SELECT 1) one LEFT JOIN extensions e ON e.id = ANY($2::int[]) AND e.deleted_at IS NULL
ORDER BY e.id
"""
_ROWS = "SELECT e.* FROM extensions e WHERE e.id = ANY($1::int[]) AND e.deleted_at IS NULL ORDER BY e.id"

# A listing -> (how many match, the ids of the page asked for).
Pick = Callable[[Listing], tuple[int, list[int]]]


async def catalog_page(
    store: CatalogStore, db: Database, scope: str | None, pick: Pick
) -> tuple[int, list[asyncpg.Record]]:
    """``pick`` over the catalog's listing of ``scope``, and the page's rows, read in the one
    statement that also proves the catalog current (else reload and pick again)."""
    catalog = await store.current(scope, check=False)
    for _ in range(3):
        count, ids = pick(catalog.scope(scope))
        rows = await page_rows(db, catalog, ids)
        if rows is not None:
            return count, rows
        catalog = await store.reload(scope, stale=catalog)
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
