"""The app's own Prometheus registry and every metric bridge exports (never the global one).

Counters and histograms are moved by the component that does the work. Gauges that
describe state (registrations online, node connection state) are read from that state at
scrape time by collectors the owning job registers on ``registry`` (registrations/metrics.py),
so nothing re-derives state.
Labels are bounded sets: never a label per user, per address or per request.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase

from bridge import __version__

if TYPE_CHECKING:
    import asyncpg

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


Child = TypeVar("Child", bound=MetricWrapperBase)


def bound(metric: Child) -> Callable[..., Child]:
    """``metric.labels`` with each child bound on its first use and kept: ``labels()`` takes a
    lock and builds a key on every call (~1 µs, paid per lookup otherwise). Only for label
    values from a bounded set; a series still appears only once it is counted."""
    return functools.cache(metric.labels)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build_info = Info("bridge_build", "Version of bridge and Python", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})

        # Directory
        self.lookups = Counter(
            "bridge_directory_lookups_total",
            "Directory lookups answered, by FreeSWITCH action and result (found, not_found, rejected, error)",
            ["action", "result"],
            registry=r,
        )
        self.lookup_seconds = Histogram(
            "bridge_directory_lookup_duration_seconds",
            "Time to answer a directory lookup, by action",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_requests = Counter(
            "bridge_directory_cache_requests_total",
            "Directory cache look-ups by result"
            " (hit, negative_hit, miss, stale: served while changes cannot be heard)",
            ["result"],
            registry=r,
        )
        self.answer_cache_requests = Counter(
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
        self.refused = Counter(
            "bridge_directory_refused_total",
            "Directory requests refused before any lookup, by code (bad_value, bad_escape,"
            " value_too_long, slow_body, busy, ...)",
            ["code"],
            registry=r,
        )
        self.disconnects = Counter(
            "bridge_http_client_disconnects_total",
            "Requests whose client went away before its answer was sent (not a lookup error)",
            registry=r,
        )
        # Below any route: aiohttp.server's log records of parser refusals (bridge/http_server.py).
        self.http_refused = Counter(
            "bridge_http_refused_total",
            "Requests aiohttp's HTTP parser refused before any route, by kind (bad_target,"
            " bad_method, bad_request_line, bad_header, too_long, malformed)",
            ["kind"],
            registry=r,
        )
        self.whole_answers = Counter(
            "bridge_directory_whole_answers_total",
            "Whole-directory answers (list_users, network-list, group_call, ...), by result"
            " (built, shared with a build in progress, hit: reused, refused: too many at once)",
            ["result"],
            registry=r,
        )
        self.invalidations = Counter(
            "bridge_directory_invalidations_total",
            "Directory cache invalidations, by source (notify, resync)",
            ["source"],
            registry=r,
        )
        self.warmup_entries = Counter(
            "bridge_directory_warmup_entries_total",
            "Directory cache entries loaded by the warm start (after start-up and each resync)",
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
        self.registration_reconciles = Counter(
            "bridge_registration_reconciles_total",
            "Reconciles of a node's bindings with sofia's own listing, by node and result",
            ["node", "result"],
            registry=r,
        )
        self.registration_reconcile_fixes = Counter(
            "bridge_registration_reconcile_fixes_total",
            "Bindings a reconcile upserted (missed or stale) or removed (phantom), by node and kind",
            ["node", "kind"],
            registry=r,
        )
        self.node_takeovers = Counter(
            "bridge_node_takeovers_total",
            "Times this instance took a node's lock and started following it, by node",
            ["node"],
            registry=r,
        )
        self.node_clock_skew = Gauge(
            "bridge_node_clock_skew_seconds",
            "A node's Event-Date minus bridge's clock at arrival, last event, by node",
            ["node"],
            registry=r,
        )
        self.registration_refused = Counter(
            "bridge_registration_refused_total",
            "Bindings refused: an unusable field (invalid) or the per-node cap (cap), by node",
            ["node", "reason"],
            registry=r,
        )
        self.registration_mirror_rows = Counter(
            "bridge_registration_mirror_rows_total",
            "Rows the standby mirror read: whole nodes (whole) or changes since its last read (changed)",
            ["kind"],
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
            "Refused logins and dev-key requests by reason: bad_credentials, source_locked,"
            " account_locked, source_limited, malformed",
            ["reason"],
            registry=r,
        )
        self.accounts_locked = Counter(
            "bridge_api_accounts_locked_total",
            "Web accounts locked for everyone: api.lock_sources sources each reached api.max_login_attempts",
            registry=r,
        )
        self.source_locks = Counter(
            "bridge_api_source_locks_total",
            "Web accounts locked for one source after api.max_login_attempts failed logins from it",
            registry=r,
        )

        # Admin API extension catalog (bridge/api/catalog_store.py)
        self.api_catalog_reloads = Counter(
            "bridge_api_catalog_reloads_total",
            "Reads of the admin API's extension catalog by kind: changes (only the rows changed since"
            " its snapshot), scope (a domain, or every domain, read whole on first use), whole"
            " (every scope held read again: TRUNCATE, pruned change log, more than 50,000 changed)",
            ["kind"],
            registry=r,
        )
        self.api_catalog_rows = Counter(
            "bridge_api_catalog_rows_total",
            "Rows of extensions the admin API's extension catalog read,"
            " by kind (as bridge_api_catalog_reloads_total)",
            ["kind"],
            registry=r,
        )

        # Admin API provisioning (bridge/api/provision/)
        self.provision_rows = Counter(
            "bridge_api_provision_rows_total",
            "Rows created, updated or deleted through the provisioning API, by table and action",
            ["table", "action"],
            registry=r,
        )
        self.provision_refused = Counter(
            "bridge_api_provision_refused_total",
            "Provisioning requests refused, by reason"
            " (invalid, scope, conflict, too_many, not_found, slow_body)",
            ["reason"],
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

        # Observed by bridge.gc_tuning in a serving process (gc.callbacks are process-wide).
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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
