"""The standby mirror reads only the rows changed since its own last read.

With 50 nodes and 100,000 bindings (bench/scale_registrations.py) every instance re-read and
rebuilt every binding of every changed node each ``sync_interval``, on the event loop:
seconds a pass on a loaded machine, and 500,000 bindings could not be held. Each write
transaction now bumps its node's version and stamps its rows; a delete leaves a removal
record. A mirror reads a node whose version moved from the version it read last, applies
the changes per binding (each reported once), and reads a node whole only when it never
read it, followed it itself meanwhile, or fell behind the purge of removal records.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

import asyncpg
import pytest

from bridge.config import DatabaseConfig, FreeSwitchConfig, FreeSwitchNode
from bridge.db import Database
from bridge.metrics import Metrics
from bridge.registrations import events
from bridge.registrations.locks import NodeLocks
from bridge.registrations.model import Delta, NodeState, Registration
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import frame_body
from tests.registrations import frames
from tests.support.metrics import sample
from tests.support.poll import eventually_async

CAPTURE_TIME = 1795393500.0  # the captured bindings expire at 1795397081


def _change(frame: bytes) -> events.Change:
    change = events.to_change("fs1", json.loads(frame_body(frame)), now=CAPTURE_TIME)
    assert change is not None
    return change


def _registered(frame: bytes) -> Registration:
    change = _change(frame)
    assert isinstance(change, events.Registered)
    return change.registration


@dataclass
class Instance:
    """One bridge instance's registration side: its state, its store, the Deltas it reported."""

    state: RegistrationState
    store: RegistrationStore
    metrics: Metrics
    deltas: list[Delta] = field(default_factory=list)

    def users(self) -> list[str]:
        return sorted(r.reg_user for r in self.state.bindings_of_node("fs1"))

    def reported(self) -> list[tuple[list[str], list[str]]]:
        """(upserted users, removed tokens) of each binding Delta since the last call."""
        found = [
            (sorted(r.reg_user for r in d.upserted), sorted(d.removed))
            for d in self.deltas
            if d.upserted or d.removed
        ]
        self.deltas.clear()
        return found


Make = Callable[..., Instance]


@pytest.fixture
async def make(database_url: str) -> AsyncIterator[Make]:
    database = await Database.connect(database_url, DatabaseConfig(url=database_url))
    made: list[Instance] = []

    def build(name: str, nodes: tuple[str, ...] = ("fs1",), **settings: float) -> Instance:
        urls = tuple(FreeSwitchNode.from_url(f"esl://{n}:ClueCon@127.0.0.1:1") for n in nodes)
        config = FreeSwitchConfig(nodes=urls, spread=False, **settings)  # type: ignore[arg-type]
        state = RegistrationState(list(nodes), clock=lambda: CAPTURE_TIME)
        metrics = Metrics()
        store = RegistrationStore(
            database, state, config, locks=NodeLocks(database_url, config, connect_timeout=5),
            instance=name, follow=lambda _: None, unfollow=lambda _: None, metrics=metrics,
        )  # fmt: skip
        instance = Instance(state, store, metrics)
        state.subscribe(instance.deltas.append)
        made.append(instance)
        return instance

    try:
        yield build
    finally:
        for instance in made:
            await instance.store.release()
        await database.close()


async def _follow(instance: Instance) -> None:
    async def followed() -> bool:
        await instance.store.take_over()  # a lock freed by a session that ended: soon free
        return instance.store.owned == {"fs1"}

    await eventually_async(followed, what="the node was not taken")
    instance.state.apply(events.NodeChanged("fs1", NodeState.UP, time.time()))


