"""The provisioning writes to ``users`` and ``extensions``: one transaction per request.

Bulk rows travel as one array per column through ``unnest`` (one statement and one round
trip for 10,000 rows, not one each). Uniqueness of a live (domain, extn) and of a live
login is the database's (sql/060_provisioning_keys.sql); bridge's writers also take a
transaction advisory lock per domain (and one for logins) before they look, so two bridge
requests never race each other into a duplicate even where the index could not be built.
Every write fires the NOTIFY triggers of sql/030 and sql/021: the directory caches, the
FreeSWITCH nodes and the API catalogs of every instance hear of it when it commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bridge.api.validate import USER_INT_RANGES, Invalid
from bridge.db import Database
from bridge.errors import DatabaseUnavailable, RequestError
from bridge.xui import columns

# pg_advisory_xact_lock(key1, key2): key1 says whose lock it is, key2 which one.
_LOCK_EXTENSIONS = 0x7072_6F76  # "prov"
_LOCK_LOGINS = 0x7072_6F77

# Array types of the columns bulk inserts send through unnest (others: text).
_ARRAY_TYPES: Mapping[str, str] = {
    "user_id": "int4",
    "extn_id": "int4",
    "sha1": "bytea",
    "boss_extn": "bool",
    "agent_info": "jsonb",
    **{column: "int4" for column in USER_INT_RANGES},
    # By the SQL kind of the column table (enable_cb_onbusy is VARCHAR though answered as a number).
    **{c.name: "int4" for c in columns.EXTENSION_COLUMNS if c.sql == "int"},
}


class Conflict(RequestError):
    """The row exists already (409), e.g. ``row 1002: extn exists in domain xswitch.cn``."""

    status = 409
    code = "conflict"


@asynccontextmanager
async def transaction(db: Database, timeout: float) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction that commits when the block ends, bounded in time;
    database refusals a client caused come out as 4xx naming what collided."""
    try:
        async with asyncio.timeout(timeout), db.acquire(timeout=timeout) as conn, conn.transaction():
            yield conn
    except TimeoutError:
        raise DatabaseUnavailable("provisioning write timed out") from None
    except asyncpg.UniqueViolationError as exc:
        # Another writer (XUI, psql) committed the same key between our check and insert.
        raise Conflict(f"{_constraint_words(exc)} exists already") from None
    except asyncpg.ForeignKeyViolationError:
        raise Invalid("user_id: no such user") from None
    except asyncpg.DataError:
        raise Invalid("a value does not fit its column") from None


def _constraint_words(exc: asyncpg.UniqueViolationError) -> str:
    name = getattr(exc, "constraint_name", "") or ""
    return (
        "login" if "login" in name else "extension number in this domain" if "extensions" in name else "row"
    )


async def lock_domains(conn: asyncpg.Connection, domains: Sequence[str]) -> None:
    """Serialise bridge's writers of these domains' extension numbers (sorted: no deadlock)."""
    for domain in sorted(set(domains)):
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_EXTENSIONS, domain)


