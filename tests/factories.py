"""Rows for tests, inserted with real SQL into the real schema."""

from __future__ import annotations

from typing import Any

import asyncpg

from bridge.hashes import ha1, ha1b, login_sha1


async def add_user(conn: asyncpg.Connection, login: str = "owner", **values: Any) -> int:
    salt = values.pop("salt", "$1$testsalt")
    password = values.pop("password_plain", None)
    row: dict[str, Any] = {"login": login, "name": login, "domain": "xswitch.test", "salt": salt}
    if password is not None:
        row["sha1"] = login_sha1(login, password, salt)
    row.update(values)
    columns = ", ".join(row)
    placeholders = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    user_id: int = await conn.fetchval(
        f"INSERT INTO users ({columns}) VALUES ({placeholders}) RETURNING id", *row.values()
    )
    return user_id


async def add_extension(
    conn: asyncpg.Connection,
    extn: str,
    domain: str = "xswitch.test",
    password: str = "Test1234pw",
    *,
    user_id: int | None = None,
    hashes: bool = True,
    **values: Any,
) -> int:
    if user_id is None:
        # One owner per (extn, domain): logins are unique among live users (sql/060).
        owner = f"owner-{extn}-{domain}"
        user_id = await conn.fetchval("SELECT id FROM users WHERE login = $1 AND deleted_at IS NULL", owner)
        if user_id is None:
            user_id = await add_user(conn, login=owner, domain=domain)
    row: dict[str, Any] = {
        "extn": extn,
        "name": extn,
        "domain": domain,
        "password": password,
        "context": "default",
        "user_id": user_id,
    }
    if hashes:
        row["ha1"] = ha1(extn, domain, password)
        row["ha1b"] = ha1b(extn, domain, password)
    row.update(values)
    columns = ", ".join(row)
    placeholders = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    ext_id: int = await conn.fetchval(
        f"INSERT INTO extensions ({columns}) VALUES ({placeholders}) RETURNING id", *row.values()
    )
    return ext_id
