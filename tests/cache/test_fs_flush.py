"""FreeSWITCH's own user cache: every change sends xml_flush_cache for both user spellings.

The node manager is the real one (bridge/registrations), talking to the fake Event Socket
server of tests/fakes/esl_server.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from bridge.directory.keys import DIRECTORY_CACHE, DIRECTORY_STORE
from bridge.directory.store.node_flush import flush_commands
from tests.conftest import AppClient
from tests.factories import add_extension
from tests.fakes.esl_server import FakeEslServer
from tests.support.poll import eventually_value

DOMAIN = "xswitch.test"


@pytest.fixture
async def esl() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer().start()
    yield server
    await server.close()


def test_flush_commands_name_the_plain_and_the_at_domain_user() -> None:
    assert flush_commands((DOMAIN, "1001")) == [
        "xml_flush_cache id 1001 xswitch.test",
        "xml_flush_cache id 1001@xswitch.test xswitch.test",
    ]
    assert flush_commands((DOMAIN, "10 01")) is None


async def _flushes(esl: FakeEslServer) -> list[str]:
    return [c for c in esl.commands if c.startswith("api xml_flush_cache")]


async def test_given_fs_cacheable_when_an_extension_changes_then_the_node_gets_both_flushes(
    app_client: AppClient, esl: FakeEslServer, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(directory__fs_cacheable_ms="60000", freeswitch__nodes=esl.url("fs1"))
    await esl.wait_subscribed()
    # The node is up for the flusher once its connect-time whole flush went out.
    await eventually_value(lambda: _flushes(esl), lambda c: "api xml_flush_cache" in c, timeout=2.0)

    await conn.execute("UPDATE extensions SET password = 'changed' WHERE extn = '1001'")

    expected = [f"api {c}" for c in flush_commands((DOMAIN, "1001")) or []]
    await eventually_value(lambda: _flushes(esl), lambda c: c[-2:] == expected, timeout=1.0)
    text = await (await client.get("/metrics")).text()
    assert 'bridge_freeswitch_cache_flushes_total{node="fs1"' in text
    await client.close()  # before the test database is dropped (the ESL job writes on shutdown)


async def test_given_fs_cacheable_off_then_no_flush_is_sent(
    app_client: AppClient, esl: FakeEslServer, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(freeswitch__nodes=esl.url("fs1"))
    await esl.wait_subscribed()
    store = client.app[DIRECTORY_STORE]
    await store.get(DOMAIN, "1001")

    await conn.execute("UPDATE extensions SET disabled = 1 WHERE extn = '1001'")

    await eventually_value(
        lambda: store.get(DOMAIN, "1001"), lambda e: e is not None and e.disabled, timeout=1.0
    )
    assert await _flushes(esl) == []
    await client.close()  # before the test database is dropped (the ESL job writes on shutdown)


def _whole(commands: list[str]) -> int:
    return commands.count("api xml_flush_cache")


async def test_given_fs_cacheable_when_the_node_connects_and_reconnects_then_its_whole_cache_is_flushed(
    app_client: AppClient, esl: FakeEslServer
) -> None:
    client = await app_client(
        directory__fs_cacheable_ms="60000",
        freeswitch__nodes=esl.url("fs1"),
        freeswitch__reconnect_initial="0.05",
    )
    await esl.wait_subscribed()
    # The first connection (a bridge restart): what the node cached may predate it.
    await eventually_value(lambda: _flushes(esl), lambda c: _whole(c) == 1, timeout=2.0)

    await esl.drop()  # the node restarts, or the connection breaks: changes were missed
    await esl.wait_subscribed()

    await eventually_value(lambda: _flushes(esl), lambda c: _whole(c) == 2, timeout=3.0)
    await client.close()


async def test_given_fs_cacheable_when_the_notify_connection_resyncs_then_the_node_cache_is_flushed(
    app_client: AppClient, esl: FakeEslServer, conn: asyncpg.Connection
) -> None:
    client = await app_client(directory__fs_cacheable_ms="60000", freeswitch__nodes=esl.url("fs1"))
    await esl.wait_subscribed()
    await eventually_value(lambda: _flushes(esl), lambda c: _whole(c) == 1, timeout=2.0)
    cache = client.app[DIRECTORY_CACHE]

    await conn.execute("SELECT pg_terminate_backend($1)", cache.listener.backend_pid())

    await eventually_value(lambda: _flushes(esl), lambda c: _whole(c) == 2, timeout=5.0)
    assert cache.status().reconnects == 1
    await client.close()


async def test_given_fs_cacheable_off_when_the_node_connects_then_nothing_is_flushed(
    app_client: AppClient, esl: FakeEslServer
) -> None:
    client = await app_client(freeswitch__nodes=esl.url("fs1"))
    await esl.wait_subscribed()
    await client.get("/readyz")  # a round trip on the loop after the node came up
    assert await _flushes(esl) == []
    await client.close()
