"""Registrations inside the real app: PostgreSQL write-behind, two instances, failover, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.app import create_app
from bridge.config import Config
from bridge.registrations.keys import FREESWITCH, REGISTRATION_CLOCK, REGISTRATION_STORE, REGISTRATIONS
from bridge.registrations.model import NodeState
from tests.fakes.esl_server import SNAPSHOT_LIVE, FakeEslServer
from tests.registrations import frames
from tests.support.poll import eventually, eventually_async

D = "xswitch.test"
FAST = {
    "freeswitch__lease_ttl": "1",
    "freeswitch__sync_interval": "0.05",
    "freeswitch__reconnect_initial": "0.02",
    "freeswitch__reconnect_max": "0.1",
    "freeswitch__command_timeout": "1",
}


# The captured bindings expire at 1795397081 (2026-11-23): judge expiry as of capture time.
CAPTURE_TIME = 1795393500.0
AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def app_client(
    make_config: Callable[..., Config],  # first: the database must outlive the apps
    aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]],
) -> AppClient:
    async def start(**overrides: str) -> TestClient[web.Request, web.Application]:
        app = create_app(make_config(**overrides))
        app[REGISTRATION_CLOCK] = lambda: CAPTURE_TIME
        return await aiohttp_client(app)

    return start


@pytest.fixture
async def fake() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer(snapshot=SNAPSHOT_LIVE).start()
    yield server
    await server.close()


async def tokens_in_table(conn: asyncpg.Connection) -> list[str]:
    return [r["token"] for r in await conn.fetch("SELECT token FROM bridge_registrations ORDER BY token")]


async def test_bindings_are_written_to_postgresql_in_batches_and_scraped_as_gauges(
    app_client: AppClient, fake: FakeEslServer, conn: asyncpg.Connection
) -> None:
    client = await app_client(freeswitch__nodes=fake.url("fs1"), **FAST)
    app = client.server.app
    await eventually(lambda: len(app[REGISTRATIONS].all_registrations()) == 2)
    assert await _eventually_table(conn, ["6529c594651edf87", "88098c1c87c3a17f"])
    await fake.push(*[frames.REGISTER_1001, frames.UNREGISTER_1001] * 200, frames.REREGISTER_1002)
    assert await _eventually_table(conn, ["fa1a9ec46ffef287"])
    text = await (await client.get("/metrics")).text()
    assert 'bridge_registrations_online{domain="xswitch.test",node="fs1"} 1.0' in text
    assert 'bridge_esl_connected{node="fs1"} 1.0' in text
    assert 'bridge_esl_seconds_since_heartbeat{node="fs1"}' in text
    assert 'bridge_registration_events_total{kind="register",node="fs1"} 201.0' in text
    reply = await app[FREESWITCH].broadcast_api("version")
    assert isinstance(reply["fs1"], str) and reply["fs1"].startswith("FreeSWITCH Version")


async def _eventually_table(conn: asyncpg.Connection, expected: list[str]) -> bool:
    async def written() -> bool:
        return await tokens_in_table(conn) == expected

    await eventually_async(written, what=f"table holds {expected}")
    return True


async def test_given_two_instances_then_one_follows_and_both_answer_the_same_then_failover(
    app_client: AppClient, fake: FakeEslServer
) -> None:
    first = await app_client(freeswitch__nodes=fake.url("fs1"), **FAST)
    a = first.server.app
    await eventually(lambda: a[REGISTRATIONS].is_online(D, "1001"))
    second = await app_client(freeswitch__nodes=fake.url("fs1"), **FAST)
    b = second.server.app
    await eventually(lambda: b[REGISTRATIONS].is_online(D, "1001"), what="standby mirrors the table")
    assert b[REGISTRATION_STORE].owned == set()
    assert [s.state for s in b[REGISTRATIONS].nodes()] == [NodeState.STANDBY]
    assert sorted(r.token for r in b[REGISTRATIONS].all_registrations()) == sorted(
        r.token for r in a[REGISTRATIONS].all_registrations()
    )
    await fake.push(frames.UNREGISTER_1001)
    await eventually(lambda: not b[REGISTRATIONS].is_online(D, "1001"))
    assert fake.connections == 1
    # The standby reaches the node for commands without following it.
    assert (await b[FREESWITCH].api("fs1", "version")).startswith("FreeSWITCH Version")

    await first.close()  # the following instance goes away
    await eventually(lambda: b[REGISTRATION_STORE].owned == {"fs1"}, timeout=5, what="takeover")
    await eventually(lambda: [s.state for s in b[REGISTRATIONS].nodes()] == [NodeState.UP])
    assert b[REGISTRATIONS].is_online(D, "1002")


async def test_given_row_of_a_dead_follower_then_the_lock_decides_and_a_new_instance_takes_over(
    app_client: AppClient, fake: FakeEslServer, conn: asyncpg.Connection
) -> None:
    first = await app_client(freeswitch__nodes=fake.url("fs1"), **FAST)
    await eventually(lambda: first.server.app[REGISTRATION_STORE].owned == {"fs1"})

    async def published_up() -> bool:
        return bool(await conn.fetchval("SELECT state FROM bridge_esl_nodes") == "up")

    await eventually_async(published_up, what="the follower published node state up")
    # Another process that died: its row stays, live for a while; its lock went with it.
    await first.close()
    await conn.execute(
        "UPDATE bridge_esl_nodes SET owner = 'dead', lease_until = now() + interval '1 second'"
    )
    second = await app_client(freeswitch__nodes=fake.url("fs1"), **FAST)
    b = second.server.app
    await eventually(lambda: b[REGISTRATIONS].nodes()[0].state is NodeState.STANDBY)
    await eventually(lambda: b[REGISTRATION_STORE].owned == {"fs1"}, timeout=5, what="takeover, row ignored")
    await eventually(lambda: b[REGISTRATIONS].is_online(D, "1001"))


async def test_given_node_lost_when_readyz_then_freeswitch_down_but_instance_still_ready(
    app_client: AppClient, fake: FakeEslServer
) -> None:
    client = await app_client(freeswitch__nodes=fake.url("fs1"), **FAST)
    app = client.server.app
    await eventually(lambda: app[REGISTRATIONS].is_online(D, "1001"))
    body = await (await client.get("/readyz")).json()
    assert body["components"]["freeswitch"]["status"] == "up"
    assert body["components"]["freeswitch"]["nodes"]["fs1"]["state"] == "up"

    await fake.close()  # the node is gone and refuses reconnection
    await eventually(lambda: app[REGISTRATIONS].nodes()[0].state is NodeState.DOWN)
    resp = await client.get("/readyz")
    body = await resp.json()
    # Lookups and the API do not need the Event Socket: degraded, still in rotation.
    assert resp.status == 200
    assert body["status"] == "degraded"
    assert body["components"]["freeswitch"]["status"] == "down"
    assert not app[REGISTRATIONS].is_online(D, "1001")
