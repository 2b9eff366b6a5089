"""Misses for different users share statements; outages, give-ups and shutdown stay clean."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bridge.config import DatabaseConfig
from bridge.db import Database
from bridge.directory.extension import Extension
from bridge.directory.keys import DIRECTORY_STORE
from bridge.directory.store.database import DatabaseStore
from bridge.errors import DatabaseUnavailable
from tests.conftest import AppClient
from tests.factories import add_extension, add_user
from tests.support.poll import eventually_value

DOMAIN = "xswitch.test"
QUERY_TIMEOUT = 0.3
# Scheduling slack on a shared, loaded test machine.
MARGIN = 0.25

Connect = Callable[..., Awaitable[Database]]


@pytest.fixture
async def connect(database_url: str) -> AsyncIterator[Connect]:
    """``await connect(pool_max=2)``: a Database on the test database, closed afterwards."""
    opened: list[Database] = []

    async def open_database(**settings: Any) -> Database:
        config = DatabaseConfig(**{"pool_min": 1, "query_timeout": QUERY_TIMEOUT, **settings})
        database = await Database.connect(database_url, config)
        opened.append(database)
        return database

    yield open_database
    for database in opened:
        await database.close()


@pytest.fixture
async def phones(conn: asyncpg.Connection) -> list[str]:
    """200 extensions, 2000..2199, all owned by one user (quick to insert)."""
    user_id = await add_user(conn, "many")
    extns = [str(2000 + n) for n in range(200)]
    for extn in extns:
        await add_extension(conn, extn, user_id=user_id)
    return extns


def store_counting(database: Database) -> tuple[DatabaseStore, list[int]]:
    """The real store, and the size of each statement it sends, as it sends them."""
    store = DatabaseStore(database)
    sizes: list[int] = []
    store.batcher.on_batch = sizes.append
    return store, sizes


async def blocked_reads(conn: asyncpg.Connection) -> asyncpg.transaction.Transaction:
    """Hold a lock that makes every read of ``extensions`` wait; roll back to release it."""
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute("LOCK TABLE extensions IN ACCESS EXCLUSIVE MODE")
    return transaction


async def reads_waiting_on_the_lock(conn: asyncpg.Connection) -> int:
    """How many statements on the test database wait for a lock (``blocked_reads``)."""
    # Not by query text: a statement blocked while it is parsed shows an empty one.
    count: int = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return count


def batches_running() -> int:
    return sum(1 for task in asyncio.all_tasks() if task.get_name() == "directory-batch")


async def outcome(read: Awaitable[Extension | None]) -> tuple[Extension | Exception | None, float]:
    """What a read ended with (answer or error) and how long it took."""
    started = time.monotonic()
    try:
        result: Extension | Exception | None = await read
    except DatabaseUnavailable as exc:
        result = exc
    return result, time.monotonic() - started


async def test_given_200_concurrent_misses_for_different_users_then_few_statements_answer_all(
    connect: Connect, phones: list[str]
) -> None:
    store, sizes = store_counting(await connect())

    answers = await asyncio.gather(*(store.get(DOMAIN, extn) for extn in [*phones, "9999"]))

    assert [a.extn if a is not None else None for a in answers] == [*phones, None]
    assert sum(sizes) == 201
    assert len(sizes) <= 5, sizes


async def test_given_one_miss_alone_then_it_goes_out_at_once_in_a_batch_of_one(
    connect: Connect, phones: list[str]
) -> None:
    store, sizes = store_counting(await connect())

    found = await store.get(DOMAIN, phones[0])

    assert found is not None and found.extn == phones[0]
    assert sizes == [1]


async def test_given_every_slot_busy_when_more_misses_arrive_then_they_go_out_together_after(
    connect: Connect, phones: list[str], conn: asyncpg.Connection
) -> None:
    # pool_max=2: one statement in flight at a time.
    store, sizes = store_counting(await connect(pool_max=2, query_timeout=5.0))
    lock = await blocked_reads(conn)
    first = asyncio.create_task(store.get(DOMAIN, phones[0]))
    await eventually_value(lambda: reads_waiting_on_the_lock(conn), lambda n: n == 1)

    later = []
    for wave in (phones[1:26], phones[26:51]):  # in two loop iterations
        later += [asyncio.create_task(store.get(DOMAIN, extn)) for extn in wave]
        await asyncio.sleep(0)
    await lock.rollback()

    answers = [await first, *[await task for task in later]]
    assert [a.extn for a in answers if a is not None] == phones[:51]
    assert sizes == [1, 50]


async def test_given_same_user_missed_twice_at_once_then_the_key_is_read_once(
    connect: Connect, phones: list[str]
) -> None:
    store, sizes = store_counting(await connect())

    first, second = await asyncio.gather(store.get(DOMAIN, phones[0]), store.get(DOMAIN, phones[0]))

    assert first is not None and first is second
    assert sizes == [1]


async def test_given_a_key_in_a_running_statement_when_missed_again_then_it_waits_for_that_statement(
    connect: Connect, phones: list[str], conn: asyncpg.Connection
) -> None:
    store, sizes = store_counting(await connect(query_timeout=5.0))
    lock = await blocked_reads(conn)
    first = asyncio.create_task(store.get(DOMAIN, phones[0]))
    await eventually_value(lambda: reads_waiting_on_the_lock(conn), lambda n: n == 1)

    again = asyncio.create_task(store.get(DOMAIN, phones[0]))
    await asyncio.sleep(0)
    await lock.rollback()

    one, two = await first, await again
    assert one is not None and one is two
    assert sizes == [1]


async def test_given_every_pool_connection_held_then_each_miss_fails_within_query_timeout_and_all_recovers(
    connect: Connect, phones: list[str]
) -> None:
    database = await connect(pool_max=2)
    store, _ = store_counting(database)
    held = [await database.pool.acquire() for _ in range(2)]

    results = await asyncio.gather(*(outcome(store.get(DOMAIN, extn)) for extn in phones[:50]))

    assert all(isinstance(result, DatabaseUnavailable) for result, _ in results), results
    assert max(took for _, took in results) < QUERY_TIMEOUT + MARGIN
    for connection in held:
        await database.pool.release(connection)
    answers = await asyncio.gather(*(store.get(DOMAIN, extn) for extn in phones[:50]))
    assert [a.extn for a in answers if a is not None] == phones[:50]


async def test_given_a_statement_slower_than_query_timeout_then_misses_queued_behind_it_fail_in_time_too(
    connect: Connect, phones: list[str], conn: asyncpg.Connection
) -> None:
    store, _ = store_counting(await connect(pool_max=2))  # one statement at a time
    lock = await blocked_reads(conn)
    try:
        first = asyncio.create_task(outcome(store.get(DOMAIN, phones[0])))
        await eventually_value(lambda: reads_waiting_on_the_lock(conn), lambda n: n == 1)
        queued = await asyncio.gather(*(outcome(store.get(DOMAIN, extn)) for extn in phones[1:20]))
        results = [await first, *queued]
    finally:
        await lock.rollback()

    assert all(isinstance(result, DatabaseUnavailable) for result, _ in results), results
    assert max(took for _, took in results) < QUERY_TIMEOUT + MARGIN


async def test_given_queued_misses_given_up_then_their_keys_are_not_read(
    connect: Connect, phones: list[str], conn: asyncpg.Connection
) -> None:
    store, sizes = store_counting(await connect(pool_max=2, query_timeout=5.0))
    lock = await blocked_reads(conn)
    first = asyncio.create_task(store.get(DOMAIN, phones[0]))
    await eventually_value(lambda: reads_waiting_on_the_lock(conn), lambda n: n == 1)
    queued = [asyncio.create_task(store.get(DOMAIN, extn)) for extn in phones[1:20]]
    await asyncio.sleep(0)
    for task in queued:
        task.cancel()
    await asyncio.gather(*queued, return_exceptions=True)
    await lock.rollback()

    assert await first is not None
    found = await store.get(DOMAIN, phones[5])
    assert found is not None and found.extn == phones[5]
    assert sizes == [1, 1]


@pytest.mark.parametrize("statement", ["answers", "fails"])
async def test_given_waiters_cancelled_mid_statement_then_the_others_get_its_outcome(
    connect: Connect,
    phones: list[str],
    conn: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
    statement: str,
) -> None:
    store, sizes = store_counting(await connect(query_timeout=5.0))
    lock = await blocked_reads(conn)
    try:
        tasks = [asyncio.create_task(outcome(store.get(DOMAIN, extn))) for extn in phones[:4]]
        same_key = asyncio.create_task(outcome(store.get(DOMAIN, phones[1])))
        await eventually_value(lambda: reads_waiting_on_the_lock(conn), lambda n: n == 1)
        tasks[1].cancel()  # phones[1] is still wanted by same_key
        tasks[3].cancel()  # phones[3] is wanted by nobody now
        await asyncio.sleep(0)
        if statement == "answers":
            await lock.rollback()
        else:  # the connection running the statement dies
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        results = [await tasks[0], await tasks[2], await same_key]
        await eventually_value(lambda: asyncio.sleep(0, batches_running()), lambda n: n == 0)
    finally:
        if conn.is_in_transaction():
            await lock.rollback()

    for cancelled in (tasks[1], tasks[3]):
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert sizes == [4]
    assert max(took for _, took in results) < 2  # the statement's outcome, not the 5 s timeout
    if statement == "answers":
        assert [r.extn for r, _ in results if isinstance(r, Extension)] == [phones[0], phones[2], phones[1]]
    else:
        assert all(isinstance(r, DatabaseUnavailable) for r, _ in results), results
    del tasks, same_key, results, cancelled  # what could still hold the futures
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


async def test_given_reads_running_when_the_app_stops_then_they_fail_and_no_statement_is_left(
    app_client: AppClient, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    await add_extension(conn, "1001")
    await add_extension(conn, "1002")
    # No warm start: the reads must reach PostgreSQL.
    client = await app_client(database__query_timeout="5", directory__warmup="false")
    store = client.app[DIRECTORY_STORE]
    lock = await blocked_reads(conn)
    try:
        reads = [asyncio.create_task(outcome(store.get(DOMAIN, extn))) for extn in ("1001", "1002", "1003")]
        await eventually_value(lambda: reads_waiting_on_the_lock(conn), lambda n: n == 1)
        started = time.monotonic()

        await client.close()

        results = [await read for read in reads]
        assert time.monotonic() - started < 3  # not the 5 s query timeout
    finally:
        await lock.rollback()
    assert all(isinstance(result, DatabaseUnavailable) for result, _ in results), results
    assert batches_running() == 0
    del reads, results
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


async def test_given_a_key_postgresql_refuses_in_a_batch_then_only_that_key_fails(
    connect: Connect, phones: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    # issue 13 item 3: a NUL reached PostgreSQL and failed every lookup batched with it.
    store, sizes = store_counting(await connect())
    keys = [(DOMAIN, extn) for extn in phones[:40]]
    keys[7] = (DOMAIN, "1001\x00")
    keys[31] = (DOMAIN + "\x00", "2031")

    results = await asyncio.gather(*(outcome(store.get(*key)) for key in keys))

    for at, (result, _) in enumerate(results):
        if at in (7, 31):
            assert isinstance(result, DatabaseUnavailable), at
        else:
            assert isinstance(result, Extension) and result.extn == keys[at][1], at
    assert sizes[0] == 40
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "directory read failed keys=1"
    ] * 2
