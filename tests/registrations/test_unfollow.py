"""A node given up is given up for good: nothing its old follower had queued lands after.

The split-brain symptom of the scale run (issue 25: two instances reporting the same node
``up``): the store's ``_lose`` unfollows the node and sets it STANDBY on the asyncio
thread, but the follower's Snapshot and UP, emitted on the hub thread just before, were
already queued for the loop (call_soon_threadsafe) and landed after the STANDBY. A busy
loop makes that window as wide as its backlog. Here the loop is held (a blocking wait,
as a loaded instance's loop is) while the follower comes up, so the order is certain.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import asyncpg
import pytest

from bridge.config import DatabaseConfig, FreeSwitchNode
from bridge.db import Database
from bridge.registrations.events import Change, NodeChanged, Snapshot
from bridge.registrations.listener import Listener
from bridge.registrations.listing import PROFILES_COMMAND
from bridge.registrations.locks import NodeLocks, lock_key
from bridge.registrations.model import NodeState
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import SNAPSHOT_LIVE, FakeEslServer
from tests.registrations.helpers import fs_config
from tests.support.poll import eventually, eventually_async


@pytest.fixture
def fake_elsewhere() -> Iterator[FakeEslServer]:
    """A fake node served by a loop of its own, so it answers while the test's loop is held."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-esl", daemon=True)
    thread.start()

    async def started() -> FakeEslServer:
        return await FakeEslServer(snapshot=SNAPSHOT_LIVE).start()

    server = asyncio.run_coroutine_threadsafe(started(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def hold_loop_until(check: object, timeout: float = 20.0, what: str = "") -> None:
    """Block the running loop (deliberately) until ``check()`` holds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what or f"condition not met within {timeout}s"
        time.sleep(0.005)


async def test_given_node_lost_while_its_up_is_queued_then_the_up_never_lands(
    fake_elsewhere: FakeEslServer,
) -> None:
    fake = fake_elsewhere
    config = fs_config(("fs1", fake), reconcile_delay=0.01, reconnect_initial=0.05)
    state = RegistrationState(["fs1"])
    delivered: list[Change] = []

    def sink(batch: list[Change]) -> None:
        delivered.extend(batch)
        state.apply_all(batch)

    listener = Listener(config, sink, asyncio.get_running_loop())
    await listener.start()
    try:
        listener.follow("fs1")
        # The follower sends its first reconcile command only after Snapshot and UP were
        # handed to this loop (the hub hands a burst over before its next timer fires).
        hold_loop_until(
            lambda: any(c.endswith(PROFILES_COMMAND) for c in fake.commands),
            what="the follower did not come up",
        )
        assert state.node_state("fs1") is NodeState.NOT_STARTED  # nothing delivered yet
        # What RegistrationStore._lose does, in the same loop turn: unfollow, then STANDBY.
        listener.unfollow("fs1")
        state.apply(NodeChanged("fs1", NodeState.STANDBY, time.time(), "not followed here: lock lost"))
        await eventually(lambda: fake.live == 0, what="the follower's connection closes")
        # Well past the queued batch: a few more turns of the loop change nothing.
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert state.node_state("fs1") is NodeState.STANDBY
        assert not any(isinstance(c, Snapshot) for c in delivered)
        assert [c.state for c in delivered if isinstance(c, NodeChanged)] == []
        # A new follow of the same node is the current one again: its changes count.
        listener.follow("fs1")
        await eventually(lambda: state.node_state("fs1") is NodeState.UP)
        assert fake.connections == 2
    finally:
        await listener.stop()


async def test_given_loop_blocked_past_lock_idle_timeout_then_the_lock_thread_keeps_the_node(
    fake_elsewhere: FakeEslServer, database_url: str, conn: asyncpg.Connection
) -> None:
    """A loop busy for seconds (a 10,000-binding snapshot applied, a full collection, a
    loaded machine: seen at 500,000 bindings, issue 25) no longer costs the node: the lock
    thread confirms the locks and moves the hub's deadline by itself, so the connection stays
    open, PostgreSQL never frees the lock, and no other instance can take the node. (Before,
    the hub closed the connection at ``lock_timeout`` and the node moved to another instance;
    a partition, where no confirmation comes, still does that: test_failover.py.)"""
    fake = fake_elsewhere
    config = replace(
        fs_config(("fs1", fake), reconcile_delay=60),
        lock_timeout=1.0, takeover_interval=0.2, lock_idle_timeout=3,
    )
    database = await Database.connect(database_url, DatabaseConfig(url=database_url))
    state = RegistrationState(["fs1"])
    listener = Listener(config, state.apply_all, asyncio.get_running_loop())
    locks = NodeLocks(database_url, config, connect_timeout=5, on_confirmed=listener.confirm)
    store = RegistrationStore(
        database, state, config, locks=locks, instance="busy",
        follow=listener.follow, unfollow=listener.unfollow,
    )
    await listener.start()
    try:
        await store.take_over()
        assert store.owned == {"fs1"}
        await eventually(lambda: state.node_state("fs1") is NodeState.UP and fake.live == 1)
        closed: list[float] = []
        blocked_until = time.monotonic() + config.lock_idle_timeout + 1.5

        def watched() -> bool:
            if fake.live != 1:
                closed.append(time.monotonic())
            return time.monotonic() > blocked_until

        hold_loop_until(watched, timeout=config.lock_idle_timeout + 5)
        assert closed == [], "the connection closed while the loop was busy"
        assert not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key("fs1"))
        await store.take_over()  # the loop runs again: nothing was lost
        assert store.owned == {"fs1"} and locks.held == {"fs1"}
        assert state.node_state("fs1") is NodeState.UP and fake.connections == 1
    finally:
        await listener.stop()
        await store.release()
        await database.close()


async def test_given_a_hand_over_then_the_lock_is_freed_only_after_the_connection_closed(
    fake_elsewhere: FakeEslServer, database_url: str
) -> None:
    """The spreading hand-over unfollowed the node, then freed its lock at once, while the
    hub still said goodbye (``exit``, up to a second unanswered on a busy node): the taker,
    which connects as soon as it has the lock, overlapped with the old connection."""
    fake = fake_elsewhere
    fake.mute_after_snapshot = True  # answers no `exit`: the old goodbye took its full second
    nodes = (
        FreeSwitchNode.from_url("esl://fs1:ClueCon@127.0.0.1:1"),  # nothing listens: never up
        FreeSwitchNode.from_url(fake.url("fs2")),
    )
    config = replace(fs_config(("fs2", fake), reconcile_delay=60), nodes=nodes)
    database = await Database.connect(database_url, DatabaseConfig(url=database_url))
    state = RegistrationState(["fs1", "fs2"])
    listener = Listener(config, state.apply_all, asyncio.get_running_loop())
    locks = NodeLocks(database_url, config, connect_timeout=5, on_confirmed=listener.confirm)
    store = RegistrationStore(
        database, state, config, locks=locks, instance="giver",
        follow=listener.follow, unfollow=listener.unfollow,
        unfollowed=listener.unfollowed,
    )
    taker = NodeLocks(database_url, config, connect_timeout=5)
    await listener.start()
    try:
        await store.take_over()  # alone: both nodes
        assert store.owned == {"fs1", "fs2"}
        await eventually(lambda: state.node_state("fs2") is NodeState.UP and fake.live == 1)
        await taker.poll([], most=0)  # a second instance: fs2 is beyond this one's share

        async def handed() -> bool:
            await store.take_over()
            return "fs2" not in locks.held

        await eventually_async(handed, what="fs2 was not handed over")
        # The lock is free now: the connection must already be closed (the fake, on its own
        # loop, sees the end within milliseconds; the old goodbye kept it a second).
        hold_loop_until(
            lambda: fake.live == 0, timeout=0.5, what="the lock was freed with the connection open"
        )
        gained, _ = await taker.poll(["fs2"], most=8)
        assert gained == {"fs2"}
        assert store.owned == {"fs1"}
    finally:
        await listener.stop()
        await store.release()
        await taker.close()
        await database.close()