async def test_the_mirror_applies_adds_refreshes_deletes_and_replaces_per_binding_and_reads_nothing_unchanged(
    make: Make, conn: asyncpg.Connection
) -> None:
    follower, standby = make("follower"), make("standby")
    await _follow(follower)
    follower.state.apply(_change(frames.REGISTER_1001))
    follower.state.apply(_change(frames.REGISTER_1002))
    await follower.store.flush()
    await standby.store.tick()  # never read: the node whole
    assert standby.state.node_state("fs1") is NodeState.STANDBY
    assert standby.users() == ["1001", "1002"]
    assert standby.store.mirror_rows == 2

    # Unchanged: no row is read, nothing reported.
    standby.reported()
    await follower.store.flush()  # a publish without writes does not move the version
    await standby.store.tick()
    await standby.store.tick()
    assert standby.store.mirror_rows == 2
    assert standby.reported() == []

    # A refresh: one row read, one upsert reported.
    held = _registered(frames.REGISTER_1002)
    refreshed = replace(held, expires=str(held.expires_at + 60))
    follower.state.apply(events.Registered("fs1", refreshed))
    await follower.store.flush()
    await standby.store.tick()
    assert standby.store.mirror_rows == 3
    assert sample(standby.metrics.registry, "bridge_registration_mirror_rows_total", kind="whole") == 2
    assert sample(standby.metrics.registry, "bridge_registration_mirror_rows_total", kind="changed") == 1
    assert [d.mirrored for d in standby.deltas] == [True]  # read, not seen: the guard skips it
    assert standby.reported() == [(["1002"], [])]
    [mirrored] = [r for r in standby.state.bindings_of_node("fs1") if r.reg_user == "1002"]
    assert mirrored.expires == refreshed.expires

    # A delete: one removal record read, one removal reported, 1002 untouched.
    follower.state.apply(_change(frames.UNREGISTER_1001))
    await follower.store.flush()
    await standby.store.tick()
    assert standby.users() == ["1002"]
    assert standby.store.mirror_rows == 4
    assert standby.reported() == [([], [_registered(frames.REGISTER_1001).token])]

    # Deleted, then back, between two reads: live, reported as one upsert (not removed first).
    follower.state.apply(_change(frames.REGISTER_1001))
    await follower.store.flush()
    follower.state.apply(_change(frames.UNREGISTER_1001))
    await follower.store.flush()
    follower.state.apply(_change(frames.REGISTER_1001))
    await follower.store.flush()
    await standby.store.tick()
    assert standby.users() == ["1001", "1002"]
    assert standby.reported() == [(["1001"], [])]

    # A resync (the follower's snapshot replaces the node): the binding it lacks is removed,
    # the one it keeps unchanged is rewritten but not reported again.
    follower.state.apply(events.Snapshot("fs1", (_registered(frames.REGISTER_1001),)))
    await follower.store.flush()
    await standby.store.tick()
    assert standby.users() == ["1001"]
    assert standby.reported() == [([], [refreshed.token])]
    rows = await conn.fetch("SELECT token FROM bridge_registrations")
    assert [r["token"] for r in rows] == [_registered(frames.REGISTER_1001).token]

    # A binding only this state holds is neither read nor replaced by an incremental pass.
    standby.state.apply(events.Registered("fs1", replace(refreshed, token="only-here", reg_user="9999")))
    follower.state.apply(events.Registered("fs1", refreshed))
    await follower.store.flush()
    await standby.store.tick()
    assert standby.users() == ["1001", "1002", "9999"]


async def test_given_a_mirror_behind_the_purge_of_removal_records_then_it_reads_the_node_whole(
    make: Make, conn: asyncpg.Connection
) -> None:
    follower, standby = make("follower", removals_kept=1), make("standby", removals_kept=1)
    await _follow(follower)
    follower.state.apply(_change(frames.REGISTER_1001))
    follower.state.apply(_change(frames.REGISTER_1002))
    await follower.store.flush()
    await standby.store.tick()
    assert standby.store.mirror_rows == 2

    follower.state.apply(_change(frames.UNREGISTER_1001))
    await follower.store.flush()
    assert await conn.fetchval("SELECT count(*) FROM bridge_registration_removals") == 1
    # The standby sleeps past removals_kept (1 s): its record is purged.
    await conn.execute("UPDATE bridge_registration_removals SET removed_at = now() - interval '1 minute'")

    async def purged() -> bool:
        await follower.store.flush()
        return bool(await conn.fetchval("SELECT count(*) FROM bridge_registration_removals") == 0)

    await eventually_async(purged, what="the follower did not purge the old removal record")
    assert await conn.fetchval("SELECT purged_through FROM bridge_esl_nodes") > 0
    await standby.store.tick()
    assert standby.users() == ["1002"]
    assert standby.store.mirror_rows == 3  # the node whole: the one row left
    assert standby.deltas[-1].replaced  # a Snapshot: the node's set replaced whole


async def test_given_a_hand_over_then_every_mirror_ends_with_the_new_followers_bindings(
    make: Make, conn: asyncpg.Connection
) -> None:
    old, new, standby = make("old"), make("new"), make("standby")
    await _follow(old)
    old.state.apply(_change(frames.REGISTER_1001))
    old.state.apply(_change(frames.REGISTER_1002))
    await old.store.flush()
    await standby.store.tick()
    await new.store.tick()
    assert standby.users() == new.users() == ["1001", "1002"]
    # The old follower's lock session ends (killed, or handed over): the new one takes the
    # node and loads FreeSWITCH's snapshot, where 1001 is gone and 1002 refreshed.
    old.state.apply(_change(frames.UNREGISTER_1001))  # seen by the old, never written
    await old.store._locks.drop("test: the old follower's session ended")
    await _follow(new)
    await old.store.take_over()  # finds the node held elsewhere: stops following it
    assert old.store.owned == set()
    assert old.state.node_state("fs1") is NodeState.STANDBY
    refreshed = replace(_registered(frames.REGISTER_1002), expires=str(int(CAPTURE_TIME) + 4000))
    new.state.apply(events.Snapshot("fs1", (refreshed,)))
    await new.store.flush()  # the takeover's resync: every binding rewritten, 1001 removed
    written = await conn.fetch("SELECT token FROM bridge_registrations")
    assert [r["token"] for r in written] == [refreshed.token]

    standby.reported()
    rows_before = standby.store.mirror_rows
    await standby.store.tick()  # incremental: 1002's row and 1001's removal record
    assert standby.users() == ["1002"]
    assert standby.store.mirror_rows == rows_before + 2
    assert standby.reported() == [(["1002"], [_registered(frames.REGISTER_1001).token])]

    old.reported()
    rows_before = old.store.mirror_rows
    await old.store.tick()  # it followed the node since its last read: the node whole
    assert old.users() == ["1002"]
    assert old.store.mirror_rows == rows_before + 1
    assert old.state.bindings_of_node("fs1") == [refreshed]


