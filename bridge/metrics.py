"""The app's own Prometheus registry and every metric bridge exports (never the global one).

Counters and histograms are moved by the component that does the work. Gauges that
describe state (registrations online, node connection state) are read from that state at
scrape time by collectors the owning component registers here, so nothing re-derives state.
Labels are bounded sets: never a label per user, per address or per request.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from bridge import __version__
from bridge.registrations.model import NodeState
from bridge.tally import Tally, TallyHistogram

if TYPE_CHECKING:
    import asyncpg

    from bridge.registrations.model import RegistrationView

# Directory lookup "actions" are FreeSWITCH's words; anything else is counted as "other".
LOOKUP_ACTIONS = frozenset(
    {
        "sip_auth",
        "user_call",
        "group_call",
        "message-count",
        "voicemail-lookup",
        "reverse-auth-lookup",
        "jsonrpc-authenticate",
        "user_exists",
        "user_data",
        "find_user_xml",
        "xml_locate",
        "list_users",
        "gateways",
        "network-list",
        "other",
    }
)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build_info = Info("bridge_build", "Version of bridge and Python", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})

        # Directory
        # Moved on every lookup: lock-free tallies (bridge/tally.py), not prometheus_client's.
        self.lookups = Tally(
            "bridge_directory_lookups_total",
            "Directory lookups answered, by FreeSWITCH action and result (found, not_found, rejected, error)",
            ["action", "result"],
            registry=r,
        )
        self.lookup_seconds = TallyHistogram(
            "bridge_directory_lookup_duration_seconds",
            "Time to answer a directory lookup, by action",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_requests = Tally(
            "bridge_directory_cache_requests_total",
            "Directory cache look-ups by result"
            " (hit, negative_hit, miss, stale: served while changes cannot be heard)",
            ["result"],
            registry=r,
        )
        self.answer_cache_requests = Tally(
            "bridge_directory_answer_cache_requests_total",
            "Per-user directory answers served from the rendered-answer memo (hit) or rendered (miss)",
            ["result"],
            registry=r,
        )
        self.realm_mismatches = Counter(
            "bridge_directory_realm_mismatch_total",
            "sip_auth lookups whose digest realm is not the extension's domain, by outcome",
            ["outcome"],
            registry=r,
        )
        self.invalidations = Counter(
            "bridge_directory_invalidations_total",
            "Directory cache invalidations, by source (notify, resync)",
            ["source"],
            registry=r,
        )
        self.fs_cache_flushes = Counter(
            "bridge_freeswitch_cache_flushes_total",
            "xml_flush_cache commands sent to FreeSWITCH nodes, by node and result",
            ["node", "result"],
            registry=r,
        )

        # Registrations / Event Socket
        self.registration_events = Counter(
            "bridge_registration_events_total",
            "sofia registration events received, by node and kind",
            ["node", "kind"],
            registry=r,
        )
        self.registration_failures = Counter(
            "bridge_registration_failures_total",
            "Failed registration attempts (register_failure, FORBIDDEN attempts), by node",
            ["node"],
            registry=r,
        )
        self.esl_reconnects = Counter(
            "bridge_esl_reconnects_total",
            "Event Socket reconnections, by node",
            ["node"],
            registry=r,
        )
        self.esl_snapshots = Counter(
            "bridge_esl_snapshot_loads_total",
            "Registration snapshots loaded from a node, by node and result",
            ["node", "result"],
            registry=r,
        )
        self.esl_frame_errors = Counter(
            "bridge_esl_frame_errors_total",
            "Event Socket frames that could not be parsed, by node",
            ["node"],
            registry=r,
        )

        # Admin API
        self.api_requests = Counter(
            "bridge_api_requests_total",
            "Admin API requests, by route template and HTTP status",
            ["route", "status"],
            registry=r,
        )
        self.login_failures = Counter(
            "bridge_api_login_failures_total",
            "Failed admin logins",
            registry=r,
        )
        self.login_refusals = Counter(
            "bridge_api_login_refusals_total",
            "Refused logins and dev-key requests by reason: bad_credentials, account_locked, source_limited",
            ["reason"],
            registry=r,
        )
        self.accounts_locked = Counter(
            "bridge_api_accounts_locked_total",
            "Web accounts locked after api.max_login_attempts failed logins",
            registry=r,
        )

        # Database
        self.db_acquire_seconds = Histogram(
            "bridge_db_pool_acquire_duration_seconds",
            "Time waiting for a database connection from the pool",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.db_errors = Counter(
            "bridge_db_errors_total",
            "Database operations that failed because PostgreSQL was down or slow, by component",
            ["component"],
            registry=r,
        )
        self.db_pool_size = Gauge(
            "bridge_db_pool_connections",
            "Database pool connections, by state (open, idle)",
            ["state"],
            registry=r,
        )
        self.db_pool_max = Gauge(
            "bridge_db_pool_max_connections",
            "Most connections the database pool may open (database.pool_max)",
            registry=r,
        )
        # Set by the directory cache: .set_function(lambda: len(cache)).
        self.cache_entries = Gauge(
            "bridge_directory_cache_entries",
            "Directory records held in the in-process cache (positive and negative)",
            registry=r,
        )

        # Observed by bridge.heap in a serving process (gc.callbacks are process-wide).
        self.gc_pause_seconds = Histogram(
            "bridge_gc_pause_seconds",
            "Garbage collections and how long each stopped the process, by generation (2 = full)",
            ["generation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

        # process_* (CPU, memory, open fds, start time) for this process, on our registry.
        ProcessCollector(registry=r)

    def watch_pool(self, pool: asyncpg.Pool, max_size: int) -> None:
        """Read the pool's size at scrape time (called once the pool exists)."""
        self.db_pool_size.labels(state="open").set_function(pool.get_size)
        self.db_pool_size.labels(state="idle").set_function(pool.get_idle_size)
        self.db_pool_max.set(max_size)

    def watch_registrations(self, view: RegistrationView, clock: Callable[[], float] = time.time) -> None:
        """Export node and registration gauges read from ``view`` at scrape time.

        Called once by the registrations component when its state exists. The families
        and their labels are REGISTRATION_FAMILIES.
        """
        self.registry.register(_RegistrationCollector(view, clock))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


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


class _RegistrationCollector(Collector):
    def __init__(self, view: RegistrationView, clock: Callable[[], float]) -> None:
        self._view = view
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        return [_family(name) for name in REGISTRATION_FAMILIES]

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        nodes = list(self._view.nodes())
        online = _family("bridge_registrations_online")
        counts: dict[tuple[str, str], int] = {}
        for reg in self._view.all_registrations():
            key = (reg.node, reg.realm.lower())
            counts[key] = counts.get(key, 0) + 1
        for (node_name, domain), count in sorted(counts.items()):
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


async def handle_metrics(request: web.Request) -> web.Response:
    from bridge.keys import METRICS

    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
