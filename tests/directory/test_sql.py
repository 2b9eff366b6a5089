"""The many-keys read answers every key exactly as the one-key read does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from bridge.config import DatabaseConfig
from bridge.db import Database
from bridge.directory.store.sql import fetch_extension, fetch_extensions
from tests.factories import add_extension, add_user

DOMAIN = "xswitch.test"
GONE = datetime(2024, 1, 1)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(database_url, DatabaseConfig(query_timeout=2.0))
    yield db
    await db.close()


@pytest.fixture
async def rows(conn: asyncpg.Connection) -> None:
    await add_extension(conn, "1001")
    await add_extension(conn, "1001", domain="other.test")
    await add_extension(conn, "1002", deleted_at=GONE)  # deleted only
    # A deleted row and a live one share a key: the live one wins though it is older...
    await add_extension(conn, "1003", cid_name="live")
    await add_extension(conn, "1003", cid_name="deleted", deleted_at=GONE)
    # ...and among live ones the newest wins: an XUI database that already held such
    # duplicates, where sql/060 could not build its unique index.
    await conn.execute("DROP INDEX bridge_extensions_live_key")
    await add_extension(conn, "1004", cid_name="older")
    await add_extension(conn, "1004", cid_name="newer")
    await add_extension(conn, "1005", user_id=await add_user(conn, "off", disabled=1))
    await add_extension(conn, "1006", user_id=await add_user(conn, "locked", is_locked=True))
    await add_extension(conn, "1007", disabled=1)
    await add_extension(conn, "1008", user_id=await add_user(conn, "gone", deleted_at=GONE))


KEYS = [
    (DOMAIN, "1001"),
    ("other.test", "1001"),
    (DOMAIN, "1002"),
    (DOMAIN, "1003"),
    (DOMAIN, "1004"),
    (DOMAIN, "1005"),
    (DOMAIN, "1006"),
    (DOMAIN, "1007"),
    (DOMAIN, "1008"),
    (DOMAIN, "1009"),  # unknown
    ("nowhere.test", "1001"),  # unknown domain
    (DOMAIN, "1003"),  # asked twice
    (DOMAIN, "1001"),
]


@pytest.mark.usefixtures("rows")
async def test_given_a_mix_of_keys_when_read_together_then_each_answer_is_the_one_key_answer(
    database: Database,
) -> None:
    together = await fetch_extensions(database, KEYS)

    one_by_one = {key: await fetch_extension(database, *key) for key in KEYS}
    assert together == {key: found for key, found in one_by_one.items() if found is not None}
    # The rows the rule picks, so the comparison above is not between two empty answers.
    assert {key: e.cid_name for key, e in together.items() if key[1] in ("1003", "1004")} == {
        (DOMAIN, "1003"): "live",
        (DOMAIN, "1004"): "newer",
    }
    assert together[(DOMAIN, "1002")].deleted
    assert together[(DOMAIN, "1005")].user_disabled
    assert together[(DOMAIN, "1006")].user_locked
    assert together[(DOMAIN, "1007")].disabled
    assert together[(DOMAIN, "1008")].user_deleted
    assert (DOMAIN, "1009") not in together


async def test_given_no_keys_then_nothing_is_read(database: Database) -> None:
    assert await fetch_extensions(database, []) == {}


@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize("key", KEYS[:11], ids=lambda key: "@".join(reversed(key)))
async def test_given_one_key_then_the_answer_is_the_one_key_answer(
    database: Database, key: tuple[str, str]
) -> None:
    # A lone key takes the single-key statement (a kept generic plan): same rows, same rule.
    found = await fetch_extension(database, *key)

    assert await fetch_extensions(database, [key]) == ({} if found is None else {key: found})
    assert await fetch_extensions(database, [key, key]) == ({} if found is None else {key: found})


async def test_given_a_pooled_connection_when_released_then_no_reset_statement_is_sent(
    database: Database,
) -> None:
    # The release round trip (asyncpg's default reset) was on every directory read's path;
    # a session setting surviving the release shows no reset ran. A transaction left open
    # is still rolled back by asyncpg.
    async with database.pool.acquire() as conn:
        pid = conn.get_server_pid()
        await conn.execute("SET application_name = 'kept'")
    async with database.pool.acquire() as conn:
        assert conn.get_server_pid() == pid
        assert await conn.fetchval("SHOW application_name") == "kept"
        await conn.execute("RESET application_name")
