"""A real PostgreSQL outage. A stall shorter than ``freeswitch.lock_timeout``: the node stays
followed, registrations serve from memory and are written back. A stop: the lock session
ends, the node is given up (its last bindings still answered) and taken again on return."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.app import create_app
from bridge.config import load_config
from bridge.embedded.server import EmbeddedPostgres
from bridge.registrations.keys import REGISTRATION_CLOCK, REGISTRATION_STORE, REGISTRATIONS
from bridge.registrations.model import NodeState, Registration
from tests.fakes.esl_server import SNAPSHOT_LIVE, FakeEslServer
from tests.registrations import frames
from tests.registrations.test_app import CAPTURE_TIME, FAST
from tests.support.client import Client
from tests.support.poll import eventually, eventually_async

D = "xswitch.test"
QUERY_TIMEOUT = 0.3
LOCK_TIMEOUT = 8.0
# The bindings in SNAPSHOT_LIVE, and what the frames pushed during the outage leave live.
SNAPSHOT_TOKENS = ["6529c594651edf87", "88098c1c87c3a17f"]
AFTER_OUTAGE_TOKENS = ["fa1a9ec46ffef287"]

pytestmark = pytest.mark.slow



@pytest.fixture
async def fake() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer(snapshot=SNAPSHOT_LIVE).start()
    yield server
    await server.close()


@pytest.fixture
async def client(
    private_pg: EmbeddedPostgres,
    fake: FakeEslServer,
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
) -> Client:
    overrides = {key.replace("__", "."): value for key, value in FAST.items()}
    overrides["freeswitch.nodes"] = fake.url("fs1")
    overrides["database.query_timeout"] = str(QUERY_TIMEOUT)
    # Room for a stall on a loaded machine: the follower keeps its lock for 8 s unconfirmed.
    overrides["freeswitch.lock_timeout"] = str(LOCK_TIMEOUT)
    overrides["freeswitch.lock_idle_timeout"] = "10"
    config = load_config(overrides=overrides)
    config = replace(config, database=replace(config.database, url=private_pg.dsn), state_dir=tmp_path / "s")
    app = create_app(config)
    # The captured bindings expired the day after capture: judge expiry as of capture time.
    app[REGISTRATION_CLOCK] = lambda: CAPTURE_TIME
    return await aiohttp_client(app)


async def _table(dsn: str) -> list[tuple[str, str, int, int]]:
    conn = await asyncpg.connect(dsn, timeout=2)
    try:
        rows = await conn.fetch(
            "SELECT token, reg_user, network_port, expires FROM bridge_registrations ORDER BY token"
        )
    finally:
        await conn.close()
    return [(r["token"], r["reg_user"], int(r["network_port"]), int(r["expires"])) for r in rows]


def _rows(registrations: list[Registration]) -> list[tuple[str, str, int, int]]:
    return sorted((r.token, r.reg_user, int(r.network_port), int(r.expires)) for r in registrations)


async def _db_errors(client: Client) -> float:
    text = await (await client.get("/metrics")).text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "bridge_db_errors_total" and sample.labels.get("component") == "registrations"
    )


def _server_processes(server: EmbeddedPostgres) -> list[int]:
    """The postmaster and every process it started (backends, checkpointer, ...)."""
    postmaster = server.running_pid()
    assert postmaster is not None
    children = [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent(stat) == postmaster
    ]
    return [postmaster, *children]


def _signal(pid: int, signum: int) -> None:
    """A backend listed a moment ago may have ended since (a connection just closed)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _parent(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


async def _while_stalled(client: Client, fake: FakeEslServer) -> None:
    view = client.server.app[REGISTRATIONS]
    before = await _db_errors(client)

    async def sync_failing() -> bool:
        return await _db_errors(client) > before

    await eventually_async(sync_failing, what="the sync ticks fail against the stalled server")

    # Switch events keep arriving and the in-memory view follows every one of them.
    await fake.push(frames.UNREGISTER_1001)
    await eventually(lambda: not view.is_online(D, "1001"), what="1001 unregistered during outage")
    await fake.push(frames.REGISTER_1001)
    await eventually(lambda: view.is_online(D, "1001"), what="1001 registered again during outage")
    await fake.push(frames.UNREGISTER_1001, frames.REREGISTER_1002)
    await eventually(
        lambda: [r.token for r in view.registrations_of(D, "1002")] == AFTER_OUTAGE_TOKENS,
        what="1002 re-registered from a new Call-ID during outage",
    )
    assert not view.is_online(D, "1001")
    assert [r.network_port for r in view.registrations_of(D, "1002")] == ["5091"]
    assert [s.state for s in view.nodes()] == [NodeState.UP]

    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 503  # the database is critical ...
    assert body["components"]["freeswitch"]["nodes"]["fs1"]["state"] == "up"  # ... the node is not


async def test_given_postgresql_stalled_then_registrations_serve_from_memory_and_are_written_back(
    client: Client,
    private_pg: EmbeddedPostgres,
    fake: FakeEslServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.registrations")
    app = client.server.app
    view = app[REGISTRATIONS]
    store = app[REGISTRATION_STORE]

    async def table_is(expected: list[str]) -> bool:
        return [row[0] for row in await _table(private_pg.dsn)] == expected

    await eventually_async(lambda: table_is(SNAPSHOT_TOKENS), what="snapshot written to PostgreSQL")
    assert store.owned == {"fs1"}

    stalled = _server_processes(private_pg)
    stalled_at = time.monotonic()
    try:
        for pid in stalled:
            _signal(pid, signal.SIGSTOP)
        await _while_stalled(client, fake)
        # Shorter than lock_timeout: the lock session lives, the node stayed followed.
        assert time.monotonic() - stalled_at < LOCK_TIMEOUT - 1, "the machine is too loaded for this test"
    finally:
        for pid in stalled:
            _signal(pid, signal.SIGCONT)

    live = _rows(view.bindings_of_node("fs1"))
    assert [row[0] for row in live] == AFTER_OUTAGE_TOKENS

    async def written_back() -> bool:
        return await _table(private_pg.dsn) == live

    await eventually_async(written_back, timeout=10, what="pending writes flushed after recovery")

    # The node is still ours and followed by one connection, not two.
    async def lease_held() -> bool:
        conn = await asyncpg.connect(private_pg.dsn, timeout=2)
        try:
            row = await conn.fetchrow(
                "SELECT owner, lease_until > now() AS live, state FROM bridge_esl_nodes"
            )
        finally:
            await conn.close()
        return row is not None and (row["owner"], row["live"], row["state"]) == (store.instance, True, "up")

    await eventually_async(lease_held, what="node row published by the same instance")
    assert store.owned == {"fs1"}
    assert fake.connections == 1

    async def ready() -> bool:
        return (await client.get("/readyz")).status == 200

    await eventually_async(ready, what="ready again once PostgreSQL is back")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_given_postgresql_stopped_then_the_node_is_given_up_and_taken_again_on_return(
    client: Client, private_pg: EmbeddedPostgres, fake: FakeEslServer
) -> None:
    """The lock session ends with the server: nobody may follow the node now (another
    instance may take it the moment PostgreSQL is back), so this one stops at once, keeps
    answering the last bindings it knew, and takes the node again, from a fresh snapshot."""
    app = client.server.app
    view = app[REGISTRATIONS]
    store = app[REGISTRATION_STORE]

    async def table_is(expected: list[str]) -> bool:
        return [row[0] for row in await _table(private_pg.dsn)] == expected

    await eventually_async(lambda: table_is(SNAPSHOT_TOKENS), what="snapshot written to PostgreSQL")
    await asyncio.to_thread(private_pg.stop)
    await eventually(lambda: store.owned == set() and fake.live == 0, timeout=LOCK_TIMEOUT + 5)
    assert [s.state for s in view.nodes()] == [NodeState.STANDBY]
    assert view.is_online(D, "1001"), "the last bindings known are still answered"
    body = await (await client.get("/readyz")).json()
    assert "not followed here" in body["components"]["freeswitch"]["nodes"]["fs1"]["last_error"]

    await asyncio.to_thread(private_pg.start)
    await eventually(lambda: store.owned == {"fs1"}, timeout=15, what="node taken again")
    await eventually(lambda: [s.state for s in view.nodes()] == [NodeState.UP])
    assert fake.connections == 2 and fake.live == 1
    await fake.push(frames.UNREGISTER_1001)
    await eventually(lambda: not view.is_online(D, "1001"))
    await eventually_async(lambda: table_is(["88098c1c87c3a17f"]), timeout=10, what="written again")
