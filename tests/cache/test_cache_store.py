"""The cache in front of a real PostgreSQL: hits without queries, coalescing, bounds, negative TTL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bridge.config import DatabaseConfig
from bridge.db import Database
from bridge.directory.keys import DIRECTORY_STORE
from bridge.directory.store.cache import CachedStore, Result
from bridge.directory.store.database import DatabaseStore
from bridge.errors import DatabaseUnavailable
from bridge.keys import METRICS
from tests.cache.support import CountingStore
from tests.conftest import AppClient
from tests.factories import add_extension
from tests.support.poll import eventually_value


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(database_url, DatabaseConfig(query_timeout=2.0))
    yield db
    await db.close()


def make_cache(
    database: Database, capacity: int = 100, negative_ttl: float = 60.0
) -> tuple[CachedStore, CountingStore, list[Result]]:
    backend = CountingStore(DatabaseStore(database))
    results: list[Result] = []
    cache = CachedStore(backend, capacity=capacity, negative_ttl=negative_ttl, count=results.append)
    cache.set_coherent(True)
    return cache, backend, results


async def test_given_a_cached_user_when_looked_up_again_then_no_query_is_made(
    database: Database, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    cache, backend, results = make_cache(database)

    first = await cache.get("xswitch.test", "1001")
    second = await cache.get("xswitch.test", "1001")

    assert first is not None and first.extn == "1001"
    assert second is first
    assert backend.gets == 1
    assert results == ["miss", "hit"]


async def test_given_fifty_concurrent_misses_for_one_user_then_one_query_answers_all(
    database: Database, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    cache, backend, _ = make_cache(database)

    answers = await asyncio.gather(*(cache.get("xswitch.test", "1001") for _ in range(50)))

    assert {a.extn for a in answers if a is not None} == {"1001"}
    assert backend.gets == 1


async def test_given_a_requester_cancelled_when_others_wait_for_the_same_key_then_they_still_get_it(
    database: Database, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    cache, backend, _ = make_cache(database)

    statements: list[int] = []
    inner = backend.inner
    assert isinstance(inner, DatabaseStore)
    inner.batcher.on_batch = statements.append
    first = asyncio.create_task(cache.get("xswitch.test", "1001"))
    second = asyncio.create_task(cache.get("xswitch.test", "1001"))
    await asyncio.sleep(0)
    first.cancel()

    answer = await second
    assert answer is not None and answer.extn == "1001"
    with pytest.raises(asyncio.CancelledError):
        await first
    # The first caller's read is carried on for the second (a second get of the store, which
    # joins the first one's key): one statement in all, and the answer is kept.
    assert statements == [1]
    assert await cache.get("xswitch.test", "1001") is answer
    assert backend.gets == 2


async def test_given_more_users_than_capacity_then_the_oldest_unread_goes_and_a_read_one_gets_a_second_chance(
    database: Database, conn: asyncpg.Connection
) -> None:
    for extn in ("1001", "1002", "1003", "1004"):
        await add_extension(conn, extn)
    cache, backend, _ = make_cache(database, capacity=3)

    for extn in ("1001", "1002", "1003"):
        await cache.get("xswitch.test", extn)
    await cache.get("xswitch.test", "1001")  # 1001 read again: a second chance, so 1002 (oldest unread) goes
    await cache.get("xswitch.test", "1004")

    assert len(cache) == 3
    gets = backend.gets
    await cache.get("xswitch.test", "1001")
    assert backend.gets == gets  # still cached
    await cache.get("xswitch.test", "1002")
    assert backend.gets == gets + 1  # was evicted


async def test_given_an_unknown_user_then_not_found_is_remembered_only_for_negative_ttl(
    database: Database, conn: asyncpg.Connection
) -> None:
    # No listener here: only the TTL can bring the new row in.
    cache, _, results = make_cache(database, negative_ttl=0.3)

    assert await cache.get("xswitch.test", "1009") is None
    await add_extension(conn, "1009")
    assert await cache.get("xswitch.test", "1009") is None
    assert results == ["miss", "negative_hit"]

    found = await eventually_value(
        lambda: cache.get("xswitch.test", "1009"), lambda e: e is not None, timeout=2.0
    )
    assert found is not None and found.extn == "1009"


async def test_given_an_invalidation_during_the_query_then_the_answer_is_not_kept(
    database: Database, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    cache, _, _ = make_cache(database)

    pending = asyncio.create_task(cache.get("xswitch.test", "1001"))
    await asyncio.sleep(0)
    cache.invalidate([("xswitch.test", "1001")])
    assert await pending is not None

    assert len(cache) == 0


async def test_given_the_app_when_a_user_is_looked_up_twice_then_metrics_count_a_miss_and_a_hit(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    store = client.app[DIRECTORY_STORE]

    await store.get("xswitch.test", "1001")
    await store.get("xswitch.test", "1001")
    await store.get("xswitch.test", "1009")

    text = await (await client.get("/metrics")).text()
    assert 'bridge_directory_cache_requests_total{result="miss"} 2.0' in text
    assert 'bridge_directory_cache_requests_total{result="hit"} 1.0' in text
    assert "bridge_directory_cache_entries 2.0" in text
    assert client.app[METRICS] is not None


async def test_given_concurrent_misses_when_the_read_fails_then_each_caller_gets_its_own_error(
    database_url: str, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    db = await Database.connect(database_url, DatabaseConfig(pool_min=1, pool_max=2, query_timeout=0.3))
    try:
        cache, _, _ = make_cache(db)
        held = [await db.pool.acquire() for _ in range(2)]  # no connection for the read

        outcomes = await asyncio.gather(
            *(cache.get("xswitch.test", "1001") for _ in range(3)), return_exceptions=True
        )

        assert all(isinstance(o, DatabaseUnavailable) for o in outcomes), outcomes
        assert len({id(o) for o in outcomes}) == 3
        for connection in held:
            await db.pool.release(connection)
        found = await cache.get("xswitch.test", "1001")  # nothing of the failure was kept
        assert found is not None and found.extn == "1001"
    finally:
        await db.close()
