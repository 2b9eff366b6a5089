"""An instance takes free nodes a few at a time (``freeswitch.takes_per_try``), and none while
a node it took is still loading: seen at 500,000 bindings (issue 25), the first instance to
start found all 50 nodes free, took them at once, and the 50 snapshots stalled its event loop
past ``lock_timeout``, so it lost every lock, and the others after it, in a loop."""

from __future__ import annotations

import time

import asyncpg

from bridge.config import DatabaseConfig, FreeSwitchConfig, FreeSwitchNode
from bridge.db import Database
from bridge.registrations.events import NodeChanged
from bridge.registrations.locks import NodeLocks
from bridge.registrations.model import NodeState
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState


async def test_given_free_nodes_then_a_try_takes_at_most_its_share_and_none_while_one_is_loading(
    database_url: str, conn: asyncpg.Connection
) -> None:
    names = ["fs1", "fs2", "fs3", "fs4", "fs5"]
    database = await Database.connect(database_url, DatabaseConfig(url=database_url))
    nodes = tuple(FreeSwitchNode.from_url(f"esl://{n}:ClueCon@127.0.0.1:1") for n in names)
    config = FreeSwitchConfig(nodes=nodes, takes_per_try=2)
    state = RegistrationState(names)
    followed: list[str] = []
    store = RegistrationStore(
        database,
        state,
        config,
        locks=NodeLocks(database_url, config, connect_timeout=5),
        instance="a",
        follow=followed.append,
        unfollow=lambda _: None,
    )

    def loaded(*taken: str) -> None:
        for name in taken:  # what the listener reports once the node's snapshot is applied
            state.apply(NodeChanged(name, NodeState.UP, time.time()))

    try:
        await store.take_over()
        assert len(store.owned) == 2
        first = set(store.owned)
        await store.take_over()  # loading: connecting, snapshot not applied
        assert store.owned == first
        loaded(*first)
        await store.take_over()
        assert len(store.owned) == 4
        loaded(*store.owned)
        await store.take_over()
        assert store.owned == set(names)
        assert sorted(followed) == names
    finally:
        await store.release()
        await database.close()
