"""Failover between bridge instances: the node lock (registrations/locks.py), killed
followers, a follower cut from PostgreSQL, writes by an instance that lost its lock."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.app import create_app
from bridge.config import Config, DatabaseConfig, FreeSwitchConfig, FreeSwitchNode, load_config
from bridge.db import Database
from bridge.errors import ConfigError
from bridge.registrations import events
from bridge.registrations.keys import REGISTRATION_CLOCK, REGISTRATION_STORE, REGISTRATIONS
from bridge.registrations.locks import NodeLocks, key_parts, lock_key
from bridge.registrations.model import NodeState
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState
from tests.api.helpers import add_admin, auth, login
from tests.fakes.esl_server import SNAPSHOT_LIVE, FakeEslServer, frame_body
from tests.registrations import frames
from tests.support.poll import eventually, eventually_async
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
D = "xswitch.test"
CAPTURE_TIME = 1795393500.0  # the captured bindings expire at 1795397081
FAST = {
    "freeswitch__sync_interval": "0.05",
    "freeswitch__takeover_interval": "0.2",
    "freeswitch__reconnect_initial": "0.02",
    "freeswitch__reconnect_max": "0.1",
    "freeswitch__command_timeout": "1",
}
# What the issue asks for is 1 s; the test allows for a loaded machine and prints the figure.
TAKEOVER_LIMIT = 3.0
Client = TestClient[web.Request, web.Application]
StartApp = Callable[..., Awaitable[Client]]


@pytest.fixture
def start_app(
    make_config: Callable[..., Config],  # first: the database must outlive the apps
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> StartApp:
    async def start(config: Config | None = None, **overrides: str) -> Client:
        app = create_app(config or make_config(**overrides))
        app[REGISTRATION_CLOCK] = lambda: CAPTURE_TIME
        return await aiohttp_client(app)

    return start


@pytest.fixture
async def fake() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer(snapshot=SNAPSHOT_LIVE).start()
    yield server
    await server.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _lock_sessions(conn: asyncpg.Connection, node: str = "fs1") -> int:
    """Sessions holding the node's lock."""
    classid, objid = key_parts(lock_key(node))
    count: int = await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND classid::bigint = $1 AND objid::bigint = $2",
        classid, objid,
    )
    return count


async def test_given_follower_killed_with_sigkill_then_another_instance_follows_within_a_second(
    start_app: StartApp, fake: FakeEslServer, database_url: str, conn: asyncpg.Connection
) -> None:
    argv = [sys.executable, "-m", "bridge", "serve", "--port", str(_free_port())]
    for key, value in {
        "database.url": database_url,
        "freeswitch.nodes": fake.url("fs1"),
        **{k.replace("__", "."): v for k, v in FAST.items()},
    }.items():
        argv += ["--set", f"{key}={value}"]
    killed = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        async def killed_follows() -> bool:
            assert killed.returncode is None, "bridge serve exited"
            return fake.live == 1 and await _lock_sessions(conn) == 1

        await eventually_async(killed_follows, timeout=30, what="the subprocess follows fs1")
        survivor = (await start_app(freeswitch__nodes=fake.url("fs1"), **FAST)).server.app
        await eventually(lambda: survivor[REGISTRATIONS].nodes()[0].state is NodeState.STANDBY, timeout=10)
        assert survivor[REGISTRATION_STORE].owned == set()

        killed.send_signal(signal.SIGKILL)
        started = time.monotonic()
        await eventually(
            lambda: survivor[REGISTRATIONS].nodes()[0].state is NodeState.UP, timeout=10, what="takeover"
        )
        took = time.monotonic() - started
        print(f"\ntakeover after SIGKILL: {took * 1000:.0f} ms (issue 25 target 1000 ms)")
        assert took < TAKEOVER_LIMIT
        assert survivor[REGISTRATION_STORE].owned == {"fs1"}
        assert survivor[REGISTRATIONS].is_online(D, "1001")
        # The survivor reads the node's stream now: an unregister is seen, once.
        await fake.push(frames.UNREGISTER_1001)
        await eventually(lambda: not survivor[REGISTRATIONS].is_online(D, "1001"))
    finally:
        if killed.returncode is None:
            killed.kill()
        await asyncio.wait_for(killed.wait(), timeout=30)


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    auth = f"{netloc[0]}@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{port}"))


