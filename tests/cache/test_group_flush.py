"""A group membership change reaches FreeSWITCH like an extension change: NOTIFY from the
sql/070 triggers, then xml_flush_cache of the member (fake Event Socket server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

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


async def _flushes(esl: FakeEslServer) -> list[str]:
    return [c for c in esl.commands if c.startswith("api xml_flush_cache")]


def _of(extn: str) -> list[str]:
    return [f"api {c}" for c in flush_commands((DOMAIN, extn)) or []]


@pytest.mark.parametrize(
    ("change", "flushed"),
    [
        pytest.param(
            "INSERT INTO group_extns (group_id, extn_id) VALUES ($1, $2)", "1002", id="extension-added"
        ),
        pytest.param(
            "DELETE FROM group_extns WHERE group_id = $1 AND extn_id = $2", "1001", id="extension-removed"
        ),
        pytest.param(
            "UPDATE groups SET name = 'renamed' WHERE id = $1 AND $2 > 0", "1001", id="group-renamed"
        ),
        pytest.param(
            "UPDATE groups SET deleted_at = now() WHERE id = $1 AND $2 > 0", "1001", id="group-deleted"
        ),
    ],
)
async def test_given_fs_cacheable_when_a_membership_changes_then_the_member_is_flushed(
    app_client: AppClient, esl: FakeEslServer, conn: asyncpg.Connection, change: str, flushed: str
) -> None:
    member = await add_extension(conn, "1001")
    other = await add_extension(conn, "1002")
    group = await conn.fetchval(
        "INSERT INTO groups (name, realm, group_type) VALUES ('sales', $1, 1) RETURNING id", DOMAIN
    )
    await conn.execute("INSERT INTO group_extns (group_id, extn_id) VALUES ($1, $2)", group, member)
    client = await app_client(directory__fs_cacheable_ms="60000", freeswitch__nodes=esl.url("fs1"))
    await esl.wait_subscribed()
    await eventually_value(lambda: _flushes(esl), lambda c: "api xml_flush_cache" in c, timeout=5.0)

    await conn.execute(change, group, other if flushed == "1002" else member)

    await eventually_value(lambda: _flushes(esl), lambda c: c[-2:] == _of(flushed), timeout=5.0)
    await client.close()  # before the test database is dropped (the ESL job writes on shutdown)


async def test_given_fs_cacheable_when_a_user_joins_a_user_group_then_its_extensions_are_flushed(
    app_client: AppClient, esl: FakeEslServer, conn: asyncpg.Connection
) -> None:
    ext = await add_extension(conn, "1003")
    owner = await conn.fetchval("SELECT user_id FROM extensions WHERE id = $1", ext)
    group = await conn.fetchval(
        "INSERT INTO groups (name, realm, group_type) VALUES ('sales', $1, 0) RETURNING id", DOMAIN
    )
    client = await app_client(directory__fs_cacheable_ms="60000", freeswitch__nodes=esl.url("fs1"))
    await esl.wait_subscribed()
    await eventually_value(lambda: _flushes(esl), lambda c: "api xml_flush_cache" in c, timeout=5.0)

    await conn.execute("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)", group, owner)

    await eventually_value(lambda: _flushes(esl), lambda c: c[-2:] == _of("1003"), timeout=5.0)
    await client.close()
