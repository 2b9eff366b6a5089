"""/healthz and /readyz over real HTTP, with components reporting through app[HEALTH]."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.app import create_app
from bridge.config import Config
from bridge.health import ComponentStatus
from bridge.keys import HEALTH
from bridge.registrations.model import NodeState, NodeStatus
from bridge.registrations.readiness import freeswitch_status
from tests.conftest import AppClient

MakeConfig = Callable[..., Config]
Client = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


def _node(name: str, state: NodeState, heartbeat: float | None = 990.0) -> NodeStatus:
    return NodeStatus(name=name, state=state, since=900.0, last_heartbeat=heartbeat, registrations=3)


async def test_healthz_answers_ok_without_touching_anything(app_client: AppClient) -> None:
    client = await app_client()
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_given_live_database_when_readyz_then_200_with_database_up(app_client: AppClient) -> None:
    client = await app_client()
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["database"] == "up"
    database = body["components"]["database"]
    assert database["critical"] is True
    assert database["pool_open"] >= 1
    assert database["latency_seconds"] >= 0


async def test_given_database_refusing_connections_when_readyz_then_503_not_ready(
    app_client: AppClient, conn: asyncpg.Connection, database_url: str, pg_admin_url: str
) -> None:
    client = await app_client()
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(pg_admin_url)
    try:
        # The real outage: no new connections, and every open one cut.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503, body
        assert body["status"] == "not_ready"
        assert body["database"] == "down"
        assert body["components"]["database"]["error"]
        # Liveness does not depend on the database.
        assert (await client.get("/healthz")).status == 200
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("up", True, 200, "ready"), id="critical-up"),
        pytest.param(("degraded", True, 200, "degraded"), id="critical-degraded"),
        pytest.param(("down", True, 503, "not_ready"), id="critical-down"),
        pytest.param(("down", False, 200, "degraded"), id="noncritical-down"),
    ],
)
async def test_component_status_decides_readiness(
    make_config: MakeConfig, aiohttp_client: Client, case: tuple[str, bool, int, str]
) -> None:
    status, critical, http, overall = case
    config = make_config()
    app = create_app(config)
    registered = {"probe": 0}

    async def check() -> ComponentStatus:
        registered["probe"] += 1
        return ComponentStatus(status, {"entries": 7})  # type: ignore[arg-type]

    app[HEALTH].register("probe", check, critical=critical)
    client = await aiohttp_client(app)
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == http
    assert registered["probe"] == 1
    assert body["probe"] == status
    assert body["components"]["probe"] == {"status": status, "critical": critical, "entries": 7}
    # Other registered components may be degraded; what this one decides must hold.
    if overall == "not_ready":
        assert body["status"] == "not_ready"
    elif overall == "degraded":
        assert body["status"] == "degraded"
    else:
        assert body["status"] in ("ready", "degraded")


async def test_given_stuck_or_raising_check_when_readyz_then_reported_down_without_hanging(
    make_config: MakeConfig, aiohttp_client: Client
) -> None:
    app = create_app(make_config())
    never = asyncio.Event()

    async def stuck() -> ComponentStatus:
        await never.wait()
        return ComponentStatus("up")

    async def broken() -> ComponentStatus:
        raise RuntimeError("boom secret=hunter2")

    app[HEALTH].timeout = 0.2
    app[HEALTH].register("stuck", stuck, critical=False)
    app[HEALTH].register("broken", broken)
    client = await aiohttp_client(app)
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert body["components"]["stuck"]["status"] == "down"
    assert "0.2s" in body["components"]["stuck"]["error"]
    # The error's type, never its message (which might carry anything).
    assert body["components"]["broken"] == {"status": "down", "critical": True, "error": "RuntimeError"}


def test_component_names_are_unique_and_not_reserved(make_config: MakeConfig) -> None:
    app = create_app(make_config())

    async def check() -> ComponentStatus:
        return ComponentStatus("up")

    for name in ("status", "components", "database"):
        with pytest.raises(ValueError, match="taken or reserved"):
            app[HEALTH].register(name, check)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        pytest.param([NodeState.UP, NodeState.UP], "up", id="all-up"),
        pytest.param([NodeState.UP, NodeState.STANDBY], "up", id="up-and-standby"),
        pytest.param([NodeState.UP, NodeState.DOWN], "degraded", id="one-of-two-down"),
        pytest.param([NodeState.CONNECTING, NodeState.UP], "degraded", id="still-connecting"),
        pytest.param([NodeState.DOWN, NodeState.DOWN], "down", id="all-down"),
        pytest.param([], "up", id="no-nodes-configured"),
    ],
)
def test_freeswitch_status_from_node_states(states: list[NodeState], expected: str) -> None:
    nodes = [_node(f"fs{i}", state) for i, state in enumerate(states)]
    report = freeswitch_status(nodes, now=1000.0)
    assert report.status == expected
    for i, state in enumerate(states):
        detail = report.details["nodes"][f"fs{i}"]
        assert detail["state"] == state.value
        assert detail["seconds_since_heartbeat"] == 10.0
        assert detail["for_seconds"] == 100.0


async def test_given_one_of_two_nodes_down_when_readyz_then_degraded_but_served(
    make_config: MakeConfig, aiohttp_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_config())
    nodes = [_node("fs1", NodeState.UP), _node("fs2", NodeState.DOWN, heartbeat=None)]

    async def check() -> ComponentStatus:
        return freeswitch_status(nodes, now=1000.0)

    app[HEALTH].register("fs_test", check, critical=False)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.INFO, logger="bridge.health"):
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200
        assert body["status"] == "degraded"
        assert body["components"]["fs_test"]["nodes"]["fs2"] == {
            "state": "down",
            "for_seconds": 100.0,
            "seconds_since_heartbeat": None,
            "registrations": 3,
        }
        await client.get("/readyz")  # same state: no second line
        nodes[1] = _node("fs2", NodeState.UP)
        assert (await (await client.get("/readyz")).json())["fs_test"] == "up"
    lines = [r.getMessage() for r in caplog.records if "component=fs_test" in r.getMessage()]
    assert lines == [
        "component degraded component=fs_test was=-",
        "component up component=fs_test was=degraded",
    ]