async def test_given_follower_cut_from_the_database_then_it_stops_following_before_another_starts(
    start_app: StartApp, make_config: Callable[..., Config], fake: FakeEslServer, database_url: str
) -> None:
    upstream = urlsplit(database_url)
    assert upstream.hostname is not None and upstream.port is not None
    proxy = await TcpProxy(upstream.hostname, upstream.port).start()
    idle = 3
    partitioned = {**FAST, "freeswitch__lock_timeout": "1", "freeswitch__lock_idle_timeout": str(idle)}
    config = make_config(freeswitch__nodes=fake.url("fs1"), **partitioned)
    config = replace(config, database=replace(config.database, url=_via(database_url, proxy.port)))
    try:
        cut_off = (await start_app(config)).server.app
        await eventually(lambda: cut_off[REGISTRATION_STORE].owned == {"fs1"}, timeout=10)
        await eventually(lambda: cut_off[REGISTRATIONS].nodes()[0].state is NodeState.UP)
        other = (await start_app(freeswitch__nodes=fake.url("fs1"), **FAST)).server.app
        await eventually(lambda: other[REGISTRATIONS].nodes()[0].state is NodeState.STANDBY, timeout=10)

        most_followers = 0
        stopped_at: float | None = None

        async def watch() -> None:
            nonlocal most_followers, stopped_at
            while True:
                followers = fake.live
                most_followers = max(most_followers, followers)
                if stopped_at is None and not cut_off[REGISTRATION_STORE].owned and followers == 0:
                    stopped_at = time.monotonic()
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        proxy.cut()
        cut_at = time.monotonic()
        # Nothing else happens: PostgreSQL ends the silent lock session itself after
        # lock_idle_timeout (idle_session_timeout; its keepalives would reach the proxy).
        await eventually(
            lambda: other[REGISTRATION_STORE].owned == {"fs1"}, timeout=idle + 10, what="takeover"
        )
        took_at = time.monotonic()
        await eventually(lambda: other[REGISTRATIONS].nodes()[0].state is NodeState.UP)
        watcher.cancel()
        assert stopped_at is not None
        print(
            f"\npartition: cut-off follower stopped {stopped_at - cut_at:.2f} s after the cut,"
            f" the other followed at {took_at - cut_at:.2f} s (lock_idle_timeout {idle} s)"
        )
        assert stopped_at < took_at
        assert took_at - cut_at > idle - 1  # the lock was held until the session timed out
        assert most_followers == 1, "two instances followed the node at once"
        assert cut_off[REGISTRATION_STORE].owned == set()
    finally:
        await proxy.close()


async def test_given_the_server_ends_the_lock_session_then_the_follower_stops_before_another_follows(
    start_app: StartApp, fake: FakeEslServer, conn: asyncpg.Connection
) -> None:
    """PostgreSQL ends the follower's lock session (pg_terminate_backend here; a restart or a
    failover alike) and frees its locks at once: the follower must stop at once too, not at
    its next write (up to sync_interval later, while another instance follows as well)."""
    slow_sync = {**FAST, "freeswitch__sync_interval": "2", "freeswitch__takeover_interval": "0.5"}
    holder = (await start_app(freeswitch__nodes=fake.url("fs1"), **slow_sync)).server.app
    await eventually(lambda: holder[REGISTRATIONS].nodes()[0].state is NodeState.UP, timeout=10)
    # The other tries once a second: the follower's reaction (ms) is a small part of that.
    # A try inside it would show two connections for those ms (writes stay guarded).
    slow_try = {**slow_sync, "freeswitch__takeover_interval": "1"}
    other = (await start_app(freeswitch__nodes=fake.url("fs1"), **slow_try)).server.app
    await eventually(lambda: other[REGISTRATIONS].nodes()[0].state is NodeState.STANDBY, timeout=10)
    classid, objid = key_parts(lock_key("fs1"))
    pid = await conn.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND classid::bigint = $1 AND objid::bigint = $2",
        classid, objid,
    )
    most_followers = 0
    stopped_at: float | None = None

    async def watch() -> None:
        nonlocal most_followers, stopped_at
        while True:
            most_followers = max(most_followers, fake.live)
            if stopped_at is None and not holder[REGISTRATION_STORE].owned:
                stopped_at = time.monotonic()
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    ended_at = time.monotonic()
    assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    await eventually(lambda: other[REGISTRATION_STORE].owned == {"fs1"}, timeout=10, what="takeover")
    await eventually(lambda: other[REGISTRATIONS].nodes()[0].state is NodeState.UP)
    watcher.cancel()
    assert stopped_at is not None
    print(f"\nlock session ended: the follower stopped after {(stopped_at - ended_at) * 1000:.0f} ms")
    assert stopped_at - ended_at < 0.5  # its next write would have been up to 2 s away
    assert most_followers == 1, "two instances followed the node at once"
    assert holder[REGISTRATION_STORE].owned == set()


