"""The admin API's reads of ``extensions`` and ``users``.

Filters are fixed SQL fragments chosen in Python; client text only ever travels as a
bound parameter. The online filter takes the whole online set as one array parameter, joined as a
(anti-)semi-join on ``extn || '@' || lower(domain)``, so it is one query however many are
online: a hash join, where ``= ANY($n)`` under a generic plan is a linear scan per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bridge.api.shapes import Page, Status
from bridge.db import Database

_KEY = "(e.extn || '@' || lower(e.domain))"  # presence.key
_IN_ONLINE = "EXISTS (SELECT 1 FROM unnest({array}::text[]) o(k) WHERE o.k = " + _KEY + ")"


@dataclass(slots=True)
class ExtensionFilter:
    domain: str | None = None  # None: every domain (super user)
    extn: str | None = None  # exact
    name: str | None = None  # case-insensitive substring
    # Which status is wanted, and the online set it is judged against.
    status: Status | None = None
    online: Sequence[str] = ()
    absent: Status = "offline"
    _args: list[Any] = field(default_factory=list)

    def where(self) -> str:
        self._args = []
        clauses = ["e.deleted_at IS NULL"]
        if self.domain is not None:
            clauses.append(f"e.domain = {self._bind(self.domain)}")
        if self.extn is not None:
            clauses.append(f"e.extn = {self._bind(self.extn)}")
        if self.name is not None:
            clauses.append(f"e.name ILIKE {self._bind(_contains(self.name))} ESCAPE '\\'")
        if self.status == "online":
            clauses.append(_IN_ONLINE.format(array=self._bind(list(self.online))))
        elif self.status == self.absent:
            clauses.append("NOT " + _IN_ONLINE.format(array=self._bind(list(self.online))))
        elif self.status is not None:
            clauses.append("false")  # e.g. "offline" while every absent one is "unknown"
        return " AND ".join(clauses)

    @property
    def args(self) -> list[Any]:
        return self._args

    def _bind(self, value: Any) -> str:
        self._args.append(value)
        return f"${len(self._args)}"


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def extension_page(
    db: Database, where: ExtensionFilter, page: Page
) -> tuple[int, list[asyncpg.Record]]:
    """(rows matching, the rows of this page ordered by id)."""
    condition = where.where()
    args = where.args
    limit, offset = len(args) + 1, len(args) + 2
    query = f"""
    WITH matched AS MATERIALIZED (SELECT e.id FROM extensions e WHERE {condition}),
         paged AS (SELECT id FROM matched ORDER BY id LIMIT ${limit} OFFSET ${offset})
    SELECT (SELECT count(*) FROM matched) AS row_count, e.*
    FROM (SELECT 1) one
    LEFT JOIN (extensions e JOIN paged p ON p.id = e.id) ON true
    ORDER BY e.id
    """
    rows = await db.fetch(query, *args, page.size, page.offset)
    row_count = int(rows[0]["row_count"]) if rows else 0
    return row_count, [row for row in rows if row["id"] is not None]


async def extension_by_id(db: Database, ext_id: int, domain: str | None) -> asyncpg.Record | None:
    return await db.fetchrow(
        """
        SELECT e.*, u.login FROM extensions e LEFT JOIN users u ON u.id = e.user_id
        WHERE e.id = $1 AND e.deleted_at IS NULL AND ($2::text IS NULL OR e.domain = $2)
        """,
        ext_id,
        domain,
    )


async def extension_keys(db: Database, domain: str | None) -> list[asyncpg.Record]:
    """(extn, domain) of every live extension in scope, in id order."""
    return await db.fetch(
        "SELECT e.extn, e.domain FROM extensions e"
        " WHERE e.deleted_at IS NULL AND ($1::text IS NULL OR e.domain = $1) ORDER BY e.id",
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
