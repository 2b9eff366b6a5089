"""Changes made by anyone reach every bridge instance through LISTEN/NOTIFY (sql/030)."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from bridge.directory.extension import Extension
from bridge.directory.keys import DIRECTORY_CACHE, DIRECTORY_STORE
from bridge.directory.store.invalidation import CHANNEL, parse_payload
from tests.conftest import AppClient
from tests.factories import add_extension, add_user
from tests.support.poll import eventually_value

DOMAIN = "xswitch.test"


async def test_given_two_instances_when_an_extension_is_disabled_by_sql_then_both_refuse_it_within_a_second(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    first, second = await app_client(), await app_client()
    stores = [first.app[DIRECTORY_STORE], second.app[DIRECTORY_STORE]]
    for store in stores:
        found = await store.get(DOMAIN, "1001")
        assert found is not None and not found.disabled

    await conn.execute("UPDATE extensions SET disabled = 1 WHERE extn = '1001'")

    for store in stores:

        async def probe(s=store) -> Extension | None:  # type: ignore[no-untyped-def]
            return await s.get(DOMAIN, "1001")

        await eventually_value(probe, lambda e: e is not None and e.disabled, timeout=1.0)


async def test_given_a_cached_extension_when_its_user_is_disabled_then_the_next_lookup_sees_it(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    user_id = await add_user(conn, "alice")
    await add_extension(conn, "1001", user_id=user_id)
    await add_extension(conn, "1002", user_id=user_id)
    client = await app_client()
    store = client.app[DIRECTORY_STORE]
    for extn in ("1001", "1002"):
        found = await store.get(DOMAIN, extn)
        assert found is not None and not found.user_disabled

    await conn.execute("UPDATE users SET disabled = 1 WHERE id = $1", user_id)

    for extn in ("1001", "1002"):
        await eventually_value(
            lambda x=extn: store.get(DOMAIN, x), lambda e: e is not None and e.user_disabled, 1.0
        )


async def test_given_a_user_locked_by_failed_logins_then_no_cache_entry_is_invalidated(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    # users.is_locked changes no directory answer (sql/041), and anyone can set it: it must
    # not make every instance re-read (and flush FreeSWITCH's cache for) the owner's phones.
    locked = await add_user(conn, "alice")
    await add_extension(conn, "1001", user_id=locked)
    await add_extension(conn, "1002", user_id=await add_user(conn, "bob"))
    client = await app_client()
    store = client.app[DIRECTORY_STORE]
    before = await store.get(DOMAIN, "1001")
    assert before is not None and await store.get(DOMAIN, "1002") is not None

    await conn.execute("UPDATE users SET is_locked = true, login_attempts = 5 WHERE id = $1", locked)
    # A later change that does notify: once it has arrived, the lock's would have too.
    await conn.execute("UPDATE extensions SET disabled = 1 WHERE extn = '1002'")
    await eventually_value(
        lambda: store.get(DOMAIN, "1002"), lambda e: e is not None and e.disabled == 1, 1.0
    )
    assert await store.get(DOMAIN, "1001") is before


async def test_given_an_extension_deleted_then_it_is_unknown_on_the_next_lookup(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    store = client.app[DIRECTORY_STORE]
    assert await store.get(DOMAIN, "1001") is not None

    await conn.execute("DELETE FROM extensions WHERE extn = '1001'")

    await eventually_value(lambda: store.get(DOMAIN, "1001"), lambda e: e is None, timeout=1.0)


async def test_given_a_user_not_found_cached_when_the_extension_is_created_then_it_is_found_at_once(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client(directory__negative_ttl="3600")
    store = client.app[DIRECTORY_STORE]
    assert await store.get(DOMAIN, "1005") is None

    await add_extension(conn, "1005")

    await eventually_value(lambda: store.get(DOMAIN, "1005"), lambda e: e is not None, timeout=1.0)


async def test_given_a_bulk_update_of_many_rows_then_every_payload_fits_and_names_every_key(
    conn: asyncpg.Connection, database_url: str
) -> None:
    user_id = await add_user(conn, "bulk")
    await conn.executemany(
        "INSERT INTO extensions (extn, domain, user_id) VALUES ($1, $2, $3)",
        [(f"{n:05d}", DOMAIN, user_id) for n in range(1200)],
    )
    payloads: list[str] = []
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener(CHANNEL, lambda *args: payloads.append(args[3]))

        await conn.execute("UPDATE extensions SET cid_name = 'bulk'")

        async def seen() -> set[tuple[str, str]]:
            keys: set[tuple[str, str]] = set()
            for payload in payloads:
                keys.update(parse_payload(payload) or [])
            return keys

        keys = await eventually_value(seen, lambda k: len(k) == 1200, timeout=2.0)
    finally:
        await listener.close()
    assert keys == {(DOMAIN, f"{n:05d}") for n in range(1200)}
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 for p in payloads)
    assert all(json.loads(p)["k"] for p in payloads)


async def test_given_a_statement_touching_thousands_of_keys_then_one_drop_everything_is_sent(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    user_id = await add_user(conn, "bulk")
    await conn.executemany(
        "INSERT INTO extensions (extn, domain, user_id) VALUES ($1, $2, $3)",
        [(f"{n:05d}", DOMAIN, user_id) for n in range(5001)],
    )
    client = await app_client()
    store = client.app[DIRECTORY_STORE]
    first = await store.get(DOMAIN, "00001")
    assert first is not None and first.cid_name == ""

    await conn.execute("UPDATE extensions SET cid_name = 'renamed'")

    await eventually_value(
        lambda: store.get(DOMAIN, "00001"), lambda e: e is not None and e.cid_name == "renamed"
    )
    assert "notify_all" in (await (await client.get("/metrics")).text())


async def test_given_the_listening_connection_is_terminated_when_a_change_is_missed_then_resync_serves_it(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    cache = client.app[DIRECTORY_CACHE]
    store = client.app[DIRECTORY_STORE]
    assert cache.status().listener == "listening"
    found = await store.get(DOMAIN, "1001")
    assert found is not None and not found.disabled
    pid = cache.listener.backend_pid()

    async with conn.transaction():
        await conn.execute("UPDATE extensions SET disabled = 1 WHERE extn = '1001'")
        await conn.execute("SELECT pg_terminate_backend($1)", pid)
        # Commit while nobody listens: this NOTIFY is lost.
        await eventually_value(lambda: asyncio.sleep(0, cache.status()), lambda s: s.listener != "listening")

    status = await eventually_value(
        lambda: asyncio.sleep(0, cache.status()), lambda s: s.listener == "listening", timeout=3.0
    )
    assert status.reconnects == 1
    await eventually_value(
        lambda: store.get(DOMAIN, "1001"), lambda e: e is not None and e.disabled, timeout=1.0
    )
    text = await (await client.get("/metrics")).text()
    assert 'bridge_directory_invalidations_total{source="resync"} 2.0' in text