def _registered(frame: bytes) -> events.Registered:
    change = events.to_change("fs1", json.loads(frame_body(frame)), now=0.0)
    assert isinstance(change, events.Registered)
    return change


async def test_given_lock_session_ended_and_lock_taken_then_the_old_follower_writes_nothing(
    database_url: str, conn: asyncpg.Connection
) -> None:
    """The window a partition leaves: the follower believes it holds the node, PostgreSQL
    has freed the lock and another session holds it. Its batch must not reach the table."""
    database = await Database.connect(database_url, DatabaseConfig(url=database_url))
    config = FreeSwitchConfig(nodes=(FreeSwitchNode.from_url("esl://fs1:ClueCon@127.0.0.1:1"),))
    locks = NodeLocks(database_url, config, connect_timeout=5)
    unfollowed: list[str] = []
    state = RegistrationState(["fs1"])
    store = RegistrationStore(
        database, state, config, locks=locks, instance="old",
        follow=lambda _: None, unfollow=unfollowed.append,
    )
    try:
        await store.take_over()
        assert store.owned == {"fs1"}
        await store.flush()  # the takeover's batch: the node published, no bindings yet
        assert locks.session is not None
        await conn.execute("SELECT pg_terminate_backend($1)", locks.session.pid)
        new_follower = await asyncpg.connect(database_url)
        try:

            async def taken() -> bool:
                return bool(await new_follower.fetchval("SELECT pg_try_advisory_lock($1)", lock_key("fs1")))

            await eventually_async(taken, what="the lock was not freed")
            state.apply(_registered(frames.REGISTER_1001))
            await store.flush()
            assert await conn.fetchval("SELECT count(*) FROM bridge_registrations") == 0
            # Whichever saw it first (this write's check, or the lock thread's own round
            # trip, after which the write has no session to write with), the next try of the
            # lock task gives the node up.
            await store.take_over()
            assert store.owned == set() and unfollowed == ["fs1"]
        finally:
            await new_follower.close()
    finally:
        await store.release()
        await database.close()


async def test_given_sessions_when_used_on_another_instance_then_they_work_and_no_sweep_ends_them(
    start_app: StartApp, conn: asyncpg.Connection
) -> None:
    await add_admin(conn)
    first = await start_app(api__token_ttl="3600")
    second = await start_app(api__token_ttl="1")
    token = await login(first)
    assert (await second.get("/api/users/list", headers=auth(token))).status == 200
    # Idle longer than the second instance's token_ttl, well within its own lifetime.
    await conn.execute("UPDATE bridge_api_tokens SET last_used_at = now() - interval '30 seconds'")
    short = await login(second)  # issuing a session sweeps the expired ones
    assert (await second.get("/api/users/list", headers=auth(token))).status == 200
    assert (await first.get("/api/users/list", headers=auth(token))).status == 200
    # The sweep does end what has outlived its own lifetime.
    await conn.execute("UPDATE bridge_api_tokens SET last_used_at = now() - interval '30 seconds'")
    newest = await login(first)
    left = await conn.fetch("SELECT key_hint FROM bridge_api_tokens ORDER BY key_hint")
    assert sorted(r["key_hint"] for r in left) == sorted([token[:8], newest[:8]])
    assert short[:8] not in {r["key_hint"] for r in left}
    assert (await second.get("/api/users/list", headers=auth(token))).status == 200


