"""The guard's metrics, on the app's registry (labels are bounded: reasons, scopes, rules)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from bridge.metrics import bound

SOURCE_RULES = ("failures", "unknown_users", "scanner_agent", "ipv6_prefix")


class GuardMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.attempts = Counter(
            "bridge_guard_attempts_total",
            "Registration attempts recorded by the guard, by outcome reason (failures and successes)",
            ["reason"],
            registry=r,
        )
        self._attempt = bound(self.attempts)
        self.trusted_failures = Counter(
            "bridge_guard_trusted_source_failures_total",
            "Failures from a source a phone authenticated from (one bad phone behind a NAT)",
            registry=r,
        )
        self.refused = Counter(
            "bridge_guard_refused_lookups_total",
            "sip_auth lookups answered not found at once because of a ban, by scope (source, extension)",
            ["scope"],
            registry=r,
        )
        self.bans_made = Counter(
            "bridge_guard_bans_total",
            "Bans made by this instance, by scope (source, extension) and rule",
            ["scope", "rule"],
            registry=r,
        )
        self.bans_active = Gauge(
            "bridge_guard_bans_active",
            "Bans in force (read from the shared table), by scope (source, extension)",
            ["scope"],
            registry=r,
        )
        self.bans_evicted = Counter(
            "bridge_guard_bans_evicted_total",
            "Bans ended early because guard.max_bans were in force (the soonest-ending go first)",
            registry=r,
        )
        self.queue_dropped = Counter(
            "bridge_guard_queue_dropped_total",
            "Lookups and events the guard could not check: its queue (guard.queue_size) or their"
            " source's share (guard.queue_per_source) was full",
            registry=r,
        )
        self.queue_depth = Gauge("bridge_guard_queue_depth", "Items waiting for the guard's task", registry=r)
        self.firewall_commands = Counter(
            "bridge_guard_firewall_commands_total",
            "nft commands run to keep the nftables sets in step with the bans, by result (ok, error)",
            ["result"],
            registry=r,
        )
        self.sync_errors = Counter(
            "bridge_guard_sync_errors_total",
            "Reads or writes of the shared ban table that failed (database unavailable)",
            registry=r,
        )
        self.tracked = Gauge(
            "bridge_guard_tracked_entries",
            "Entries the guard holds in memory, by table (history, attempts, sources, extensions, trusted)",
            ["table"],
            registry=r,
        )

    def attempt(self, reason: str) -> None:
        """Count one attempt recorded (paid on every sip_auth lookup: the child is kept)."""
        self._attempt(reason).inc()

    def attempts_of(self, reason: str) -> Counter:
        """The attempts counter of one outcome, to keep and count on without a lookup."""
        return self._attempt(reason)

    def start_at_zero(self, reasons: tuple[str, ...]) -> None:
        """Every child of the bounded label sets, exported from 0 (so rate() sees the first one)."""
        for reason in reasons:
            self.attempts.labels(reason)
        for scope, rules in (("source", SOURCE_RULES), ("extension", ("extension_failures",))):
            self.refused.labels(scope)
            for rule in rules:
                self.bans_made.labels(scope, rule)
        for result in ("ok", "error"):
            self.firewall_commands.labels(result)

    def watch(self, read: Callable[[], dict[str, int]], tables: tuple[str, ...]) -> None:
        for table in tables:
            self.tracked.labels(table).set_function(lambda t=table: read().get(t, 0))  # type: ignore[misc]
