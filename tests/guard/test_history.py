"""The per-extension history: bounded rings, events matched to the lookup they follow."""

from __future__ import annotations

from bridge.guard.attempt import Attempt
from bridge.guard.history import History
from bridge.guard.outcome import Reason


def attempt(at: float, ip: str = "127.0.0.1", port: str = "5071", source: str = "lookup") -> Attempt:
    return Attempt(
        at, "vm", ip, port, "baresip", "1001", "xswitch.test", "REGISTER", Reason.REGISTERED, source
    )


def test_a_ring_keeps_the_newest() -> None:
    history = History(per_extension=3, extensions=10)
    for n in range(10):
        history.add("1001@xswitch.test", attempt(float(n)))
    assert [a.at for a in history.of("1001@xswitch.test")] == [7.0, 8.0, 9.0]


def test_the_least_recent_extension_is_forgotten_first() -> None:
    history = History(per_extension=3, extensions=2)
    history.add("a", attempt(1.0))
    history.add("b", attempt(2.0))
    history.add("a", attempt(3.0))
    history.add("c", attempt(4.0))
    assert history.of("b") == () and len(history.of("a")) == 2


def test_an_event_annotates_the_matching_recent_lookup_only() -> None:
    history = History(per_extension=5, extensions=5)
    history.add("k", attempt(100.0, port="5071"))
    assert not history.annotate("k", "127.0.0.1", "5999", 95.0, "refused")  # other port
    assert not history.annotate("k", "127.0.0.1", "5071", 101.0, "refused")  # too old
    assert history.annotate("k", "127.0.0.1", "5071", 95.0, "registered")
    assert history.of("k")[-1].freeswitch == "registered"


def test_repeats_of_the_newest_attempt_are_shown_on_it_until_another_is_added() -> None:
    history = History(per_extension=5, extensions=5)
    history.add("k", attempt(100.0), proof="the first digest")
    history.repeat("k", 130.0)
    history.repeat("k", 160.0)
    newest = history.of("k")[-1]
    assert (newest.at, newest.repeats, newest.last_at, newest.latest) == (100.0, 2, 160.0, 160.0)
    assert history.proof("k") == "the first digest"
    history.add("k", attempt(170.0, port="5999"))
    assert [(a.at, a.repeats, a.latest) for a in history.of("k")] == [(100.0, 2, 160.0), (170.0, 0, 170.0)]
    assert history.proof("k") is None


def test_an_event_after_a_repeat_matches_the_repeated_attempt_and_a_refusal_shows() -> None:
    history = History(per_extension=5, extensions=5)
    history.add("k", attempt(100.0), proof="proof")
    history.repeat("k", 200.0)
    # The event follows the latest repeat (200), long after the attempt's own time (100).
    assert history.annotate("k", "127.0.0.1", "5071", 195.0, "registered")
    assert history.of("k")[-1].freeswitch == "registered"
    history.repeat("k", 300.0)
    assert history.proof("k") == "proof"
    assert history.annotate("k", "127.0.0.1", "5071", 295.0, "refused")
    newest = history.of("k")[-1]
    assert (newest.freeswitch, newest.repeats) == ("refused", 2)
    assert history.proof("k") is None  # refused: what follows repeats no success


def test_a_repeat_not_renewed_leaves_the_extension_where_it_was_among_the_least_recent() -> None:
    history = History(per_extension=3, extensions=2)
    history.add("a", attempt(1.0), proof="proof")
    history.add("b", attempt(2.0))
    history.repeat("a", 3.0, renew=False)
    history.add("c", attempt(4.0))  # "a" is still the least recently renewed: forgotten
    assert history.of("a") == () and len(history.of("b")) == 1
    history.add("a", attempt(5.0), proof="proof")
    history.repeat("a", 6.0)  # renewed: "c" is the least recent now
    history.add("d", attempt(7.0))
    assert history.of("c") == () and len(history.of("a")) == 1


def test_a_forgotten_extension_takes_its_repeats_along() -> None:
    history = History(per_extension=3, extensions=1)
    history.add("a", attempt(1.0), proof="proof")
    history.repeat("a", 2.0)
    history.add("b", attempt(3.0))
    history.add("a", attempt(4.0))
    assert [(a.at, a.repeats) for a in history.of("a")] == [(4.0, 0)] and history.proof("a") is None
