"""The listener against a fake Event Socket replaying captured frames."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from bridge.errors import NodeUnavailable
from bridge.registrations.events import Heartbeat, Registered, Unregistered
from bridge.registrations.listener import _BATCH_MAX
from bridge.registrations.model import NodeState
from tests.fakes.esl_server import (
    API_VERSION,
    LISTING_LIVE,
    LISTING_NONE,
    SNAPSHOT_LIVE,
    SNAPSHOT_NONE,
    FakeEslServer,
)
from tests.registrations import frames
from tests.registrations.helpers import following, fs_config
from tests.support.metrics import sample
from tests.support.poll import eventually

D = "xswitch.test"


@pytest.fixture
async def fake() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer(snapshot=SNAPSHOT_LIVE).start()
    yield server
    await server.close()


def users(h_state: object) -> list[str]:
    from bridge.registrations.state import RegistrationState

    assert isinstance(h_state, RegistrationState)
    return sorted(r.reg_user for r in h_state.all_registrations())


async def test_given_snapshot_when_events_arrive_then_state_follows_them(fake: FakeEslServer) -> None:
    async with following(fs_config(("fs1", fake))) as h:
        await eventually(lambda: h.state.node_state("fs1") is NodeState.UP)
        assert users(h.state) == ["1001", "1002"]
        assert fake.commands[1].startswith("event json CUSTOM sofia::register")
        assert fake.commands[1].endswith("HEARTBEAT")
        await fake.push(frames.UNREGISTER_1001, frames.REREGISTER_1002)
        await eventually(lambda: [r.token for r in h.state.all_registrations()] == ["fa1a9ec46ffef287"])
        assert (
            sample(h.metrics.registry, "bridge_registration_events_total", node="fs1", kind="unregister") == 1
        )
        assert sample(h.metrics.registry, "bridge_esl_snapshot_loads_total", node="fs1", result="ok") == 1


async def test_given_event_racing_the_snapshot_then_the_event_wins(fake: FakeEslServer) -> None:
    # The snapshot (written asynchronously by FreeSWITCH) still shows 1001 and the old
    # 1002 binding; the events that came first say otherwise.
    fake.before_snapshot = [frames.UNREGISTER_1001, frames.REREGISTER_1002]
    async with following(fs_config(("fs1", fake))) as h:
        await eventually(lambda: h.state.node_state("fs1") is NodeState.UP)
        await eventually(lambda: [r.token for r in h.state.all_registrations()] == ["fa1a9ec46ffef287"])


async def test_given_node_drops_then_bindings_hidden_and_reconnect_loads_fresh_snapshot(
    fake: FakeEslServer,
) -> None:
    async with following(fs_config(("fs1", fake), reconnect_initial=0.3, reconnect_max=0.3)) as h:
        await eventually(lambda: users(h.state) == ["1001", "1002"])
        fake.snapshot = SNAPSHOT_NONE
        await fake.drop()
        await eventually(lambda: h.state.node_state("fs1") is not NodeState.UP)
        assert not h.state.is_online(D, "1001")
        assert h.state.all_registrations() == []
        await eventually(lambda: h.state.node_state("fs1") is NodeState.UP)
        assert h.state.bindings_of_node("fs1") == []
        assert fake.connections == 2
        assert sample(h.metrics.registry, "bridge_esl_reconnects_total", node="fs1") == 1


async def test_given_heartbeat_silence_then_node_declared_down_and_reconnected(fake: FakeEslServer) -> None:
    fake.mute_after_snapshot = True
    async with following(fs_config(("fs1", fake), heartbeat_timeout=0.3)) as h:
        await eventually(lambda: fake.connections >= 2, what="reconnected after silence")
        statuses = [c for b in h.batches for c in b if getattr(c, "state", None) is NodeState.DOWN]
        assert "no HEARTBEAT" in statuses[0].error  # type: ignore[attr-defined]


async def test_given_frame_cut_in_half_then_it_is_reassembled(fake: FakeEslServer) -> None:
    fake.snapshot = SNAPSHOT_NONE
    async with following(fs_config(("fs1", fake))) as h:
        await fake.wait_subscribed()
        half = len(frames.REGISTER_1001) // 2
        await fake.push_raw(frames.REGISTER_1001[:half])
        await fake.push_raw(frames.REGISTER_1001[half:])
        await eventually(lambda: users(h.state) == ["1001"])


async def test_given_broken_frame_then_error_counted_and_connection_restarted(fake: FakeEslServer) -> None:
    async with following(fs_config(("fs1", fake))) as h:
        await fake.wait_subscribed()
        broken = frames.REGISTER_1001.replace(b"Content-Length: 1269", b"Content-Length: many", 1)
        await fake.push_raw(broken)
        await eventually(lambda: fake.connections >= 2)
        await eventually(lambda: h.state.node_state("fs1") is NodeState.UP)
        assert sample(h.metrics.registry, "bridge_esl_frame_errors_total", node="fs1") == 1


async def test_given_bad_event_body_then_it_is_skipped_and_the_stream_goes_on(fake: FakeEslServer) -> None:
    fake.snapshot = SNAPSHOT_NONE
    async with following(fs_config(("fs1", fake))) as h:
        await fake.wait_subscribed()
        garbled = frames.respliced(frames.REGISTER_1002, b'{"Event-Subclass"', b'{"Event-Subclass"}')
        await fake.push(garbled, frames.REGISTER_1001)
        await eventually(lambda: users(h.state) == ["1001"])
        assert fake.connections == 1
        assert sample(h.metrics.registry, "bridge_esl_frame_errors_total", node="fs1") == 1


async def test_given_forged_header_in_plain_frame_then_it_is_not_a_header(fake: FakeEslServer) -> None:
    fake.snapshot = SNAPSHOT_NONE
    forged = frames.respliced(
        frames.PLAIN_REGISTER_1001, b"user-agent: baresip", b"user-agent: baresip%0Acall-id%3A%20forged"
    )
    async with following(fs_config(("fs1", fake))) as h:
        await fake.wait_subscribed()
        await fake.push(forged)
        await eventually(lambda: len(h.state.all_registrations()) == 1)
        [registration] = h.state.all_registrations()
        assert registration.token == "6529c594651edf87"


async def test_given_wrong_password_then_down_and_logged_once(
    fake: FakeEslServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.password = "RightPassword"
    config = fs_config(("fs1", fake))
    wrong = config.nodes[0].__class__(name="fs1", host="127.0.0.1", port=fake.port, password="WrongPassword")
    config = config.__class__(**{**{f: getattr(config, f) for f in config.__slots__}, "nodes": (wrong,)})
    with caplog.at_level(logging.WARNING, logger="bridge.registrations"):
        async with following(config) as h:
            await eventually(lambda: fake.connections >= 3)
            assert h.state.node_state("fs1") is not NodeState.UP
    downs = [r for r in caplog.records if "node down" in r.getMessage()]
    assert len(downs) == 1
    assert "node=fs1" in downs[0].getMessage() and "authentication refused" in downs[0].getMessage()
    assert "WrongPassword" not in caplog.text


async def test_given_silent_node_then_down_and_commands_fail_fast() -> None:
    silent = await FakeEslServer(silent=True).start()
    try:
        async with following(fs_config(("fs1", silent), command_timeout=0.2)) as h:
            await eventually(lambda: silent.connections >= 2)
            assert h.state.node_state("fs1") is not NodeState.UP
            with pytest.raises(NodeUnavailable):
                await h.listener.api("fs1", "version")
    finally:
        await silent.close()


async def test_given_two_nodes_then_each_is_followed_and_tagged(fake: FakeEslServer) -> None:
    other = await FakeEslServer(snapshot=SNAPSHOT_NONE).start()
    try:
        async with following(fs_config(("fs1", fake), ("fs2", other))) as h:
            await other.wait_subscribed()
            await other.push(frames.REREGISTER_1002)
            await eventually(lambda: len(h.state.registrations_of(D, "1002")) == 2)
            assert sorted(r.node for r in h.state.registrations_of(D, "1002")) == ["fs1", "fs2"]
            await fake.drop()
            await eventually(lambda: [r.node for r in h.state.registrations_of(D, "1002")] == ["fs2"])
    finally:
        await other.close()


async def test_commands_reach_the_node_and_in_flight_ones_fail_when_it_drops(fake: FakeEslServer) -> None:
    async with following(fs_config(("fs1", fake))) as h:
        await fake.wait_subscribed()
        assert (await h.listener.api("fs1", "version")).startswith("FreeSWITCH Version 1.10.12")
        with pytest.raises(NodeUnavailable):
            await h.listener.api("nope", "version")


async def test_a_flood_of_events_arrives_whole_and_in_order(fake: FakeEslServer) -> None:
    fake.snapshot = SNAPSHOT_NONE
    async with following(fs_config(("fs1", fake))) as h:
        await fake.wait_subscribed()
        flood = [frames.REGISTER_1001, frames.UNREGISTER_1001] * 2000 + [frames.REGISTER_1002]
        await fake.push(*flood)
        await eventually(lambda: users(h.state) == ["1002"], timeout=10)
        assert (
            sample(h.metrics.registry, "bridge_registration_events_total", node="fs1", kind="register")
            == 2001
        )
        handed = [c for batch in h.batches for c in batch if isinstance(c, Registered | Unregistered)]
        assert [type(c).__name__ for c in handed] == ["Registered", "Unregistered"] * 2000 + ["Registered"]
        assert max(len(batch) for batch in h.batches) <= _BATCH_MAX


async def test_a_burst_emitted_in_one_hub_turn_is_handed_over_in_full_batches(fake: FakeEslServer) -> None:
    # The contract without thread timing: what the hub emits in one turn of its loop is
    # handed over in batches of _BATCH_MAX, the rest when the turn ends, nothing lost.
    fake.snapshot = SNAPSHOT_NONE
    async with following(fs_config(("fs1", fake), reconcile_delay=60)) as h:
        await eventually(lambda: h.state.node_state("fs1") is NodeState.UP)
        before = len(h.batches)
        burst = [Heartbeat("fs1", float(i)) for i in range(2 * _BATCH_MAX + 1)]

        def emit_all() -> None:
            for change in burst:
                h.listener.emit(change)

        h.listener._call(emit_all)
        await eventually(lambda: sum(len(b) for b in h.batches[before:]) >= len(burst))
        sizes = [len(b) for b in h.batches[before:]]
        assert sizes == [_BATCH_MAX, _BATCH_MAX, 1]
        assert [c for b in h.batches[before:] for c in b] == burst


async def test_given_register_just_before_the_subscription_then_the_reconcile_adds_it() -> None:
    # The core table (snapshot) has nobody yet, no event comes, sofia's own table has both.
    server = await FakeEslServer(snapshot=SNAPSHOT_NONE, listing=LISTING_LIVE).start()
    try:
        async with following(fs_config(("fs1", server), reconcile_delay=0.2)) as h:
            await eventually(lambda: h.state.node_state("fs1") is NodeState.UP)
            assert users(h.state) == []
            await eventually(lambda: users(h.state) == ["1001", "1002"])
            assert "api sofia xmlstatus profile internal reg" in server.commands
            assert (
                sample(h.metrics.registry, "bridge_registration_reconciles_total", node="fs1", result="ok")
                >= 1
            )
            agents = {r.user_agent for r in h.state.all_registrations()}
            assert agents == {"baresip v1.0.0 (x86_64/linux)"}
    finally:
        await server.close()


async def test_given_phantom_binding_then_the_periodic_reconcile_removes_it(fake: FakeEslServer) -> None:
    # The snapshot lists 1001 and 1002; sofia's table (read later) has nobody.
    fake.listing = LISTING_NONE
    async with following(fs_config(("fs1", fake), reconcile_delay=0.1, reconcile_interval=0.1)) as h:
        await eventually(lambda: h.state.node_state("fs1") is NodeState.UP)
        await eventually(lambda: users(h.state) == [])
        fake.listing = LISTING_LIVE
        await eventually(lambda: users(h.state) == ["1001", "1002"])


async def test_given_event_racing_the_reconcile_then_the_event_is_applied_on_top(fake: FakeEslServer) -> None:
    # Applied before the listing, the unregister would be undone by it (1001 listed).
    fake.listing = LISTING_LIVE
    fake.before_listing = [frames.UNREGISTER_1001]
    async with following(fs_config(("fs1", fake), reconcile_delay=0.1, reconcile_interval=0)) as h:
        await eventually(
            lambda: (
                sample(h.metrics.registry, "bridge_registration_reconciles_total", node="fs1", result="ok")
                == 1
            )
        )
        await eventually(lambda: users(h.state) == ["1002"])
        reconcile_at = [i for i, b in enumerate(h.batches) if any(type(c).__name__ == "Reconcile" for c in b)]
        assert len(reconcile_at) == 1


async def test_given_unreadable_listing_then_reconcile_counted_as_error_and_state_kept(
    fake: FakeEslServer,
) -> None:
    fake.api_replies["sofia xmlstatus"] = API_VERSION
    async with following(fs_config(("fs1", fake), reconcile_delay=0.1, reconcile_interval=0.1)) as h:
        await eventually(
            lambda: (
                sample(h.metrics.registry, "bridge_registration_reconciles_total", node="fs1", result="error")
                >= 1
            )
        )
        assert users(h.state) == ["1001", "1002"]
        assert h.state.node_state("fs1") is NodeState.UP


async def test_given_unregister_with_another_call_id_then_the_binding_goes() -> None:
    server = await FakeEslServer(snapshot=SNAPSHOT_NONE).start()
    try:
        async with following(fs_config(("fs1", server), reconcile_delay=60)) as h:
            await server.wait_subscribed()
            await server.push(frames.REGISTER_1060_SIPP)
            await eventually(lambda: users(h.state) == ["1060"])
            await server.push(frames.UNREGISTER_1060_OTHER_CALL_ID)
            await eventually(lambda: users(h.state) == [])
    finally:
        await server.close()


async def test_given_node_failing_right_after_its_snapshot_then_the_backoff_keeps_growing(
    fake: FakeEslServer,
) -> None:
    # Delays 0.05, 0.1, 0.2, 0.4 (each jittered to at least half) before the 5th connect:
    # at least 0.375 s. Reset on every snapshot, the four delays would be 0.025-0.05 each.
    fake.drop_after_snapshot = True
    config = fs_config(("fs1", fake), reconnect_initial=0.05, reconnect_max=0.4, reconnect_healthy_after=30)
    started = asyncio.get_running_loop().time()
    async with following(config):
        await eventually(lambda: fake.connections >= 5, timeout=10)
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed >= 0.375


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x00\xff garbage \x80\x81\n\n", id="garbage-header"),
        pytest.param(b"Content-Length: -5\nContent-Type: text/event-json\n\n", id="negative-length"),
        pytest.param(b"Content-Length: 99999999999\n\n", id="huge-length"),
        pytest.param(b"X" * 70000, id="endless-line"),
        pytest.param(frames.REGISTER_1001[:-100], id="cut-mid-body-then-silence"),
        pytest.param(
            b"Content-Length: 10\nContent-Type: text/event-json\n\n\xff\xfe{{{{{{{{", id="binary-body"
        ),
    ],
)
async def test_given_broken_or_forged_bytes_then_the_listener_recovers(raw: bytes) -> None:
    server = await FakeEslServer(snapshot=SNAPSHOT_NONE).start()
    try:
        config = fs_config(("fs1", server), heartbeat_timeout=0.5, reconcile_delay=60)
        async with following(config) as h:
            await server.wait_subscribed()
            await server.push_raw(raw)
            # Either the frame is skipped and the stream goes on, or the connection is
            # restarted (at once, or by the HEARTBEAT watchdog when the node goes silent
            # mid-frame); either way a REGISTER sent afterwards is followed. Sent again
            # until seen: one written into the dead connection is lost with it.
            deadline = asyncio.get_running_loop().time() + 10
            while users(h.state) != ["1002"]:
                assert asyncio.get_running_loop().time() < deadline, "listener wedged"
                await server.push(frames.REGISTER_1002)
                await asyncio.sleep(0.1)
            assert h.state.node_state("fs1") is NodeState.UP
    finally:
        await server.close()


async def test_given_frame_beyond_max_frame_bytes_then_the_connection_is_restarted(
    fake: FakeEslServer,
) -> None:
    # The listing reply (1,486 bytes in the capture) is one frame.
    fake.listing = LISTING_LIVE
    config = fs_config(("fs1", fake), max_frame_bytes=1000, reconcile_delay=0.1)
    async with following(config) as h:
        await eventually(lambda: sample(h.metrics.registry, "bridge_esl_frame_errors_total", node="fs1") >= 1)
        await eventually(lambda: fake.connections >= 2)
