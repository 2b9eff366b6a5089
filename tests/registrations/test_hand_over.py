"""A hand-over for spreading never costs the instance its other nodes.

Seen in the scale run (issue 25, 3 instances, 50 nodes, a loaded machine): the hand-over's
write ran in the lock task for as long as the database took (up to
``database.connect_timeout``), the lock task sent no round trip meanwhile, and its next poll
found the locks unconfirmed for more than ``lock_timeout``: every node was given up at once
and taken by the other instances, which connected while this one's connections closed, and
so in a loop.
"""

from __future__ import annotations

import asyncpg

from bridge.config import DatabaseConfig, FreeSwitchConfig, FreeSwitchNode
from bridge.db import Database
from bridge.registrations.locks import NodeLocks
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState
from tests.support.poll import eventually_async


async def test_given_database_slow_during_a_hand_over_then_the_other_nodes_stay_held(
    database_url: str, conn: asyncpg.Connection
) -> None:
    # connect_timeout (what bounds a write) 4 s, well past lock_timeout.
    database = await Database.connect(database_url, DatabaseConfig(url=database_url, query_timeout=1))
    nodes = tuple(FreeSwitchNode.from_url(f"esl://fs{i}:ClueCon@127.0.0.1:1") for i in (1, 2))
    config = FreeSwitchConfig(nodes=nodes, lock_timeout=1.5, takeover_interval=0.2)
    locks = NodeLocks(database_url, config, connect_timeout=5)
    unfollowed: list[str] = []
    store = RegistrationStore(
        database, RegistrationState(["fs1", "fs2"]), config, locks=locks, instance="a",
        follow=lambda _: None, unfollow=unfollowed.append,
    )
    other = NodeLocks(database_url, config, connect_timeout=5)  # a second instance, wanting nothing yet
    blocker = await asyncpg.connect(database_url)
    try:
        await store.take_over()  # alone: both nodes
        assert store.owned == {"fs1", "fs2"}
        await store.flush()
        await other.poll([], most=0)  # now two members: one node is surplus
        async with blocker.transaction():
            # The database is slow: the hand-over's write waits on the nodes' rows.
            await blocker.execute("LOCK TABLE bridge_esl_nodes IN ACCESS EXCLUSIVE MODE")
            await store.take_over()  # the hand-over cannot write: it waits, then gives up
            await store.take_over()  # and this round trip still confirms both locks
            assert store.owned == {"fs1", "fs2"}
            assert locks.held == {"fs1", "fs2"}
            assert unfollowed == []
        # The database answers again: the surplus node is written, then handed over.

        async def handed() -> bool:
            await store.take_over()
            return store.owned == {"fs1"}

        await eventually_async(handed, what="the surplus node was not handed over")
        assert unfollowed == ["fs2"]
        assert locks.held == {"fs1"}
    finally:
        await blocker.close()
        await store.release()
        await other.close()
        await database.close()
