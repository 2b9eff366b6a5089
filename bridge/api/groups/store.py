"""The XUI group tables as the group endpoints read and write them (sql/070_xui_groups.sql).

Every function takes a connection or the pool; writes run inside the caller's transaction.
``realm`` None means every realm (a super user).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from bridge.db import Database

USERS, EXTENSIONS = 0, 1  # groups.group_type: the document's "All Users" 0, "All Extensions" 1

_LIVE = "deleted_at IS NULL AND ($1::text IS NULL OR realm = $1)"


async def visible(db: Database, realm: str | None, group_type: int | None = None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        f"SELECT * FROM groups WHERE {_LIVE} AND ($2::int IS NULL OR group_type = $2) ORDER BY id",
        realm,
        group_type,
    )
    return rows


async def one(db: Database | asyncpg.Connection, group_id: int, realm: str | None, lock: bool = False) -> Any:
    return await db.fetchrow(
        f"SELECT * FROM groups WHERE {_LIVE} AND id = $2{' FOR UPDATE' if lock else ''}", realm, group_id
    )


async def subtree(conn: Database | asyncpg.Connection, group_id: int) -> list[int]:
    """The group and every live group below it."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE sub(id) AS (
            SELECT id FROM groups WHERE id = $1
            UNION
            SELECT g.id FROM groups g JOIN sub ON g.group_id = sub.id::text WHERE g.deleted_at IS NULL
        )
        SELECT id FROM sub
        """,
        group_id,
    )
    return [int(row["id"]) for row in rows]


async def name_taken(conn: asyncpg.Connection, realm: str | None, name: str, but: int = 0) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM groups WHERE deleted_at IS NULL AND realm IS NOT DISTINCT FROM $1 AND name = $2"
        " AND id <> $3",
        realm,
        name,
        but,
    )
    return found is not None


async def insert(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    columns = ", ".join(values)
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO groups ({columns}) VALUES ({marks}) RETURNING *", *values.values()
    )
    assert row is not None
    return row


async def update(conn: asyncpg.Connection, group_id: int, values: dict[str, Any]) -> None:
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(values, 2))
    await conn.execute(
        f"UPDATE groups SET {sets}{', ' if sets else ''}updated_at = now() WHERE id = $1",
        group_id,
        *values.values(),
    )


async def relevel(conn: asyncpg.Connection, group_id: int, level: int) -> None:
    """The group at ``level`` and each subgroup one deeper than its parent."""
    await conn.execute(
        """
        WITH RECURSIVE sub(id, level) AS (
            SELECT id, $2::int FROM groups WHERE id = $1
            UNION
            SELECT g.id, sub.level + 1 FROM groups g JOIN sub ON g.group_id = sub.id::text
            WHERE g.deleted_at IS NULL AND sub.level < 1000
        )
        UPDATE groups SET level = sub.level FROM sub
        WHERE groups.id = sub.id AND groups.level IS DISTINCT FROM sub.level
        """,
        group_id,
        level,
    )


async def delete(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Soft-delete the groups (XUI's delete) and drop their memberships: no member row
    points at a deleted group, and the directory hears the change (sql/070 triggers)."""
    await conn.execute("DELETE FROM group_members WHERE group_id = ANY($1::int[])", list(ids))
    await conn.execute("DELETE FROM group_extns WHERE group_id = ANY($1::int[])", list(ids))
    await conn.execute(
        "UPDATE groups SET deleted_at = now(), updated_at = now() WHERE id = ANY($1::int[])", list(ids)
    )


def member_table(group_type: int) -> tuple[str, str]:
    """(table, member column) of a group's members by its type."""
    return ("group_extns", "extn_id") if group_type == EXTENSIONS else ("group_members", "user_id")


async def next_sort(conn: asyncpg.Connection, group_type: int, group_id: int) -> int:
    table, _ = member_table(group_type)
    value = await conn.fetchval(
        f"SELECT coalesce(max(sort), 0) + 1 FROM {table} WHERE group_id = $1", group_id
    )
    return int(value)


async def add_member(
    conn: asyncpg.Connection, group_type: int, group_id: int, member: int, sort: int
) -> int:
    """Add, or set the sort of a member already there; the membership's id."""
    table, column = member_table(group_type)
    row_id = await conn.fetchval(
        f"INSERT INTO {table} (group_id, {column}, sort) VALUES ($1, $2, $3)"
        f" ON CONFLICT (group_id, {column}) DO UPDATE SET sort = EXCLUDED.sort RETURNING id",
        group_id,
        member,
        sort,
    )
    return int(row_id)


async def membership(
    conn: asyncpg.Connection, group_type: int, group_id: int, row_id: int
) -> asyncpg.Record | None:
    """The membership row ``row_id`` of the group (its ``id`` in GET .../members), locked."""
    table, column = member_table(group_type)
    return await conn.fetchrow(
        f"SELECT id, {column} AS member FROM {table} WHERE group_id = $1 AND id = $2 FOR UPDATE",
        group_id,
        row_id,
    )


async def set_sort(conn: asyncpg.Connection, group_type: int, row_id: int, sort: int) -> None:
    table, _ = member_table(group_type)
    await conn.execute(f"UPDATE {table} SET sort = $2 WHERE id = $1", row_id, sort)


async def remove_members(
    conn: asyncpg.Connection, group_type: int, group_id: int, member: int | None = None
) -> int:
    table, column = member_table(group_type)
    rows = await conn.fetch(
        f"DELETE FROM {table} WHERE group_id = $1 AND ($2::int IS NULL OR {column} = $2) RETURNING 1",
        group_id,
        member,
    )
    return len(rows)


async def user_members(db: Database, group_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT m.id, m.group_id, m.user_id, u.domain, m.sort, u.name, u.extn FROM group_members m"
        " JOIN users u ON u.id = m.user_id AND u.deleted_at IS NULL WHERE m.group_id = $1"
        " ORDER BY m.sort, u.id",
        group_id,
    )
    return rows


async def extension_members(db: Database, group_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT m.id, m.group_id, m.extn_id, e.domain, m.sort, e.name, e.extn FROM group_extns m"
        " JOIN extensions e ON e.id = m.extn_id AND e.deleted_at IS NULL WHERE m.group_id = $1"
        " ORDER BY m.sort, e.id",
        group_id,
    )
    return rows


async def live_member(conn: asyncpg.Connection, group_type: int, member: int) -> asyncpg.Record | None:
    """The live user (user group) or extension (extension group) ``member``: id, domain, name, extn."""
    table = "extensions" if group_type == EXTENSIONS else "users"
    return await conn.fetchrow(
        f"SELECT id, domain, name, extn FROM {table} WHERE id = $1 AND deleted_at IS NULL FOR SHARE", member
    )
