"""Warm start: after start-up the directory is loaded into the cache, in pages, while lookups go on."""

from __future__ import annotations

import asyncio
import functools

import asyncpg
import pytest

from bridge.config import DatabaseConfig
from bridge.db import Database
from bridge.directory.extension import Extension
from bridge.directory.keys import DIRECTORY_CACHE, DIRECTORY_STORE
from bridge.directory.store import sql as extensions
from bridge.directory.store.cache import CachedStore
from bridge.directory.store.database import DatabaseStore
from bridge.directory.store.warmup import Warmer
from tests.conftest import AppClient, fixture_bytes
from tests.factories import add_user
from tests.support.poll import eventually_value

DOMAIN = "xswitch.test"
FIRST = 100000
FORM = fixture_bytes("xml_curl", "register_1001.form")


async def seed(conn: asyncpg.Connection, count: int) -> None:
    owner = await add_user(conn, "bulk")
    await conn.execute(
        """
        INSERT INTO extensions (extn, domain, name, password, context, user_id, ha1, ha1b)
        SELECT e, $1::text, e, 'Test1234pw', 'default', $2,
               md5(e || ':' || $1::text || ':Test1234pw'),
               md5(e || '@' || $1::text || ':' || $1::text || ':Test1234pw')
        FROM (SELECT ($3 + g)::text AS e FROM generate_series(0, $4 - 1) g) s
        """,
        DOMAIN,
        owner,
        FIRST,
        count,
    )


async def test_given_a_directory_when_bridge_starts_then_the_cache_fills_while_lookups_are_answered(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await seed(conn, 1000)
    client = await app_client(directory__warmup_page_size="50")
    cache = client.app[DIRECTORY_CACHE]
    answered = 0

    async def warmed() -> int:
        nonlocal answered
        # Lookups for users the warm-up has not reached yet, answered meanwhile as ever.
        n = FIRST + 999 - answered % 1000
        resp = await client.post(
            "/directory",
            data=FORM.replace(b"1001", str(n).encode()),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert resp.status == 200 and f'<user id="{n}"'.encode() in await resp.read()
        answered += 1
        return len(client.app[DIRECTORY_STORE])  # type: ignore[arg-type]

    await eventually_value(warmed, lambda entries: entries == 1000, timeout=20.0)
    status = await eventually_value(
        lambda: asyncio.sleep(0, cache.status().warmup), lambda w: w.state == "done", timeout=5.0
    )
    assert status.read == 1000
    assert answered >= 1
    body = await (await client.get("/readyz")).json()
    assert body["components"]["directory_cache"]["warmup"]["state"] == "done"
    text = await (await client.get("/metrics")).text()
    assert "bridge_directory_warmup_entries_total" in text


async def test_given_a_small_cache_bound_then_the_warm_up_stops_when_the_cache_is_full(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await seed(conn, 600)
    client = await app_client(directory__cache_size="250", directory__warmup_page_size="100")
    cache = client.app[DIRECTORY_CACHE]

    status = await eventually_value(
        lambda: asyncio.sleep(0, cache.status().warmup), lambda w: w.state == "done", timeout=10.0
    )

    assert status.loaded == 250 == len(cache.store)
    assert status.read == 300  # three pages, not the whole table


async def test_given_warmup_off_then_nothing_is_loaded(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await seed(conn, 50)
    client = await app_client(directory__warmup="false")
    cache = client.app[DIRECTORY_CACHE]
    await client.get("/readyz")
    assert cache.status().warmup.state == "off"
    assert len(cache.store) == 0


@pytest.fixture
async def database(database_url: str) -> object:
    db = await Database.connect(database_url, DatabaseConfig(query_timeout=2.0))
    yield db
    await db.close()


async def test_given_a_table_then_it_is_read_in_key_order_pages_each_key_once(
    database: Database, conn: asyncpg.Connection
) -> None:
    await seed(conn, 230)
    pages: list[list[tuple[str, str]]] = []

    async def page(after: tuple[str, str], limit: int) -> list[tuple[tuple[str, str], Extension]]:
        found = await extensions.fetch_page(database, after, limit)
        pages.append([key for key, _ in found])
        return found

    store = CachedStore(DatabaseStore(database), capacity=10_000, negative_ttl=1.0)
    store.set_coherent(True)
    warmer = Warmer(store, page, page_size=100)
    warmer.start()
    await warmer.wait()

    assert [len(p) for p in pages] == [100, 100, 30, 0]
    keys = [key for p in pages for key in p]
    assert keys == sorted(set(keys)) and len(keys) == 230
    # What the warm-up stored is what a lookup would have read.
    one = await extensions.fetch_extension(database, DOMAIN, str(FIRST + 7))
    assert await store.get(DOMAIN, str(FIRST + 7)) == one


async def test_given_a_change_announced_while_a_page_is_read_then_the_page_does_not_store_that_key(
    database: Database, conn: asyncpg.Connection
) -> None:
    await seed(conn, 10)
    store = CachedStore(DatabaseStore(database), capacity=10_000, negative_ttl=1.0)
    store.set_coherent(True)
    changed = (DOMAIN, str(FIRST + 3))

    async def page(after: tuple[str, str], limit: int) -> list[tuple[tuple[str, str], Extension]]:
        found = await extensions.fetch_page(database, after, limit)
        store.invalidate([changed])  # the NOTIFY of a change lands while the page is on its way
        return found

    warmer = Warmer(store, functools.partial(page), page_size=100)
    warmer.start()
    await warmer.wait()

    assert len(store) == 9
    assert warmer.status().loaded == 9
