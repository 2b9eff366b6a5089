"""What a node sends is checked and clamped: variants derived from the captured REGISTER."""

from __future__ import annotations

import logging

import pytest

from bridge.registrations import events
from bridge.registrations.model import NodeState, Registration
from bridge.registrations.sanitize import Limits, Refused, checked
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import SNAPSHOT_NONE, FakeEslServer
from tests.registrations import frames
from tests.registrations.frames import respliced
from tests.registrations.helpers import following, fs_config
from tests.registrations.test_events_state import NOW, change_of
from tests.support.metrics import sample
from tests.support.poll import eventually

LIMITS = Limits(max_expires=86400, max_field=512)


def registration_of(frame: bytes) -> Registration:
    change = change_of(frame)
    assert isinstance(change, events.Registered)
    return change.registration


def variant(*pairs: tuple[bytes, bytes]) -> bytes:
    frame = frames.REGISTER_1001
    for old, new in pairs:
        frame = respliced(frame, old, new)
    return frame


def _user(value: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b'"to-user":"1001"', b'"to-user":"' + value + b'"'),
        (b'"from-user":"1001"', b'"from-user":"' + value + b'"'),
    ]


@pytest.mark.parametrize(
    "pairs",
    [
        pytest.param(_user(b"10\\n01"), id="newline-in-user"),
        pytest.param(_user(b"<b>1001</b>"), id="markup-in-user"),
        pytest.param(_user(b""), id="empty-user"),
        pytest.param([(b'"realm":"xswitch.test"', b'"realm":"xswitch.test\\r\\n"')], id="crlf-in-realm"),
        pytest.param([(b'"network-ip":"127.0.0.1"', b'"network-ip":"127.0.0.1\\r\\nX: y"')], id="crlf-in-ip"),
        pytest.param([(b'"network-port":"5071"', b'"network-port":"99999"')], id="absurd-port"),
        pytest.param([(b'"network-port":"5071"', b'"network-port":"-1"')], id="negative-port"),
    ],
)
def test_a_binding_with_an_unusable_field_is_refused(pairs: list[tuple[bytes, bytes]]) -> None:
    registration = registration_of(variant(*pairs))
    with pytest.raises(Refused):
        checked(registration, now=NOW, limits=LIMITS)


def test_an_expiry_far_ahead_is_clamped_and_then_swept() -> None:
    huge = registration_of(variant((b'"expires":"3600"', b'"expires":"1000000000000000000000"')))
    clamped = checked(huge, now=NOW, limits=LIMITS)
    assert clamped.expires_at == int(NOW) + 86400
    state = RegistrationState(["fs1"], clock=lambda: NOW)
    state.apply(events.NodeChanged("fs1", NodeState.UP, NOW))
    state.apply(events.Registered("fs1", clamped))
    assert [r.token for r in state.sweep(NOW + 86401)] == [clamped.token]


def test_control_characters_in_free_text_are_escaped_and_clean_text_is_kept_as_is() -> None:
    dirty = registration_of(
        variant(
            (b'"user-agent":"baresip v1.0.0 (x86_64/linux)"', b'"user-agent":"evil\\r\\nX-Forged: 1\\u0000"')
        )
    )
    assert checked(dirty, now=NOW, limits=LIMITS).user_agent == "evil\\x0d\\x0aX-Forged: 1\\x00"
    clean = registration_of(frames.REGISTER_1001)
    assert checked(clean, now=NOW, limits=LIMITS) is clean  # nothing to change: not copied


@pytest.mark.parametrize(
    ("written", "held"),
    [
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:10.0.0.5", "::ffff:a00:5"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_an_address_is_held_in_its_canonical_form_every_time(written: str, held: str) -> None:
    reg = registration_of(variant((b'"network-ip":"127.0.0.1"', f'"network-ip":"{written}"'.encode())))
    for _ in range(2):  # the second from the remembered parse
        assert checked(reg, now=NOW, limits=LIMITS).network_ip == held


def test_an_address_longer_than_any_ip_is_refused_unparsed() -> None:
    reg = registration_of(variant((b'"network-ip":"127.0.0.1"', b'"network-ip":"' + b"1" * 5000 + b'"')))
    with pytest.raises(Refused, match="bad network_ip"):
        checked(reg, now=NOW, limits=LIMITS)


def test_given_node_at_its_cap_then_new_bindings_are_refused_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused: list[tuple[str, int]] = []
    state = RegistrationState(
        ["fs1"], clock=lambda: NOW, max_bindings_per_node=1, on_refused=lambda n, c: refused.append((n, c))
    )
    state.apply(events.NodeChanged("fs1", NodeState.UP, NOW))
    caplog.set_level(logging.WARNING)
    assert state.apply(change_of(frames.REGISTER_1001)) is True  # type: ignore[arg-type]
    assert state.apply(change_of(frames.REGISTER_1002)) is False  # type: ignore[arg-type]
    assert state.apply(change_of(frames.REGISTER_1002)) is False  # type: ignore[arg-type]
    assert [r.reg_user for r in state.all_registrations()] == ["1001"]
    assert refused == [("fs1", 1), ("fs1", 1)]
    assert sum("max_bindings_per_node" in r.getMessage() for r in caplog.records) == 1
    # A refresh of a held binding is not a new one.
    assert state.apply(change_of(frames.REGISTER_1001)) is False  # type: ignore[arg-type]


async def test_given_forged_event_then_it_is_refused_and_counted_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await FakeEslServer(snapshot=SNAPSHOT_NONE).start()
    forged = variant((b'"network-ip":"127.0.0.1"', b'"network-ip":"127.0.0.1\\r\\nX: y"'))
    try:
        async with following(fs_config(("fs1", server), reconcile_delay=60)) as h:
            await server.wait_subscribed()
            await server.push(forged, frames.REGISTER_1002)
            await eventually(lambda: [r.reg_user for r in h.state.all_registrations()] == ["1002"])
            assert (
                sample(h.metrics.registry, "bridge_registration_refused_total", node="fs1", reason="invalid")
                == 1
            )
            assert not any("127.0.0.1\r\n" in r.getMessage() for r in caplog.records)
    finally:
        await server.close()
