"""The registration state: one door, ``apply(change) -> changed?``, and the read view (pure).

Lives on the asyncio loop's thread only (the listener hands changes over in batches), so
it needs no lock. Whoever must follow changes subscribes to ``Delta``s (``subscribe``), in
its own job's setup, before the listeners start: persistence, metrics, the guard, the
directory's node flusher, the API's presence picture (docs/registrations.md).
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from bridge.registrations.events import (
    Change,
    Heartbeat,
    Mirrored,
    NodeChanged,
    Observed,
    Reconcile,
    Registered,
    Snapshot,
    Unregistered,
)
from bridge.registrations.model import VISIBLE_STATES, Delta, NodeState, NodeStatus, Registration

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Node:
    name: str
    state: NodeState = NodeState.NOT_STARTED
    since: float = 0.0
    last_heartbeat: float | None = None
    last_error: str = ""
    bindings: dict[str, Registration] = field(default_factory=dict)  # token -> binding


def _key(domain: str, user: str) -> tuple[str, str]:
    return (domain.lower(), user)


# sofia prints seconds left, not the expiry: a listed binding is "the same" as ours within
# this many seconds (the listing's clock and rounding), so a reconcile rewrites nothing.
_EXPIRY_SLACK = 5


def _differs(held: Registration, listed: Registration) -> bool:
    """The event-built binding and sofia's listing of it disagree on what readers see."""
    return (
        _key(held.realm, held.reg_user) != _key(listed.realm, listed.reg_user)
        or held.profile != listed.profile
        or held.url != listed.url
        or abs(held.expires_at - listed.expires_at) > _EXPIRY_SLACK
        # a binding from the core-table snapshot has no agent or status: sofia's has
        or (not held.user_agent and bool(listed.user_agent))
    )


