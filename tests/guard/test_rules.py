"""The rules, pure over a driven clock: scans are banned, honest offices are not."""

from __future__ import annotations

import ipaddress

from bridge.config import SCANNER_AGENTS
from bridge.guard.history import History
from bridge.guard.outcome import Reason
from bridge.guard.rules import Rules, RuleSettings, Verdict, ban_seconds
from tests.guard.test_history import attempt

SCANNER = "203.0.113.7"
OFFICE = "198.51.100.20"


def rules(**settings: object) -> Rules:
    values: dict[str, object] = {"scanner_agents": SCANNER_AGENTS}
    values.update(settings)
    return Rules(RuleSettings(**values))  # type: ignore[arg-type]


def test_many_unknown_users_from_one_source_is_a_scan() -> None:
    r = rules()
    verdicts = [
        r.failure(SCANNER, f"9{n:03d}@xswitch.test", Reason.UNKNOWN_USER, "x", 100.0 + n) for n in range(11)
    ]
    assert verdicts[:10] == [None] * 10
    assert verdicts[10] == Verdict(SCANNER, "", "unknown_users", 11)


def test_dozens_of_failed_digests_in_a_minute_are_banned_but_not_spread_over_hours() -> None:
    r = rules()
    slow = [r.failure(SCANNER, "1001@d", Reason.WRONG_PASSWORD, "x", n * 61.0) for n in range(100)]
    assert slow == [None] * 100  # one every 61 s: an honest phone retrying
    fast = [r.failure(SCANNER, "1001@d", Reason.WRONG_PASSWORD, "x", 10_000 + n) for n in range(31)]
    assert fast[-1] == Verdict(SCANNER, "", "failures", 31) and fast[:-1] == [None] * 30


def test_a_scanner_user_agent_is_banned_at_its_first_failure() -> None:
    r = rules()
    assert r.failure(SCANNER, "100@d", Reason.UNKNOWN_USER, "friendly-scanner", 1.0) == Verdict(
        SCANNER, "", "scanner_agent", 1
    )
    assert r.failure(SCANNER, "100@d", Reason.UNKNOWN_USER, "SIPVicious/0.3", 2.0) is not None
    assert r.failure("192.0.2.9", "100@d", Reason.UNKNOWN_USER, "Yealink SIP-T46S", 3.0) is None


def test_a_trusted_office_is_never_banned_and_its_bad_phone_is_limited() -> None:
    r = rules()
    r.trust(OFFICE, 0.0)  # a phone registered with the right digest
    verdicts = [
        r.failure(OFFICE, "1002@d", Reason.WRONG_PASSWORD, "friendly-scanner", 1.0 + n) for n in range(21)
    ]
    assert verdicts[:20] == [None] * 20
    assert verdicts[20] == Verdict(OFFICE, "1002@d", "extension_failures", 21)
    # Even dozens of unknown users from it never ban the whole source.
    found = [r.failure(OFFICE, f"9{n}@d", Reason.UNKNOWN_USER, "x", 60.0) for n in range(100)]
    assert [v for v in found if v is not None and not v.key] == []


def test_trust_lapses() -> None:
    r = rules(trusted_seconds=100.0)
    r.trust(OFFICE, 0.0)
    assert r.is_trusted(OFFICE, 99.0)
    assert not r.is_trusted(OFFICE, 101.0)


def test_allow_listed_sources_are_never_judged() -> None:
    r = rules(allow=(ipaddress.ip_network("203.0.113.0/24"),))
    assert all(
        r.failure(SCANNER, f"{n}@d", Reason.UNKNOWN_USER, "friendly-scanner", 1.0) is None for n in range(100)
    )


def test_ban_grows_on_repeat_and_is_capped() -> None:
    assert [ban_seconds(n, 600, 4, 86400) for n in (1, 2, 3, 4)] == [600, 2400, 9600, 38400]
    assert ban_seconds(5, 600, 4, 86400) == 86400
    assert ban_seconds(10_000, 600, 4, 86400) == 86400


def test_memory_is_bounded() -> None:
    r = rules(max_sources=1000)
    for n in range(5000):
        r.failure(f"10.0.{n // 250}.{n % 250}", "1@d", Reason.WRONG_PASSWORD, "x", 1.0)
        r.trust(f"10.1.{n // 250}.{n % 250}", 1.0)
    assert r.sizes()["sources"] == 1000 and r.sizes()["trusted"] == 1000
    history = History(per_extension=5, extensions=100)
    for n in range(1000):
        history.add(f"{n % 300}@d", attempt(float(n)))
    assert len(history) == 100 and history.attempts() <= 500
    history = History(per_extension=5, extensions=100)
    for n in range(1000):
        history.add(f"{n % 100}@d", attempt(float(n)))
    assert history.attempts() == 500
