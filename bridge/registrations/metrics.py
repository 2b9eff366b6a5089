"""The registrations job's Prometheus gauges, read from the registration state at scrape time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from bridge.registrations.model import NodeState, RegistrationView


def watch(
    registry: CollectorRegistry, view: RegistrationView, clock: Callable[[], float] = time.time
) -> None:
    """Export the REGISTRATION_FAMILIES gauges of ``view`` on ``registry`` (once, when the state exists)."""
    registry.register(RegistrationCollector(view, clock))


# name -> (help, label names) of the gauges read from the registration state.
REGISTRATION_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bridge_registrations_online": (
        "SIP bindings online (nodes that are down count none), by node and domain",
        ("node", "domain"),
    ),
    "bridge_esl_connected": ("1 when the node's Event Socket is up (or held by another instance)", ("node",)),
    "bridge_esl_node_state": (
        "1 for the node's current Event Socket state, 0 for the others",
        ("node", "state"),
    ),
    "bridge_esl_seconds_since_heartbeat": (
        "Seconds since the node's last HEARTBEAT event (absent before the first)",
        ("node",),
    ),
}


def _family(name: str) -> GaugeMetricFamily:
    help_text, labels = REGISTRATION_FAMILIES[name]
    return GaugeMetricFamily(name, help_text, labels=list(labels))


class RegistrationCollector(Collector):
    """Node and registration gauges read from ``view`` at scrape time (REGISTRATION_FAMILIES)."""

    def __init__(self, view: RegistrationView, clock: Callable[[], float]) -> None:
        self._view = view
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        return [_family(name) for name in REGISTRATION_FAMILIES]

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        nodes = list(self._view.nodes())
        online = _family("bridge_registrations_online")
        for (node_name, domain), count in sorted(self._view.online_counts().items()):
            online.add_metric([node_name, domain], count)
        connected = _family("bridge_esl_connected")
        state = _family("bridge_esl_node_state")
        heartbeat = _family("bridge_esl_seconds_since_heartbeat")
        for node in nodes:
            connected.add_metric([node.name], 1 if node.state in (NodeState.UP, NodeState.STANDBY) else 0)
            for candidate in NodeState:
                state.add_metric([node.name, candidate.value], 1 if candidate is node.state else 0)
            if node.last_heartbeat is not None:
                heartbeat.add_metric([node.name], max(0.0, now - node.last_heartbeat))
        return [online, connected, state, heartbeat]
