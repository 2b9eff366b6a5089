"""Issue 21 item 12: a node whose clock is behind. Expiry is kept on bridge's clock (the
event's relative ``expires``) and the node's clock error is reported."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import pytest

from bridge.registrations import readiness
from bridge.registrations.model import NodeState
from tests.fakes.esl_server import SNAPSHOT_LIVE, FakeEslServer, frame_body
from tests.registrations import frames
from tests.registrations.helpers import following, fs_config
from tests.support.poll import eventually

D = "xswitch.test"
BEHIND = 600.0  # the node's clock, 10 minutes behind bridge's
CAPTURE_TIME = 1795393500.0  # the captured snapshot's bindings expire soon after


def fired_behind(frame: bytes, seconds: float) -> bytes:
    """The captured frame as a node whose clock is ``seconds`` behind sends it now: every
    Event-Date header rewritten, the rest of the bytes as captured."""
    headers = json.loads(frame_body(frame))
    fired = time.time() - seconds
    new = {
        "Event-Date-Timestamp": str(int(fired * 1_000_000)),
        "Event-Date-GMT": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(fired)),
        "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(fired)),
    }
    for name, value in new.items():
        old = f'"{name}":"{headers[name]}"'.encode()
        frame = frames.respliced(frame, old, f'"{name}":"{value}"'.encode())
    return frame


@pytest.fixture
async def fake() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer().start()
    yield server
    await server.close()


async def test_given_node_clock_ten_minutes_behind_then_bindings_live_their_expires_and_skew_is_reported(
    fake: FakeEslServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.registrations")
    config = fs_config(("fs1", fake))
    async with following(config) as harness:
        await fake.wait_subscribed()
        await eventually(lambda: harness.state.nodes()[0].state is NodeState.UP)
        await fake.push(fired_behind(frames.REGISTER_1001, BEHIND))
        await eventually(lambda: harness.state.is_online(D, "1001"))

        (binding,) = harness.state.registrations_of(D, "1001")
        # expires 3600 + the late margin, counted from arrival on bridge's clock.
        expected = time.time() + 3600 + config.expires_late_margin
        assert abs(int(binding.expires) - expected) < 30
        assert harness.state.sweep(now=time.time() + 60) == []
        assert harness.state.is_online(D, "1001")

        skew = harness.listener.clock_skews["fs1"]
        assert -BEHIND - 30 < skew < -BEHIND + 1
        scraped = harness.metrics.registry.get_sample_value(
            "bridge_node_clock_skew_seconds", {"node": "fs1"}
        )
        assert scraped == skew
        warned = [r.getMessage() for r in caplog.records if "node clock off" in r.getMessage()]
        assert len(warned) == 1 and "node=fs1" in warned[0]
        report = readiness.freeswitch_status(
            harness.state.nodes(), skews=harness.listener.clock_skews, skew_limit=config.clock_skew_limit
        )
        assert report.status == "degraded"
        assert report.details["nodes"]["fs1"]["clock_skew_seconds"] == round(skew, 1)

        # A second event from the same clock: no second log line; a clock put right: one line.
        # expires 30: on the node's clock it would have run out before it arrived.
        await fake.push(fired_behind(frames.REREGISTER_1002, BEHIND))
        await eventually(lambda: harness.state.is_online(D, "1002"))
        assert harness.state.sweep(now=time.time() + 5) == []
        assert harness.state.is_online(D, "1002")
        await fake.push(fired_behind(frames.UNREGISTER_1001, 0))
        await eventually(lambda: not harness.state.is_online(D, "1001"))
        messages = [r.getMessage() for r in caplog.records]
        assert sum("node clock off" in m for m in messages) == 1
        assert sum("node clock back in step" in m for m in messages) == 1
        in_step = readiness.freeswitch_status(
            harness.state.nodes(), skews=harness.listener.clock_skews, skew_limit=config.clock_skew_limit
        )
        assert in_step.status == "up" and "clock_skew_seconds" not in in_step.details["nodes"]["fs1"]


async def test_given_skew_measured_when_node_reconnects_then_snapshot_expiries_move_onto_our_clock() -> None:
    server = await FakeEslServer().start()
    try:
        config = fs_config(("fs1", server))
        async with following(config, clock=lambda: CAPTURE_TIME) as harness:
            await server.wait_subscribed()
            await server.push(fired_behind(frames.UNREGISTER_1001, BEHIND))  # measures the clock
            await eventually(lambda: "fs1" in harness.listener.clock_skews)
            server.snapshot = SNAPSHOT_LIVE
            await server.drop()  # the node reconnects and its snapshot is read again
            await eventually(lambda: harness.state.is_online(D, "1001"), timeout=10)
            expiries = {r.reg_user: int(r.expires) for r in harness.state.all_registrations()}
            shift = round(-harness.listener.clock_skews["fs1"])
            assert shift > BEHIND - 30
            # show registrations printed 1795397081 / 1795397125 on the node's clock.
            assert expiries == {"1001": 1795397081 + shift, "1002": 1795397125 + shift}
    finally:
        await server.close()
