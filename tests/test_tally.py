"""The lock-free tallies expose exactly what prometheus_client's Counter and Histogram would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bridge.tally import Tally, TallyHistogram

BUCKETS = (0.0005, 0.001, 0.01, 0.5, 2.5)
# Values on, between, under and over the bounds: the bucket edges are where it goes wrong.
OBSERVED = (0.0, 0.0005, 0.0007, 0.001, 0.004, 0.5, 0.51, 2.5, 3.0, 100.0)


def _lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if "_created" not in line)


def test_given_the_same_events_then_the_exposition_equals_prometheus_clients() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("x_lookups_total", "Lookups", ["action", "result"], registry=theirs)
    histogram = Histogram("x_seconds", "Time", ["action"], buckets=BUCKETS, registry=theirs)
    tally = Tally("x_lookups_total", "Lookups", ["action", "result"], registry=ours)
    tally_histogram = TallyHistogram("x_seconds", "Time", ["action"], buckets=BUCKETS, registry=ours)

    events = (("sip_auth", "found", 3), ("sip_auth", "not_found", 1), ("user_call", "found", 2))
    for action, result, times in events:
        for _ in range(times):
            counter.labels(action, result).inc()
            tally.labels(action, result).inc()
    counter.labels(action="gateways", result="error").inc(5)
    tally.labels(action="gateways", result="error").inc(5)
    for value in OBSERVED:
        histogram.labels("sip_auth").observe(value)
        tally_histogram.labels("sip_auth").observe(value)
    histogram.labels("user_call")
    tally_histogram.labels("user_call")  # a child with no observations is exported as zeros

    assert _lines(ours) == _lines(theirs)
    assert 'x_lookups_total{action="sip_auth",result="found"} 3.0' in _lines(ours)


def test_given_the_wrong_number_of_labels_then_refused() -> None:
    registry = CollectorRegistry()
    tally = Tally("y_total", "Y", ["action", "result"], registry=registry)
    with pytest.raises(ValueError, match="takes labels"):
        tally.labels("sip_auth")
    histogram = TallyHistogram("y_seconds", "Y", ["action"], buckets=BUCKETS, registry=registry)
    with pytest.raises(ValueError, match="takes labels"):
        histogram.labels("a", "b")