async def lock_logins(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", _LOCK_LOGINS)


async def live_extensions(
    conn: asyncpg.Connection, domain: str, extns: Sequence[str]
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM extensions WHERE domain = $1 AND extn = ANY($2::text[]) AND deleted_at IS NULL"
        " ORDER BY id FOR UPDATE",
        domain,
        list(extns),
    )
    return rows


async def live_logins(conn: asyncpg.Connection, logins: Sequence[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT login FROM users WHERE login = ANY($1::text[]) AND deleted_at IS NULL ORDER BY login",
        list(logins),
    )
    return [row["login"] for row in rows]


async def insert_one(conn: asyncpg.Connection, table: str, values: Mapping[str, Any]) -> asyncpg.Record:
    """One row; parameter types come from the columns, so either XUI spelling of a flag
    column (int or boolean) takes a Python bool or int."""
    columns = ", ".join(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO {_table(table)} ({columns}) VALUES ({placeholders}) RETURNING *", *values.values()
    )
    assert row is not None  # INSERT ... RETURNING returns its row
    return row


async def insert_many(
    conn: asyncpg.Connection, table: str, rows: Sequence[Mapping[str, Any]]
) -> list[asyncpg.Record]:
    """Rows sharing one column set, in one statement; returned in id (= creation) order."""
    if not rows:
        return []
    columns = list(rows[0])
    arrays = ", ".join(f"${i}::{_ARRAY_TYPES.get(c, 'text')}[]" for i, c in enumerate(columns, 1))
    query = f"INSERT INTO {_table(table)} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) RETURNING *"
    created = await conn.fetch(query, *([row[c] for row in rows] for c in columns))
    return sorted(created, key=lambda row: int(row["id"]))


async def update_ids(
    conn: asyncpg.Connection, table: str, ids: Sequence[int], values: Mapping[str, Any]
) -> list[asyncpg.Record]:
    """Set ``values`` (and updated_at) on the live rows ``ids``; the rows as they are now."""
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(values, 2))
    sets = f"{sets}, updated_at = now()" if sets else "updated_at = now()"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"UPDATE {_table(table)} SET {sets} WHERE id = ANY($1::int[]) AND deleted_at IS NULL RETURNING *",
        list(ids),
        *values.values(),
    )
    return sorted(rows, key=lambda row: int(row["id"]))


async def set_user_extensions(
    conn: asyncpg.Connection, user_ids: Sequence[int], extn_ids: Sequence[int]
) -> None:
    """users.extn_id of each new user: the extension created with it."""
    await conn.execute(
        "UPDATE users u SET extn_id = k.extn_id FROM unnest($1::int[], $2::int[]) AS k(id, extn_id)"
        " WHERE u.id = k.id",
        list(user_ids),
        list(extn_ids),
    )


async def replace_default_extension(conn: asyncpg.Connection, deleted_id: int) -> None:
    """No users.extn/extn_id points at a deleted extension: the user's oldest live extension
    becomes its default, or none is left (NULL)."""
    await conn.execute(
        """
        UPDATE users u SET extn = n.extn, extn_id = n.id, updated_at = now()
        FROM users o LEFT JOIN LATERAL (
            SELECT e.id, e.extn FROM extensions e
            WHERE e.user_id = o.id AND e.deleted_at IS NULL ORDER BY e.id LIMIT 1
        ) n ON true
        WHERE u.id = o.id AND o.extn_id = $1 AND o.deleted_at IS NULL
        """,
        deleted_id,
    )


async def locked_rows(conn: asyncpg.Connection, table: str, ids: Sequence[int]) -> list[asyncpg.Record]:
    """The live rows ``ids``, locked until the transaction ends."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT * FROM {_table(table)} WHERE id = ANY($1::int[]) AND deleted_at IS NULL"
        " ORDER BY id FOR UPDATE",
        list(ids),
    )
    return rows


async def soft_delete(conn: asyncpg.Connection, table: str, ids: Sequence[int]) -> list[asyncpg.Record]:
    """XUI's delete: deleted_at set, the row kept (its number is free again)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"UPDATE {_table(table)} SET deleted_at = now(), updated_at = now()"
        " WHERE id = ANY($1::int[]) AND deleted_at IS NULL RETURNING id",
        list(ids),
    )
    return rows


async def soft_delete_extensions_of(
    conn: asyncpg.Connection, user_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """A deleted user's extensions go with it (its phones stop registering at once)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "UPDATE extensions SET deleted_at = now(), updated_at = now()"
        " WHERE user_id = ANY($1::int[]) AND deleted_at IS NULL RETURNING id, extn, domain",
        list(user_ids),
    )
    return rows


async def live_user(
    conn: asyncpg.Connection, *, user_id: int | None = None, login: str | None = None
) -> asyncpg.Record | None:
    """A live user by id or by login, locked until the transaction ends."""
    if user_id is not None:
        return await conn.fetchrow(
            "SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", user_id
        )
    return await conn.fetchrow(
        "SELECT * FROM users WHERE login = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE", login
    )


def _table(name: str) -> str:
    if name not in ("users", "extensions"):
        raise ValueError(f"not a provisioned table: {name}")
    return name