async def test_given_three_instances_and_six_nodes_then_each_follows_two_and_a_killed_ones_go_to_the_others(
    start_app: StartApp,
) -> None:
    fakes = [await FakeEslServer(snapshot=SNAPSHOT_LIVE).start() for _ in range(6)]
    try:
        nodes = ",".join(fake.url(f"fs{i}") for i, fake in enumerate(fakes, 1))
        clients = [await start_app(freeswitch__nodes=nodes, **FAST) for _ in range(3)]
        stores = [client.server.app[REGISTRATION_STORE] for client in clients]

        def shares() -> list[int]:
            return sorted(len(store.owned) for store in stores)

        await eventually(lambda: shares() == [2, 2, 2], timeout=20, what="two nodes each")
        assert set().union(*(store.owned for store in stores)) == {f"fs{i}" for i in range(1, 7)}
        await eventually(lambda: all(fake.live == 1 for fake in fakes), what="one connection per node")

        await clients[0].close()  # its nodes go to the two left, three each
        stores = stores[1:]
        await eventually(lambda: shares() == [3, 3], timeout=20, what="three nodes each")
        await eventually(lambda: all(fake.live == 1 for fake in fakes), what="one connection per node")
    finally:
        for fake in fakes:
            await fake.close()


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"freeswitch.lock_timeout": "5"}, id="lock-timeout-reaches-idle-timeout"),
        pytest.param({"freeswitch.lock_idle_timeout": "2"}, id="idle-timeout-below-lock-timeout"),
        pytest.param({"freeswitch.takeover_interval": "0"}, id="no-takeover-interval"),
    ],
)
def test_given_settings_that_allow_two_followers_then_bridge_refuses_to_start(
    settings: dict[str, str],
) -> None:
    with pytest.raises(ConfigError, match="freeswitch"):
        load_config(overrides=settings)


async def test_given_a_mirror_reading_while_this_instance_takes_the_node_then_the_node_stays_up(
    database_url: str, conn: asyncpg.Connection
) -> None:
    """Measured with 50 nodes and 100,000 bindings (bench/scale_registrations.py): the mirror's
    read of the other nodes' rows took seconds; a node taken meanwhile was marked STANDBY by
    the stale read after its follower was up, and stayed so: the instance followed it while
    reporting it standby, and every other instance hid its bindings as down."""
    database = await Database.connect(database_url, DatabaseConfig(url=database_url, query_timeout=30))
    config = FreeSwitchConfig(nodes=(FreeSwitchNode.from_url("esl://fs1:ClueCon@127.0.0.1:1"),))
    old_locks = NodeLocks(database_url, config, connect_timeout=5)
    old_state = RegistrationState(["fs1"])
    old = RegistrationStore(
        database, old_state, config, locks=old_locks, instance="old",
        follow=lambda name: old_state.apply(events.NodeChanged(name, NodeState.UP, time.time())),
        unfollow=lambda _: None,
    )
    locks = NodeLocks(database_url, config, connect_timeout=5)
    state = RegistrationState(["fs1"])
    store = RegistrationStore(
        database, state, config, locks=locks, instance="new",
        follow=lambda name: state.apply(events.NodeChanged(name, NodeState.UP, time.time())),
        unfollow=lambda _: None,
    )
    blocker = await asyncpg.connect(database_url)
    try:
        await old.take_over()
        await old.flush()  # fs1 published up by "old", its lease live
        assert old_locks.session is not None
        await conn.execute("SELECT pg_terminate_backend($1)", old_locks.session.pid)  # "old" dies
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE bridge_registrations IN ACCESS EXCLUSIVE MODE")
            mirror = asyncio.create_task(store.tick())

            async def mirror_waits() -> bool:
                return bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%FROM bridge_registrations WHERE node = $1 AND version%'"
                    )
                )

            await eventually_async(mirror_waits, what="the mirror did not start reading")

            async def taken() -> bool:
                await store.take_over()
                return store.owned == {"fs1"}

            await eventually_async(taken, what="the lock was not taken over")
        await mirror  # the table is free: the mirror's stale read ends
        [status] = state.nodes()
        assert status.state is NodeState.UP
    finally:
        await blocker.close()
        await store.release()
        await old_locks.close()
        await database.close()