@pytest.mark.parametrize("page", [1, 2, 2000], ids=["page-1", "page-2", "page-default"])
async def test_given_pages_of_any_size_then_whole_and_changed_reads_get_every_binding(
    make: Make, page: int
) -> None:
    follower, standby = make("follower"), make("standby", mirror_page_rows=page)
    await _follow(follower)
    registered = [
        _registered(f) for f in (frames.REGISTER_1001, frames.REGISTER_1002, frames.REGISTER_1060_SIPP)
    ]
    for registration in registered:
        follower.state.apply(events.Registered("fs1", registration))
    await follower.store.flush()
    await standby.store.tick()
    assert standby.users() == ["1001", "1002", "1060"]
    assert standby.store.mirror_rows == 3
    # Three refreshed: more than a page of changes is read node by node, in pages.
    standby.reported()
    for registration in registered:
        follower.state.apply(
            events.Registered("fs1", replace(registration, expires=str(int(CAPTURE_TIME) + 4000)))
        )
    await follower.store.flush()
    await standby.store.tick()
    assert {r.expires for r in standby.state.bindings_of_node("fs1")} == {str(int(CAPTURE_TIME) + 4000)}
    assert standby.reported() == [(["1001", "1002", "1060"], [])]
    assert standby.store.mirror_rows == 6


async def test_given_changes_on_several_nodes_past_a_page_then_each_node_gets_its_own(make: Make) -> None:
    nodes = ("fs1", "fs2", "fs3")
    follower, standby = make("follower", nodes), make("standby", nodes, mirror_page_rows=2)

    async def followed() -> bool:
        await follower.store.take_over()
        return follower.store.owned == set(nodes)

    await eventually_async(followed, what="the nodes were not taken")
    base = _registered(frames.REGISTER_1001)
    for name in nodes:
        follower.state.apply(events.NodeChanged(name, NodeState.UP, time.time()))
        for user in ("1", "2"):
            binding = replace(base, node=name, token=f"{name}-{user}", reg_user=f"{name}-{user}")
            follower.state.apply(events.Registered(name, binding))
    await follower.store.flush()
    await standby.store.tick()
    held = {n: sorted(r.token for r in standby.state.bindings_of_node(n)) for n in nodes}
    assert held == {n: [f"{n}-1", f"{n}-2"] for n in nodes}
    # fs1: one refreshed; fs2: both refreshed; fs3: one deleted. 3 rows: past the page of 2.
    later = str(int(CAPTURE_TIME) + 4000)
    changed = [("fs1", "1"), ("fs2", "1"), ("fs2", "2")]
    for name, user in changed:
        binding = replace(base, node=name, token=f"{name}-{user}", reg_user=f"{name}-{user}", expires=later)
        follower.state.apply(events.Registered(name, binding))
    follower.state.apply(events.Unregistered("fs3", "expire", base.profile, "fs3-2", "", "fs3-2"))
    await follower.store.flush()
    standby.reported()
    await standby.store.tick()
    assert sorted((d.node, [r.token for r in d.upserted], d.removed) for d in standby.deltas) == [
        ("fs1", ["fs1-1"], []),
        ("fs2", ["fs2-1", "fs2-2"], []),
        ("fs3", [], ["fs3-2"]),
    ]
    assert {r.token for r in standby.state.bindings_of_node("fs1") if r.expires == later} == {"fs1-1"}
    assert standby.store.mirror_rows == 6 + 4


async def test_given_a_purge_between_the_look_and_the_read_then_the_node_is_read_whole_next(
    make: Make, conn: asyncpg.Connection
) -> None:
    follower, standby = make("follower", removals_kept=1), make("standby", removals_kept=1)
    await _follow(follower)
    follower.state.apply(_change(frames.REGISTER_1001))
    follower.state.apply(_change(frames.REGISTER_1002))
    await follower.store.flush()
    await standby.store.tick()
    read = await conn.fetchval("SELECT version FROM bridge_esl_nodes")
    follower.state.apply(_change(frames.UNREGISTER_1001))
    await follower.store.flush()
    await conn.execute("UPDATE bridge_registration_removals SET removed_at = now() - interval '1 minute'")

    async def purged() -> bool:
        await follower.store.flush()
        return bool(await conn.fetchval("SELECT purged_through FROM bridge_esl_nodes") > read)

    await eventually_async(purged, what="the follower did not purge the old removal record")
    # The pass looked before the purge and reads after it: the record it needs is gone.
    await standby.store._mirror_changes({"fs1": read})
    assert standby.users() == ["1001", "1002"]  # nothing applied from an incomplete read
    await standby.store.tick()
    assert standby.users() == ["1002"]
    assert standby.deltas[-1].replaced