class RegistrationState:
    """Implements RegistrationView.

    ``multiple_registrations``: names of nodes whose sofia profiles set
    ``multiple-registrations``; on every other node (FreeSWITCH's default) a REGISTER with
    a new Call-ID silently replaces the user's binding on that node and profile, with no
    unregister or expire event for the old one, and so it does here.
    """

    def __init__(
        self,
        node_names: Iterable[str],
        *,
        multiple_registrations: Collection[str] = (),
        clock: Callable[[], float] = time.time,
        max_bindings_per_node: int = 100_000,
        on_refused: Callable[[str, int], None] | None = None,
    ) -> None:
        self._clock = clock
        # The cap: bindings beyond it are refused, on_refused(node, count) is told, and
        # one line is logged when a node reaches it (again after it fell below).
        self._cap = max_bindings_per_node
        self._on_refused = on_refused
        self._capped: set[str] = set()
        self._multi = frozenset(multiple_registrations)
        now = clock()
        self._nodes: dict[str, _Node] = {n: _Node(n, since=now) for n in node_names}
        # (domain, user) -> {(node, token)}: the index behind registrations_of.
        self._by_user: dict[tuple[str, str], set[tuple[str, str]]] = {}
        # (expiry, node, token) of every binding put, soonest first: the sweep looks at the
        # bindings due, not at every binding held (500,000 each second, measured at scale).
        # An entry whose binding is gone or was put again with another expiry is skipped
        # when due; the heap is rebuilt when such entries outnumber the bindings held.
        self._expiry: list[tuple[int, str, str]] = []
        self._held = 0
        # (node, lower-cased domain) -> bindings held: bridge_registrations_online's samples;
        # (node, network_ip) -> bindings held: whether an address has a live binding (guard).
        self._per_domain: dict[tuple[str, str], int] = {}
        self._per_address: dict[tuple[str, str], int] = {}
        self._listeners: list[Callable[[Delta], None]] = []

    def subscribe(self, listener: Callable[[Delta], None]) -> None:
        """Call ``listener`` with every Delta from now on, on the asyncio loop, in order.

        A subscriber must not block (it queues, it does not wait); one that raises is
        logged and the others still get the Delta.
        """
        self._listeners.append(listener)

    # -- the one door -------------------------------------------------------------

    def apply(self, change: Change) -> bool:
        """Apply one change; True when anything a reader can see (or persistence) changed."""
        node = self._nodes.get(change.node)
        if node is None:
            node = self._nodes[change.node] = _Node(change.node, since=self._clock())
        if isinstance(change, Registered):
            return self._register(node, change.registration)
        if isinstance(change, Unregistered):
            return self._unregister(node, change)
        if isinstance(change, Snapshot):
            return self._replace(node, change.registrations)
        if isinstance(change, Mirrored):
            return self._mirror(node, change)
        if isinstance(change, Reconcile):
            return self._reconcile(node, change.registrations)
        if isinstance(change, Heartbeat):
            node.last_heartbeat = change.at
            return False
        if isinstance(change, NodeChanged):
            if node.state is change.state and node.last_error == change.error:
                return False
            node.state, node.since, node.last_error = change.state, change.at, change.error
            if change.state is NodeState.UP:
                node.last_heartbeat = change.at
            self._emit(Delta(node.name, node_state=change.state))
            return True
        assert isinstance(change, Observed)
        if change.auth is not None:  # changes no binding; passed on for the guard
            self._emit(Delta(node.name, seen=change.auth))
        return False

    def apply_all(self, changes: Iterable[Change]) -> int:
        return sum(1 for change in changes if self.apply(change))

    def sweep(self, now: float | None = None) -> list[Registration]:
        """Drop bindings whose absolute expiry has passed (FreeSWITCH may never say so)."""
        moment = self._clock() if now is None else now
        due: dict[str, list[Registration]] = {}
        while self._expiry and self._expiry[0][0] <= moment:
            at, node_name, token = heapq.heappop(self._expiry)
            node = self._nodes[node_name]
            registration = node.bindings.get(token)
            if registration is None or registration.expires_at != at:
                continue  # gone, or put again since with another expiry (its own entry)
            self._drop(node, token)
            due.setdefault(node_name, []).append(registration)
        dropped: list[Registration] = []
        for node_name, gone in due.items():
            dropped.extend(gone)
            self._emit(Delta(node_name, removed=[r.token for r in gone]))
        return dropped

    # -- RegistrationView ---------------------------------------------------------

    def registrations_of(self, domain: str, user: str) -> Sequence[Registration]:
        found = []
        for node_name, token in self._by_user.get(_key(domain, user), ()):
            node = self._nodes[node_name]
            if node.state in VISIBLE_STATES:
                found.append(node.bindings[token])
        found.sort(key=lambda r: (r.node, r.token))
        return found

    def all_registrations(self) -> Sequence[Registration]:
        return [
            registration
            for node in self._nodes.values()
            if node.state in VISIBLE_STATES
            for registration in node.bindings.values()
        ]

    def online_counts(self) -> dict[tuple[str, str], int]:
        # Kept as bindings come and go: a scrape costs the pairs, not every binding held.
        visible = {name for name, node in self._nodes.items() if node.state in VISIBLE_STATES}
        return {pair: n for pair, n in self._per_domain.items() if pair[0] in visible}

    def registered_from(self, address: str) -> bool:
        return any(
            node.state in VISIBLE_STATES and (name, address) in self._per_address
            for name, node in self._nodes.items()
        )

    def is_online(self, domain: str, user: str) -> bool:
        return any(
            self._nodes[node_name].state in VISIBLE_STATES
            for node_name, _ in self._by_user.get(_key(domain, user), ())
        )

    def nodes(self) -> Sequence[NodeStatus]:
        return [
            NodeStatus(
                name=n.name,
                state=n.state,
                since=n.since,
                last_heartbeat=n.last_heartbeat,
                registrations=len(n.bindings) if n.state in VISIBLE_STATES else 0,
                last_error=n.last_error,
            )
            for n in self._nodes.values()
        ]

    def node_state(self, name: str) -> NodeState:
        node = self._nodes.get(name)
        return NodeState.NOT_STARTED if node is None else node.state

    def bindings_of_node(self, name: str) -> list[Registration]:
        """Every binding held for a node, visible or not (persistence, tests)."""
        node = self._nodes.get(name)
        return [] if node is None else list(node.bindings.values())

    # -- inside -------------------------------------------------------------------

    def _register(self, node: _Node, registration: Registration) -> bool:
        delta = Delta(node.name)
        if node.name not in self._multi:
            for token in self._tokens_of(node.name, registration.realm, registration.reg_user):
                other = node.bindings[token]
                if token != registration.token and other.profile == registration.profile:
                    self._drop(node, token)
                    delta.removed.append(token)
        if node.bindings.get(registration.token) == registration and not delta.removed:
            return False
        if registration.token not in node.bindings and len(node.bindings) >= self._cap:
            # Whatever the replacement dropped stays dropped: sofia dropped it too.
            if delta.removed:
                self._emit(delta)
            self._refuse(node.name, 1)
            return bool(delta.removed)
        if len(node.bindings) < self._cap - 1:
            self._capped.discard(node.name)
        self._put(node, registration)
        delta.upserted.append(registration)
        self._emit(delta)
        return True

    def _unregister(self, node: _Node, change: Unregistered) -> bool:
        if change.kind == "unregister" and node.name not in self._multi:
            # sofia_reg.c (sofia_reg_handle_register, exptime 0): without
            # multiple-registrations it deletes every binding of sip_user@sip_host,
            # whatever the Call-ID or contact of the unREGISTER (Contact: * included);
            # the event names the unREGISTER's own Call-ID (unregister_other_call_id_sipp).
            tokens = [
                token
                for token in self._tokens_of(node.name, change.realm, change.user)
                if node.bindings[token].profile == change.profile
            ]
        else:
            # sofia::expire, and unregister with multiple-registrations: by Call-ID.
            current = node.bindings.get(change.call_id)
            if current is None or current.profile != change.profile:
                return False
            if change.user and current.reg_user != change.user:
                return False
            tokens = [change.call_id]
        if not tokens:
            return False
        for token in tokens:
            self._drop(node, token)
        self._emit(Delta(node.name, removed=tokens))
        return True

    def _refuse(self, node_name: str, count: int) -> None:
        if self._on_refused is not None:
            self._on_refused(node_name, count)
        if node_name not in self._capped:
            self._capped.add(node_name)
            log.warning(
                "registrations: node at max_bindings_per_node=%d node=%s, bindings refused",
                self._cap,
                node_name,
            )

    def _capped_set(self, node: _Node, registrations: Iterable[Registration]) -> dict[str, Registration]:
        fresh = {r.token: r for r in registrations}
        if len(fresh) <= self._cap:
            self._capped.discard(node.name)
            return fresh
        kept = dict(list(fresh.items())[: self._cap])
        self._refuse(node.name, len(fresh) - len(kept))
        return kept

    def _replace(self, node: _Node, registrations: Iterable[Registration]) -> bool:
        fresh = self._capped_set(node, registrations)
        if fresh == node.bindings:
            return False
        for token in list(node.bindings):
            self._drop(node, token)
        for registration in fresh.values():
            self._put(node, registration)
        self._emit(Delta(node.name, upserted=list(fresh.values()), replaced=True))
        return True

    def _mirror(self, node: _Node, change: Mirrored) -> bool:
        """Per binding, one Delta for what differs: a binding already held as read is not
        reported again (a mirror pass that reads a row twice reports it once)."""
        delta = Delta(node.name, mirrored=True)
        for token in change.removed:
            if token in node.bindings:
                self._drop(node, token)
                delta.removed.append(token)
        refused = 0
        for registration in change.upserted:
            held = node.bindings.get(registration.token)
            if held == registration:
                continue
            if held is None and len(node.bindings) >= self._cap:
                refused += 1
                continue
            self._put(node, registration)
            delta.upserted.append(registration)
        if refused:
            self._refuse(node.name, refused)
        if not delta.removed and not delta.upserted:
            return False
        self._emit(delta)
        return True

    def _reconcile(self, node: _Node, registrations: Iterable[Registration]) -> bool:
        fresh = self._capped_set(node, registrations)
        delta = Delta(node.name, removed=[t for t in node.bindings if t not in fresh], reconciled=True)
        for token in delta.removed:
            self._drop(node, token)
        for token, listed in fresh.items():
            held = node.bindings.get(token)
            if held is None or _differs(held, listed):
                self._put(node, listed)
                delta.upserted.append(listed)
        if not delta.removed and not delta.upserted:
            return False
        self._emit(delta)
        return True

    def _tokens_of(self, node_name: str, realm: str, user: str) -> list[str]:
        return [t for n, t in self._by_user.get(_key(realm, user), ()) if n == node_name]

    def _put(self, node: _Node, registration: Registration) -> None:
        old = node.bindings.get(registration.token)
        if old is not None:
            self._unindex(node.name, old)
        else:
            self._held += 1
        node.bindings[registration.token] = registration
        if registration.expires_at and (old is None or old.expires_at != registration.expires_at):
            heapq.heappush(self._expiry, (registration.expires_at, node.name, registration.token))
            if len(self._expiry) > 2 * self._held + 1024:
                self._expiry = [
                    (r.expires_at, n.name, r.token)
                    for n in self._nodes.values()
                    for r in n.bindings.values()
                    if r.expires_at
                ]
                heapq.heapify(self._expiry)
        self._by_user.setdefault(_key(registration.realm, registration.reg_user), set()).add(
            (node.name, registration.token)
        )
        domain = node.name, registration.realm.lower()
        self._per_domain[domain] = self._per_domain.get(domain, 0) + 1
        address = node.name, registration.network_ip
        self._per_address[address] = self._per_address.get(address, 0) + 1

    def _drop(self, node: _Node, token: str) -> None:
        old = node.bindings.pop(token, None)
        if old is not None:
            self._held -= 1
            self._unindex(node.name, old)

    def _unindex(self, node_name: str, registration: Registration) -> None:
        key = _key(registration.realm, registration.reg_user)
        entries = self._by_user.get(key)
        if entries is not None:
            entries.discard((node_name, registration.token))
            if not entries:
                del self._by_user[key]
        for counts, pair in (
            (self._per_domain, (node_name, registration.realm.lower())),
            (self._per_address, (node_name, registration.network_ip)),
        ):
            left = counts.get(pair, 0) - 1
            if left > 0:
                counts[pair] = left
            else:
                counts.pop(pair, None)

    def _emit(self, delta: Delta) -> None:
        for listener in self._listeners:
            try:
                listener(delta)
            except Exception:  # one subscriber's bug must not stop the state or the others
                log.exception("registration subscriber failed node=%s", delta.node)
