"""HeldConnections: the lookup path's connections, kept between statements, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bridge.config import DatabaseConfig
from bridge.db import Database
from bridge.errors import DatabaseUnavailable

BACKEND = "SELECT pg_backend_pid()"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(database_url, DatabaseConfig(pool_min=1, pool_max=4, query_timeout=0.5))
    yield db
    await db.close()


async def test_given_statements_one_after_another_then_one_connection_serves_them_all(
    database: Database,
) -> None:
    acquires: list[float] = []
    database.on_acquire = acquires.append
    held = database.held(2)

    pids = {(await held.fetch(BACKEND))[0][0] for _ in range(20)}

    assert len(pids) == 1
    assert len(acquires) == 1  # from the pool once, then kept


async def test_given_more_statements_at_once_than_it_keeps_then_the_extra_connections_go_back(
    database: Database,
) -> None:
    held = database.held(1)

    await asyncio.gather(*(held.fetch("SELECT pg_sleep(0.05)") for _ in range(3)))

    # One kept, the other two back in the pool (idle there, usable by anyone).
    assert database.pool.get_idle_size() >= 2


async def test_given_its_connection_killed_then_that_statement_fails_and_the_next_gets_a_new_one(
    database: Database, conn: asyncpg.Connection
) -> None:
    held = database.held(1)
    first = (await held.fetch(BACKEND))[0][0]
    await conn.execute("SELECT pg_terminate_backend($1)", first)

    with pytest.raises(DatabaseUnavailable):
        await held.fetch(BACKEND)
    second = (await held.fetch(BACKEND))[0][0]

    assert second != first


async def test_given_a_statement_slower_than_query_timeout_then_it_fails_in_time_and_the_next_works(
    database: Database,
) -> None:
    held = database.held(1)
    started = time.monotonic()

    with pytest.raises(DatabaseUnavailable):
        await held.fetch("SELECT pg_sleep(5)")

    assert time.monotonic() - started < 0.5 + 0.5
    assert (await held.fetch("SELECT 1"))[0][0] == 1


async def test_given_a_statement_postgresql_refuses_then_its_error_is_raised_and_the_connection_still_serves(
    database: Database,
) -> None:
    held = database.held(1)

    with pytest.raises(asyncpg.PostgresError):
        await held.fetch("SELECT $1::int", "not a number")

    assert (await held.fetch("SELECT 1"))[0][0] == 1


async def test_given_held_connections_when_the_database_closes_then_the_pool_closes_at_once(
    database_url: str,
) -> None:
    db = await Database.connect(database_url, DatabaseConfig(pool_min=1, pool_max=4))
    held = db.held(2)
    await asyncio.gather(held.fetch("SELECT 1"), held.fetch("SELECT 1"))
    started = time.monotonic()

    await db.close()

    assert time.monotonic() - started < 2  # pool.close() would wait 5 s for held ones
    with pytest.raises(DatabaseUnavailable):
        await held.fetch("SELECT 1")
