"""Migrations apply in order, once, and leave an existing XUI database's rows alone."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from bridge import db
from tests.factories import add_extension, add_user


async def test_upgrade_twice_applies_nothing_the_second_time(conn: asyncpg.Connection) -> None:
    # The template was migrated already: nothing is pending and a rerun is a no-op.
    assert await db.pending(conn) == []
    assert await db.upgrade(conn) == []
    recorded = await conn.fetchval("SELECT count(*) FROM bridge_schema_migrations")
    assert recorded == len(db.load_migrations())


async def test_upgrade_on_an_existing_xui_database_keeps_its_rows(pg_admin_url: str, tmp_path: Path) -> None:
    from tests.conftest import with_database

    name = f"xui_{tmp_path.name[-8:].lower().replace('-', '_')}"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    conn = await asyncpg.connect(with_database(pg_admin_url, name))
    try:
        # An "existing XUI database": the XUI tables, with rows, and no bridge tables.
        xui_sql = (db.SQL_DIR / "001_xui_users_extensions.sql").read_text()
        await conn.execute(xui_sql)
        user_id = await add_user(conn, "alice")
        await add_extension(conn, "1001", user_id=user_id, cid_name="Alice")
        before = await conn.fetch("SELECT * FROM extensions ORDER BY id")
        users_before = await conn.fetch("SELECT * FROM users ORDER BY id")

        applied = await db.upgrade(conn)

        assert applied  # bridge's own migrations ran
        assert await conn.fetch("SELECT * FROM extensions ORDER BY id") == before
        assert await conn.fetch("SELECT * FROM users ORDER BY id") == users_before
    finally:
        await conn.close()
        admin = await asyncpg.connect(pg_admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_documented_defaults_are_the_column_defaults(conn: asyncpg.Connection) -> None:
    user_id = await add_user(conn, "bob")
    await conn.execute(
        "INSERT INTO extensions (extn, domain, user_id) VALUES ('2000', 'xswitch.test', $1)", user_id
    )
    row = await conn.fetchrow("SELECT * FROM extensions WHERE extn = '2000'")
    assert row is not None
    expected = {
        "type": "SIP",
        "call_transfer_type": 0,
        "voicemail": 0,
        "enable_ringback": 0,
        "auto_record": 0,
        "call_limit": 1,
        "called_limit": 1,
        "call_authority": 4,
        "intercept": 0,
        "force_insert": 0,
        "force_breakdown": 0,
        "eavesdrop": 0,
        "priority": "99",
        "weblogin_disabled": 0,
        "sync_enabled": 0,
        "display_order": "0",
        "disabled": 0,
        "enable_srtp": 0,
        "forced_insert": 0,
        "eavesdropped": 0,
        "intercepted": 0,
        "caller_display": 1,
        "enable_hotline": 0,
        "boss_extn": False,
        "dtmf_type": 0,
        "enable_extn_time_recurrences": 0,
        "enable_t38": 0,
        "forced_breakdown": 0,
        "deleted_at": None,
    }
    assert {key: row[key] for key in expected} == expected
    assert row["created_at"] is not None
    user = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    assert user is not None
    assert (user["login_attempts"], user["is_locked"], user["disabled"]) == (0, False, 0)
    assert json.loads(user["agent_info"]) == {}
    assert user["idle_timeout"] == 60
