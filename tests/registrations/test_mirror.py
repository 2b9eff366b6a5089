"""The standby mirror reads a node's bindings again only when its rows changed.

With 50 nodes and 100,000 bindings (bench/scale_registrations.py) every instance re-read and
rebuilt every binding of the nodes it does not follow each ``sync_interval``, on the event
loop: seconds a pass on a loaded machine. A node whose (row count, newest ``updated_at``) is
unchanged is now skipped; a write, a delete or a replace changes the pair.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import asyncpg

from bridge.config import DatabaseConfig, FreeSwitchConfig, FreeSwitchNode
from bridge.db import Database
from bridge.registrations import events
from bridge.registrations.locks import NodeLocks
from bridge.registrations.model import NodeState
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import frame_body
from tests.registrations import frames

CAPTURE_TIME = 1795393500.0  # the captured bindings expire at 1795397081


def _change(frame: bytes) -> events.Change:
    change = events.to_change("fs1", json.loads(frame_body(frame)), now=CAPTURE_TIME)
    assert change is not None
    return change


def _users(state: RegistrationState) -> list[str]:
    return sorted(r.reg_user for r in state.bindings_of_node("fs1"))


async def test_the_mirror_follows_writes_and_deletes_and_skips_nodes_whose_rows_did_not_change(
    database_url: str, conn: asyncpg.Connection
) -> None:
    database = await Database.connect(database_url, DatabaseConfig(url=database_url))
    config = FreeSwitchConfig(nodes=(FreeSwitchNode.from_url("esl://fs1:ClueCon@127.0.0.1:1"),))
    follower_state = RegistrationState(["fs1"], clock=lambda: CAPTURE_TIME)
    follower = RegistrationStore(
        database, follower_state, config, locks=NodeLocks(database_url, config, connect_timeout=5),
        instance="follower", follow=lambda _: None, unfollow=lambda _: None,
    )
    standby_state = RegistrationState(["fs1"], clock=lambda: CAPTURE_TIME)
    standby = RegistrationStore(
        database, standby_state, config, locks=NodeLocks(database_url, config, connect_timeout=5),
        instance="standby", follow=lambda _: None, unfollow=lambda _: None,
    )
    try:
        await follower.take_over()
        assert follower.owned == {"fs1"}
        follower_state.apply(events.NodeChanged("fs1", NodeState.UP, time.time()))
        follower_state.apply(_change(frames.REGISTER_1001))
        follower_state.apply(_change(frames.REGISTER_1002))
        await follower.flush()
        await standby.tick()
        assert standby_state.node_state("fs1") is NodeState.STANDBY
        assert _users(standby_state) == ["1001", "1002"]

        # Nothing written since: the next passes do not read the bindings again. Seen from
        # outside: a binding only this state holds is not replaced by the table's rows.
        [held] = [r for r in standby_state.bindings_of_node("fs1") if r.reg_user == "1002"]
        standby_state.apply(events.Registered("fs1", replace(held, token="only-here", reg_user="9999")))
        await standby.tick()
        await standby.tick()
        assert _users(standby_state) == ["1001", "1002", "9999"]

        # A write (the unregister deletes 1001's row) changes the pair: read again, whole.
        follower_state.apply(_change(frames.UNREGISTER_1001))
        await follower.flush()
        await standby.tick()
        assert _users(standby_state) == ["1002"]
        assert await conn.fetchval("SELECT count(*) FROM bridge_registrations") == 1
        # A write that keeps the count (1001 back, 1002 gone) changes the newest updated_at.
        follower_state.apply(_change(frames.REGISTER_1001))
        await follower.flush()
        await conn.execute("DELETE FROM bridge_registrations WHERE reg_user = '1002'")
        await standby.tick()
        assert _users(standby_state) == ["1001"]
    finally:
        await follower.release()
        await standby.release()
        await database.close()
