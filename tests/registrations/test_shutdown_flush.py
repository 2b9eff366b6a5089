"""Shutdown cancels the sync task mid-write: the batch it held is written by release()."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from bridge.config import DatabaseConfig, FreeSwitchConfig, FreeSwitchNode
from bridge.db import Database
from bridge.registrations import events
from bridge.registrations.locks import NodeLocks
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import frame_body
from tests.registrations import frames
from tests.support.poll import eventually_async


def _registered(frame: bytes) -> events.Registered:
    change = events.to_change("fs1", json.loads(frame_body(frame)), now=0.0)
    assert isinstance(change, events.Registered)
    return change


async def test_given_flush_cancelled_by_shutdown_then_release_writes_every_accepted_binding(
    database_url: str, conn: asyncpg.Connection
) -> None:
    database = await Database.connect(database_url, DatabaseConfig(url=database_url))
    try:
        state = RegistrationState(["fs1"])
        config = FreeSwitchConfig(nodes=(FreeSwitchNode.from_url("esl://fs1:ClueCon@127.0.0.1:1"),))
        locks = NodeLocks(database_url, config, connect_timeout=5)
        store = RegistrationStore(
            database, state, config, locks=locks, instance="i1",
            follow=lambda _: None, unfollow=lambda _: None,
        )
        await store.take_over()
        assert store.owned == {"fs1"}
        accepted = [_registered(frames.REGISTER_1001), _registered(frames.REGISTER_1002)]
        state.apply_all(accepted)
        # Hold the table so the flush is inside its transaction when the shutdown comes.
        blocker = conn.transaction()
        await blocker.start()
        await conn.execute("LOCK TABLE bridge_registrations IN ACCESS EXCLUSIVE MODE")
        flushing = asyncio.create_task(store.flush())

        async def waiting_on_lock() -> bool:
            count = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            return bool(count)

        await eventually_async(waiting_on_lock, what="the flush never reached the table")
        flushing.cancel()
        await asyncio.gather(flushing, return_exceptions=True)
        await blocker.rollback()
        await store.release()
        rows = await conn.fetch("SELECT token FROM bridge_registrations ORDER BY token")
        assert [r["token"] for r in rows] == sorted(c.registration.token for c in accepted)
    finally:
        await database.close()
