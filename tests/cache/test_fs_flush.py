"""FreeSWITCH's own user cache: every change sends xml_flush_cache for both user spellings.

The node manager is the real one (bridge/registrations), talking to the fake Event Socket
server of tests/fakes/esl_server.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from bridge.directory.keys import DIRECTORY_STORE
from bridge.directory.node_flush import flush_commands
from tests.cache.support import eventually
from tests.conftest import AppClient
from tests.factories import add_extension
from tests.fakes.esl_server import FakeEslServer

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

    await conn.execute("UPDATE extensions SET password = 'changed' WHERE extn = '1001'")

    expected = [f"api {c}" for c in flush_commands((DOMAIN, "1001")) or []]
    await eventually(lambda: _flushes(esl), lambda c: c[-2:] == expected, timeout=2.0)
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

    await eventually(lambda: store.get(DOMAIN, "1001"), lambda e: e is not None and e.disabled, timeout=1.0)
    assert await _flushes(esl) == []
    await client.close()  # before the test database is dropped (the ESL job writes on shutdown)
