"""The admin API's reads of ``users`` for provisioning: pages with filters, one user, its extensions.

A user object carries the hashes of its default extension: ``users.extn_id`` when set, else
its live extension numbered ``users.extn`` (XUI fills one or the other).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from bridge.db import Database

_DEFAULT_EXTENSION = """
LEFT JOIN LATERAL (
    SELECT e.ha1, e.ha1b FROM extensions e
    WHERE e.user_id = u.id AND e.deleted_at IS NULL AND (e.id = u.extn_id OR e.extn = u.extn)
    ORDER BY (e.id = u.extn_id) DESC, e.id LIMIT 1
) d ON true
"""


@dataclass(frozen=True, slots=True)
class UserFilter:
    """GET /api/users: login and name as case-insensitive substrings, type exact."""

    domain: str | None
    login: str | None = None
    name: str | None = None
    type: str | None = None

    def where(self) -> tuple[str, list[object]]:
        clauses, args = ["u.deleted_at IS NULL"], list[object]()
        for column, value, exact in (
            ("u.domain", self.domain, True),
            ("u.login", self.login, False),
            ("u.name", self.name, False),
            ("u.type", self.type, True),
        ):
            if value is None:
                continue
            args.append(value if exact else _contains(value))
            clauses.append(
                f"{column} = ${len(args)}" if exact else f"{column} ILIKE ${len(args)} ESCAPE '\\'"
            )
        return " AND ".join(clauses), args


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def user_page(
    db: Database, where: UserFilter, offset: int, size: int
) -> tuple[int, list[asyncpg.Record]]:
    clause, args = where.where()
    total: int = await db.fetchval(f"SELECT count(*) FROM users u WHERE {clause}", *args)
    rows = await db.fetch(
        f"SELECT u.*, d.ha1, d.ha1b FROM users u {_DEFAULT_EXTENSION} WHERE {clause}"
        f" ORDER BY u.id LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        size,
        offset,
    )
    return total, rows


async def user_by_id(db: Database, user_id: int, domain: str | None) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT u.*, d.ha1, d.ha1b FROM users u {_DEFAULT_EXTENSION}"
        " WHERE u.id = $1 AND u.deleted_at IS NULL AND ($2::text IS NULL OR u.domain = $2)",
        user_id,
        domain,
    )


async def extensions_of(db: Database, user_id: int, domain: str | None) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM extensions WHERE user_id = $1 AND deleted_at IS NULL"
        " AND ($2::text IS NULL OR domain = $2) ORDER BY id",
        user_id,
        domain,
    )
