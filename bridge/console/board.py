"""What the console shows beyond the registration state and the guard: messages for the stream,
the latest failures, who is failing now, and registrations and failures per minute (no I/O).

Fed on the loop by the registration state's Deltas and the guard's events (setup.py);
``publish`` is the hub's. Every table is bounded: ``attempts_kept`` failures, one hour of
minutes, and the token -> domain map holds only live bindings.
"""

from __future__ import annotations

import functools
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bridge.console.hub import Payload
from bridge.guard.api import attempt_json
from bridge.guard.attempt import Attempt
from bridge.guard.engine import BanChanged, GuardEvent, Judged
from bridge.guard.outcome import FAILURES, SUCCESSES
from bridge.guard.store import Ban
from bridge.registrations.model import Delta, NodeStatus, Registration

Publish = Callable[[str, Payload, str | None], object]

# A Delta with more bindings than this (a node's snapshot, a large reconcile) is streamed as
# one "registrations_refresh" message: the page reads the current page again.
MAX_BINDINGS_PER_MESSAGE = 100
MINUTES = 60  # the chart's hour
FAILING_SECONDS = 300.0  # "failing now": the last attempt failed less than this long ago
_MAX_FAILING = 100_000


def binding_json(r: Registration) -> dict[str, object]:
    return {
        "node": r.node,
        "token": r.token,
        "user": r.reg_user,
        "domain": r.realm,
        "contact": r.contact or r.url,
        "network_ip": r.network_ip,
        "network_port": r.network_port,
        "network_proto": r.network_proto,
        "user_agent": r.user_agent,
        "status": r.status,
        "expires": r.expires_at,
        "profile": r.profile,
    }


def node_json(n: NodeStatus) -> dict[str, object]:
    return {
        "name": n.name,
        "state": n.state.value,
        "since": n.since,
        "last_heartbeat": n.last_heartbeat,
        "registrations": n.registrations,
        "last_error": n.last_error,
    }


def attempt_payload(key: str, failed: bool, attempt: Attempt) -> dict[str, object]:
    return {"user": key, "failed": failed, "attempt": attempt_json(attempt)}


def ban_domain(ban: Ban) -> str | None:
    """A limit belongs to its extension's domain; a ban of a source to no domain."""
    return ban.key.partition("@")[2].lower() if ban.key else None


@dataclass(frozen=True, slots=True)
class Failure:
    key: str  # extn@domain, lower-case
    domain: str
    attempt: Attempt


class Board:
    def __init__(
        self, publish: Publish, *, attempts_kept: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._publish = publish
        self._clock = clock
        self._failures: deque[Failure] = deque(maxlen=max(1, attempts_kept))
        # key -> (domain, at of the last attempt, it failed): "failing now"
        self._last: OrderedDict[str, tuple[str, float, bool]] = OrderedDict()
        self._domains: dict[tuple[str, str], str] = {}  # (node, token) -> domain, live bindings
        # minute (epoch // 60) -> Counter((series, domain))
        self._minutes: OrderedDict[int, Counter[tuple[str, str]]] = OrderedDict()
        self._nodes: dict[str, dict[str, object]] = {}

    # -- inputs ------------------------------------------------------------------------

    def delta(self, delta: Delta) -> None:
        if delta.replaced:
            for key in [k for k in self._domains if k[0] == delta.node]:
                del self._domains[key]
        removed = [(token, self._domains.pop((delta.node, token), None)) for token in delta.removed]
        for r in delta.upserted:
            self._domains[(delta.node, r.token)] = r.realm.lower()
        if not (delta.replaced or delta.reconciled or delta.mirrored):
            for r in delta.upserted:
                self._count("registrations", r.realm.lower())
        if delta.replaced or len(delta.upserted) + len(delta.removed) > MAX_BINDINGS_PER_MESSAGE:
            reason = "snapshot" if delta.replaced else "reconcile"
            self._publish("registrations_refresh", {"node": delta.node, "reason": reason}, None)
            return
        for token, domain in removed:
            if domain is not None:
                self._publish("registration", {"op": "remove", "node": delta.node, "token": token}, domain)
        for r in delta.upserted:
            self._publish("registration", {"op": "upsert", "binding": binding_json(r)}, r.realm.lower())

    def guard(self, event: GuardEvent) -> None:
        if isinstance(event, Judged):
            self._attempt(event.key, event.attempt)
        elif isinstance(event, BanChanged):
            op = "lifted" if event.lifted else "added"
            self._publish("ban", {"op": op, "ban": event.ban.as_json()}, ban_domain(event.ban))

    def nodes(self, statuses: Iterable[NodeStatus]) -> None:
        """Stream each node whose status changed since the last look; a node whose bindings
        became visible or hidden also asks the page to read its registrations again."""
        for status in statuses:
            shown = node_json(status)
            before = self._nodes.get(status.name)
            if before == shown:
                continue
            self._nodes[status.name] = shown
            self._publish("node", {"node": shown}, None)
            if before is not None and before["state"] != shown["state"]:
                self._publish("registrations_refresh", {"node": status.name, "reason": "node"}, None)

    def _attempt(self, key: str, attempt: Attempt) -> None:
        domain = key.partition("@")[2]
        failed = attempt.reason in FAILURES
        if failed or attempt.reason in SUCCESSES:
            self._last[key] = (domain, attempt.at, failed)
            self._last.move_to_end(key)
            while len(self._last) > _MAX_FAILING:
                self._last.popitem(last=False)
        if failed:
            self._failures.append(Failure(key, domain, attempt))
            self._count("failures", domain, attempt.at)

        # Made only if a console reads it (the Attempt is frozen); a partial, not a closure:
        # two objects for the collector to walk per attempt kept in the ring, not five.
        self._publish("attempt", functools.partial(attempt_payload, key, failed, attempt), domain)

    def _count(self, series: str, domain: str, at: float | None = None) -> None:
        minute = int((self._clock() if at is None else at) // 60)
        counts = self._minutes.get(minute)
        if counts is None:
            counts = self._minutes[minute] = Counter()
            while len(self._minutes) > MINUTES + 1:
                self._minutes.popitem(last=False)
        counts[(series, domain)] += 1

    # -- reads -------------------------------------------------------------------------

    def failures(self, scope: str | None, limit: int = 200) -> list[dict[str, object]]:
        """The latest failed attempts the scope may see, newest first."""
        shown = []
        for failure in reversed(self._failures):
            if scope is None or failure.domain == scope:
                shown.append({"user": failure.key, **attempt_json(failure.attempt)})
                if len(shown) >= limit:
                    break
        return shown

    def failing(self, scope: str | None) -> int:
        """Extensions whose last attempt failed in the last FAILING_SECONDS."""
        since = self._clock() - FAILING_SECONDS
        return sum(
            1
            for domain, at, failed in self._last.values()
            if failed and at >= since and (scope is None or domain == scope)
        )

    def chart(self, scope: str | None) -> dict[str, object]:
        """Registrations and failures per minute over the last hour, oldest first."""
        now_minute = int(self._clock() // 60)
        first = now_minute - MINUTES + 1
        registrations, failures = [], []
        for minute in range(first, now_minute + 1):
            counts = self._minutes.get(minute, Counter())
            shown = [(series, n) for (series, domain), n in counts.items() if _in(domain, scope)]
            registrations.append(sum(n for series, n in shown if series == "registrations"))
            failures.append(sum(n for series, n in shown if series == "failures"))
        return {"start": first * 60, "step": 60, "registrations": registrations, "failures": failures}


def _in(domain: str, scope: str | None) -> bool:
    return scope is None or domain == scope
