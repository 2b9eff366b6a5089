"""A real PostgreSQL outage: cached users keep working, others fail fast, everything recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bridge.app import create_app
from bridge.config import load_config
from bridge.directory.keys import DIRECTORY_CACHE, DIRECTORY_STORE
from bridge.embedded.server import EmbeddedPostgres
from bridge.errors import DatabaseUnavailable
from tests.factories import add_extension
from tests.support.poll import eventually_value

DOMAIN = "xswitch.test"
QUERY_TIMEOUT = 0.3

pytestmark = pytest.mark.slow


@pytest.fixture
async def client(private_pg: EmbeddedPostgres, aiohttp_client, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def,type-arg]
    conn = await asyncpg.connect(private_pg.dsn)
    try:
        await add_extension(conn, "1001")
        await add_extension(conn, "1002")
    finally:
        await conn.close()
    # No warm start: 1002 must be a user the cache has never read.
    config = load_config(
        overrides={"database.query_timeout": str(QUERY_TIMEOUT), "directory.warmup": "false"}
    )
    config = replace(config, database=replace(config.database, url=private_pg.dsn), state_dir=tmp_path / "s")
    yield await aiohttp_client(create_app(config))


async def test_given_postgresql_stopped_then_cached_users_answer_others_fail_fast_and_all_recovers(
    client: TestClient, private_pg: EmbeddedPostgres  # type: ignore[type-arg]
) -> None:
    store = client.app[DIRECTORY_STORE]
    cache = client.app[DIRECTORY_CACHE]
    assert await store.get(DOMAIN, "1001") is not None

    await asyncio.to_thread(private_pg.stop)
    await eventually_value(lambda: asyncio.sleep(0, cache.status()), lambda s: s.listener != "listening")

    started = time.monotonic()
    cached = await store.get(DOMAIN, "1001")
    assert cached is not None and cached.extn == "1001"
    assert time.monotonic() - started < 0.01

    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        await store.get(DOMAIN, "1002")
    assert time.monotonic() - started < QUERY_TIMEOUT + 0.2

    ready = await client.get("/readyz")
    body = await ready.json()
    assert body["components"]["directory_cache"]["status"] == "degraded"
    assert body["components"]["directory_cache"]["serving_stale"] is True

    await asyncio.to_thread(private_pg.start)

    await eventually_value(lambda: asyncio.sleep(0, cache.status()), lambda s: s.listener == "listening", 10)

    async def lookup_1002() -> object:
        try:
            return await store.get(DOMAIN, "1002")
        except DatabaseUnavailable as exc:
            return exc

    found = await eventually_value(lookup_1002, lambda e: e is not None and not isinstance(e, Exception), 5)
    assert found is not None
    ready = await client.get("/readyz")
    assert (await ready.json())["components"]["directory_cache"]["status"] == "up"
