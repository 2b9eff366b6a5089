"""The board: Deltas and guard events into stream messages, failures, "failing now" and the chart (pure)."""

from __future__ import annotations

from dataclasses import replace

from bridge.console.board import MAX_BINDINGS_PER_MESSAGE, Board
from bridge.console.hub import Payload
from bridge.guard.attempt import Attempt
from bridge.guard.engine import BanChanged, Judged
from bridge.guard.outcome import Reason
from bridge.guard.store import Ban
from bridge.registrations.model import Delta, NodeState, NodeStatus
from tests.console.helpers import captured_binding

NOW = 1_800_000_030.0  # mid-minute: the attempts a few seconds before fall in the same minute
Message = tuple[str, dict[str, object], str | None]


def board() -> tuple[Board, list[Message]]:
    sent: list[Message] = []

    def publish(kind: str, payload: Payload, domain: str | None) -> None:
        sent.append((kind, payload() if callable(payload) else payload, domain))  # as the hub encodes it

    return Board(publish, attempts_kept=3, clock=lambda: NOW), sent


def attempt(reason: Reason, at: float = NOW, agent: str = "baresip") -> Attempt:
    return Attempt(
        at, "fs1", "192.0.2.40", "5060", agent, "1001", "xswitch.test", "REGISTER", reason, "lookup"
    )


def test_a_removal_naming_only_its_token_is_streamed_to_the_bindings_domain() -> None:
    b, sent = board()
    binding = captured_binding(realm="XSwitch.Test")
    b.delta(Delta("fs1", upserted=[binding]))
    b.delta(Delta("fs1", removed=[binding.token, "never-seen"]))
    assert [(kind, payload.get("op"), domain) for kind, payload, domain in sent] == [
        ("registration", "upsert", "xswitch.test"),
        ("registration", "remove", "xswitch.test"),  # the unknown token is nobody's: not sent
    ]
    assert b.chart(None)["registrations"][-1] == 1  # type: ignore[index]


def test_a_snapshot_or_a_large_reconcile_is_one_refresh_message() -> None:
    b, sent = board()
    many = [replace(captured_binding(), token=f"t{n}") for n in range(MAX_BINDINGS_PER_MESSAGE + 1)]
    b.delta(Delta("fs1", upserted=many[:2], replaced=True))
    b.delta(Delta("fs1", upserted=many, reconciled=True))
    assert sent == [
        ("registrations_refresh", {"node": "fs1", "reason": "snapshot"}, None),
        ("registrations_refresh", {"node": "fs1", "reason": "reconcile"}, None),
    ]
    assert b.chart(None)["registrations"][-1] == 0  # type: ignore[index]  # not new registrations


def test_failures_are_kept_newest_first_bounded_and_in_scope_and_make_failing_now() -> None:
    b, sent = board()
    for n in range(4):
        b.guard(Judged(f"100{n}@xswitch.test", attempt(Reason.WRONG_PASSWORD, NOW - n)))
    b.guard(Judged("2000@other.test", attempt(Reason.UNKNOWN_USER)))
    b.guard(Judged("1001@xswitch.test", attempt(Reason.REGISTERED)))  # 1001 is fine again
    assert [f["user"] for f in b.failures(None)] == [
        "2000@other.test",
        "1003@xswitch.test",
        "1002@xswitch.test",
    ]
    assert [f["user"] for f in b.failures("xswitch.test")] == ["1003@xswitch.test", "1002@xswitch.test"]
    assert b.failing(None) == 4 and b.failing("other.test") == 1
    assert b.chart("xswitch.test")["failures"][-1] == 4  # type: ignore[index]
    kinds = {(kind, payload["failed"], domain) for kind, payload, domain in sent}
    assert kinds == {("attempt", True, "xswitch.test"), ("attempt", True, "other.test"),
                     ("attempt", False, "xswitch.test")}  # fmt: skip


def test_a_failure_older_than_five_minutes_is_not_failing_now() -> None:
    b, _ = board()
    b.guard(Judged("1001@xswitch.test", attempt(Reason.WRONG_PASSWORD, NOW - 301)))
    assert b.failing(None) == 0


def test_bans_are_streamed_with_the_domain_of_a_limit_and_none_for_a_source() -> None:
    b, sent = board()
    source = Ban("192.0.2.99", "", "scanner_agent", 1, NOW, NOW + 600)
    limit = Ban("198.51.100.20", "1001@xswitch.test", "extension_failures", 1, NOW, NOW + 600)
    b.guard(BanChanged(source, lifted=False))
    b.guard(BanChanged(limit, lifted=True))
    assert [(payload["op"], domain) for _, payload, domain in sent] == [
        ("added", None),
        ("lifted", "xswitch.test"),
    ]


def test_a_node_is_streamed_when_it_changes_and_a_state_change_refreshes_its_bindings() -> None:
    b, sent = board()
    up = NodeStatus("fs1", NodeState.UP, NOW, NOW, 2)
    b.nodes([up])
    b.nodes([up])
    b.nodes([replace(up, state=NodeState.DOWN, last_error="connection refused")])
    assert [kind for kind, _, _ in sent] == ["node", "node", "registrations_refresh"]
