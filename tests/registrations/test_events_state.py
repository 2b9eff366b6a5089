"""events.py and state.py over captured event bodies: records, replacement, expiry, purity."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from greenswitch.esl import ESLEvent

from bridge.registrations import events
from bridge.registrations.events import Registered, Unregistered
from bridge.registrations.model import XUI_FIELDS, Delta, NodeState, Registration
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import SNAPSHOT_LIVE, SNAPSHOT_NONE, frame_body
from tests.registrations import frames

NOW = 1795393500.0


def change_of(frame: bytes, node: str = "fs1", *, at_firing: bool = False) -> events.Change | None:
    """The change ``frame`` means, read at NOW, or (``at_firing``) the moment the node's
    Event-Date says it fired: a node whose clock agrees with ours, read without delay."""
    content_type = "text/event-plain" if b"text/event-plain" in frame else "text/event-json"
    headers = events.parse_event_body(content_type, frame_body(frame))
    now = int(headers["Event-Date-Timestamp"]) / 1_000_000 if at_firing else NOW
    return events.to_change(node, headers, now=now)


def up_state(*changes: events.Change | None, multi: tuple[str, ...] = ()) -> RegistrationState:
    state = RegistrationState(["fs1"], multiple_registrations=multi, clock=lambda: NOW)
    state.apply(events.NodeChanged("fs1", NodeState.UP, NOW))
    for change in changes:
        assert change is not None
        state.apply(change)
    return state


def test_records_built_from_register_events_equal_the_rows_of_show_registrations() -> None:
    rows = json.loads(frame_body(SNAPSHOT_LIVE))["rows"]
    built = [change_of(frames.REGISTER_1001, at_firing=True), change_of(frames.REGISTER_1002, at_firing=True)]
    assert all(isinstance(c, Registered) for c in built)
    assert [c.registration.xui_row() for c in built if isinstance(c, Registered)] == rows
    first = built[0]
    assert isinstance(first, Registered)
    assert first.registration.status == "Registered(UDP)"
    assert first.registration.user_agent == "baresip v1.0.0 (x86_64/linux)"
    assert first.registration.contact == '"" <sip:1001-0x558fdbe8d580@127.0.0.1:5071>'


def test_snapshot_without_rows_key_is_an_empty_table() -> None:
    assert events.parse_snapshot("fs1", frame_body(SNAPSHOT_NONE).decode()).registrations == ()
    live = events.parse_snapshot("fs1", frame_body(SNAPSHOT_LIVE).decode())
    assert [r.reg_user for r in live.registrations] == ["1001", "1002"]
    assert {r.profile for r in live.registrations} == {"internal"}


def test_expire_names_the_user_in_user_and_host() -> None:
    change = change_of(frames.EXPIRE_1002)
    assert change == Unregistered("fs1", "expire", "internal", "1002", "xswitch.test", "fa1a9ec46ffef287")


def test_given_single_binding_node_when_user_registers_again_then_old_binding_is_replaced() -> None:
    state = up_state(change_of(frames.REGISTER_1002), change_of(frames.REREGISTER_1002))
    assert [r.token for r in state.registrations_of("xswitch.test", "1002")] == ["fa1a9ec46ffef287"]


def test_given_multiple_registrations_node_when_user_registers_again_then_both_bindings_stay() -> None:
    state = up_state(change_of(frames.REGISTER_1002), change_of(frames.REREGISTER_1002), multi=("fs1",))
    assert len(state.registrations_of("xswitch.test", "1002")) == 2


def test_expire_removes_exactly_the_binding_it_names() -> None:
    state = up_state(change_of(frames.REGISTER_1001), change_of(frames.REGISTER_1002), multi=("fs1",))
    # the expire names call-id fa1a9ec46ffef287, which is not 1002's live binding
    assert state.apply(change_of(frames.EXPIRE_1002)) is False  # type: ignore[arg-type]
    assert state.is_online("xswitch.test", "1002")
    assert state.apply(change_of(frames.REREGISTER_1002)) is True  # type: ignore[arg-type]
    assert state.apply(change_of(frames.EXPIRE_1002)) is True  # type: ignore[arg-type]
    assert [r.token for r in state.registrations_of("xswitch.test", "1002")] == ["88098c1c87c3a17f"]


def test_unregister_removes_the_binding_and_reports_the_change_once() -> None:
    state = up_state(change_of(frames.REGISTER_1001))
    unregister = change_of(frames.UNREGISTER_1001)
    assert unregister is not None
    assert state.apply(unregister) is True
    assert state.apply(unregister) is False
    assert not state.is_online("xswitch.test", "1001")


def test_sweep_drops_bindings_whose_expiry_passed_without_an_event() -> None:
    state = up_state(change_of(frames.REGISTER_1001), change_of(frames.REREGISTER_1002))
    short = state.registrations_of("xswitch.test", "1002")[0].expires_at
    assert state.sweep(now=short - 1) == []
    assert [r.reg_user for r in state.sweep(now=short)] == ["1002"]
    assert state.is_online("xswitch.test", "1001")
    assert not state.is_online("XSWITCH.test", "1002")


def test_sweep_keeps_a_binding_refreshed_to_a_later_expiry_and_drops_it_at_the_new_one() -> None:
    registered = change_of(frames.REGISTER_1001)
    assert isinstance(registered, Registered)
    first = registered.registration
    state = up_state(registered)
    later = replace(first, expires=str(first.expires_at + 600))
    state.apply(Registered("fs1", later))
    assert state.sweep(now=first.expires_at) == []
    assert state.sweep(now=later.expires_at) == [later]
    assert state.bindings_of_node("fs1") == []


def test_sweep_after_many_refreshes_drops_each_binding_once_at_its_last_expiry() -> None:
    registered = change_of(frames.REGISTER_1001)
    assert isinstance(registered, Registered)
    first = registered.registration
    state = up_state()
    removed: list[str] = []
    state.subscribe(lambda delta: removed.extend(delta.removed))
    # 5,000 refreshes of 3 users: the entries left behind are compacted, never swept twice.
    for n in range(5000):
        for token in ("a", "b", "c"):
            expires = str(int(NOW) + 1 + n)
            state.apply(Registered("fs1", replace(first, token=token, reg_user=token, expires=expires)))
    assert state.sweep(now=NOW + 4999) == []
    assert sorted(r.token for r in state.sweep(now=NOW + 5000)) == ["a", "b", "c"]
    assert sorted(removed) == ["a", "b", "c"]
    assert state.sweep(now=NOW + 10**6) == []


@pytest.mark.parametrize("hidden", [NodeState.DOWN, NodeState.SYNCING, NodeState.CONNECTING])
def test_given_node_not_up_when_reading_then_its_bindings_are_not_reported(hidden: NodeState) -> None:
    state = up_state(change_of(frames.REGISTER_1001))
    state.apply(events.NodeChanged("fs1", hidden, NOW, "gone"))
    assert state.registrations_of("xswitch.test", "1001") == []
    assert state.all_registrations() == []
    assert not state.is_online("xswitch.test", "1001")
    [status] = state.nodes()
    assert (status.state, status.registrations, status.last_error) == (hidden, 0, "gone")


def test_counted_events_change_nothing() -> None:
    change = change_of(frames.PRE_REGISTER_1001)
    assert isinstance(change, events.Observed)
    failures = [change_of(f) for f in frames.FAILURE_FRAMES]
    assert [c.failed for c in failures if isinstance(c, events.Observed)] == [False, True, True]


def test_forged_header_in_plain_user_agent_stays_inside_the_value() -> None:
    forged = frames.respliced(
        frames.PLAIN_REGISTER_1001, b"user-agent: baresip", b"user-agent: baresip%0Acall-id%3A%20forged"
    )
    # greenswitch's own parser is fooled: the decoded newline becomes a header.
    assert ESLEvent(frame_body(forged).decode()).headers["call-id"].startswith("forged")
    change = change_of(forged)
    assert isinstance(change, Registered)
    assert change.registration.token == "6529c594651edf87"
    assert change.registration.user_agent.startswith("baresip\ncall-id: forged")


def test_given_single_binding_node_when_unregister_has_another_call_id_then_the_users_binding_goes() -> None:
    # FreeSWITCH removed 1060's binding (show registrations no longer listed it).
    state = up_state(change_of(frames.REGISTER_1060_SIPP))
    assert state.is_online("test.example", "1060")
    assert state.apply(change_of(frames.UNREGISTER_1060_OTHER_CALL_ID)) is True  # type: ignore[arg-type]
    assert not state.is_online("test.example", "1060")


def test_given_multiple_registrations_node_when_unregister_has_another_call_id_then_nothing_goes() -> None:
    # With multiple-registrations sofia deletes by the unREGISTER's Call-ID only.
    state = up_state(change_of(frames.REGISTER_1060_SIPP), multi=("fs1",))
    assert state.apply(change_of(frames.UNREGISTER_1060_OTHER_CALL_ID)) is False  # type: ignore[arg-type]
    assert state.is_online("test.example", "1060")


def test_unregister_with_contact_star_removes_the_users_bindings_and_no_other_user() -> None:
    state = up_state(change_of(frames.REGISTER_1001), change_of(frames.REGISTER_1002_RAWSIP))
    assert state.apply(change_of(frames.UNREGISTER_1002_CONTACT_STAR)) is True  # type: ignore[arg-type]
    assert [r.reg_user for r in state.all_registrations()] == ["1001"]


# ---- the one door: every change a subscriber must see comes out as a Delta ------------


def test_given_a_subscriber_then_node_states_bindings_and_freeswitchs_auth_decisions_reach_it_as_deltas(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = RegistrationState(["fs1"], clock=lambda: NOW)
    seen: list[Delta] = []

    def broken(delta: Delta) -> None:
        raise RuntimeError("a subscriber's bug")

    state.subscribe(broken)  # first: its bug must not keep the Delta from the next one
    state.subscribe(seen.append)
    failures = [change_of(frame) for frame in frames.FAILURE_FRAMES]
    decisions = [c for c in failures if isinstance(c, events.Observed) and c.auth is not None]
    assert decisions  # the captured wrong-password REGISTER has register_attempt/_failure events

    state.apply(events.NodeChanged("fs1", NodeState.UP, NOW))
    state.apply(events.NodeChanged("fs1", NodeState.UP, NOW))  # no change: no Delta
    registered = change_of(frames.REGISTER_1001)
    assert registered is not None
    state.apply(registered)
    for decision in decisions:
        state.apply(decision)

    assert [d.node_state for d in seen] == [NodeState.UP, None, *(None for _ in decisions)]
    assert isinstance(registered, Registered)
    assert seen[1].upserted == [registered.registration]
    assert [d.seen for d in seen[2:]] == [d.auth for d in decisions]
    assert len([r for r in caplog.records if "subscriber failed" in r.getMessage()]) == len(seen)


def test_a_bindings_xui_row_has_the_xui_fields_in_their_order() -> None:
    # XUI_FIELDS names list1's keys for the OpenAPI document and bridge_registrations' columns.
    beyond = {"node": "fs1", "profile": "internal", "user_agent": "ua", "status": "s", "contact": "c"}
    reg = Registration(**{name: name for name in XUI_FIELDS}, **beyond)
    assert list(reg.xui_row()) == list(XUI_FIELDS)
    assert reg.xui_row() == {name: name for name in XUI_FIELDS}
