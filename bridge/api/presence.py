"""One read of the registration state per request: who is online, and what "not online" means.

``PresenceCache`` keeps a picture of the visible bindings (those of nodes UP or STANDBY)
and follows the state's one door: the api job's setup subscribes ``on_delta`` to the state
(bridge/api/setup.py), and each ``Delta`` is applied to the picture when the next request
reads it, so a request costs work in proportion to what changed, not to the 50,000
bindings. A node state change (or a whole-node snapshot) rebuilds the picture from
``RegistrationView.all_registrations()``. The online key set keeps its identity while only
expiries refresh, so per-set work downstream (catalog.Listing) is reused; each binding's
XUI row is encoded once per ``Registration`` object (they are immutable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bridge.api import shapes
from bridge.api.catalog import key
from bridge.registrations.model import VISIBLE_STATES, Delta, NodeState, Registration, RegistrationView

__all__ = ["Presence", "PresenceCache", "key"]

# More changes than this between two reads: rebuilding is cheaper than replaying them.
_MAX_PENDING = 5000


@dataclass(frozen=True, slots=True)
class Presence:
    online: frozenset[str]  # key(extn, domain) of every visible binding (any domain)
    absent: shapes.Status  # "offline", or "unknown" while a node is not in sync
    nodes: list[dict[str, Any]]
    _scoped: _Scoped | None = field(default=None, repr=False)

    def status(self, extn: str, domain: str) -> shapes.Status:
        return "online" if key(extn, domain) in self.online else self.absent

    @property
    def registrations(self) -> Sequence[Registration]:
        """The visible bindings in the caller's scope (built on first use: only list1 needs them)."""
        return () if self._scoped is None else self._scoped.registrations()

    def rows_json(self) -> bytes:
        """``registrations`` as the JSON array of their XUI rows (list1's ``reg.rows``)."""
        return b"[]" if self._scoped is None else self._scoped.rows_json()


class _Scoped:
    """One scope's bindings at one generation of the picture, and their encoded rows, each
    built on first use."""

    __slots__ = ("_cache", "_domain", "_json", "_registrations")

    def __init__(self, cache: PresenceCache, domain_scope: str | None) -> None:
        self._cache = cache
        self._domain = domain_scope
        self._registrations: list[Registration] | None = None
        self._json: bytes | None = None

    def registrations(self) -> list[Registration]:
        if self._registrations is None:
            self._registrations = self._cache.bindings(self._domain)
        return self._registrations

    def rows_json(self) -> bytes:
        if self._json is None:
            encoded = self._cache.encoded
            self._json = b"[" + b",".join(encoded(reg) for reg in self.registrations()) + b"]"
        return self._json


class PresenceCache:
    """Per app: the picture of the visible bindings, kept current from the state's Deltas."""

    def __init__(self, view: RegistrationView | None, unknown_as: shapes.Status = "unknown") -> None:
        # api.unknown_status: what an absent extension is called while status is uncertain.
        self._unknown_as = unknown_as
        # None: registrations are not wired into this app, nothing is known to be online.
        self._view = view
        self._pending: list[Delta] | None = None  # None: rebuild on the next read
        self._node_states: tuple[tuple[str, NodeState], ...] = ()
        self._visible: frozenset[str] = frozenset()  # node names
        self._bindings: dict[tuple[str, str], Registration] = {}  # (node, token) -> binding
        # The same bindings by lower-cased realm: a domain's list1 reads its own bindings,
        # not every binding held (100,000 scanned per read saturated the loop at scale).
        self._by_domain: dict[str, dict[tuple[str, str], Registration]] = {}
        self._counts: dict[str, int] = {}  # key -> visible bindings
        self._online: frozenset[str] = frozenset()
        self._generation = 0
        self._scoped: dict[str | None, _Scoped] = {}
        # id(registration) -> (registration, encoded XUI row); holding the registration keeps
        # its id from being reused while the entry lives. Entries leave with their binding.
        self._encoded: dict[int, tuple[Registration, bytes]] = {}

    def read(self, domain_scope: str | None) -> Presence:
        view = self._view
        if view is None:
            return Presence(frozenset(), self._unknown_as, [])
        statuses = view.nodes()
        self._follow(view, tuple((s.name, s.state) for s in statuses))
        scoped = self._scoped.get(domain_scope)
        if scoped is None:
            scoped = self._scoped[domain_scope] = _Scoped(self, domain_scope)
        absent = shapes.offline_word(statuses, self._unknown_as)
        return Presence(self._online, absent, shapes.nodes(statuses), scoped)

    def encoded(self, reg: Registration) -> bytes:
        entry = self._encoded.get(id(reg))
        if entry is None or entry[0] is not reg:
            entry = self._encoded[id(reg)] = (reg, orjson.dumps(reg.xui_row()))
        return entry[1]

    def on_delta(self, delta: Delta) -> None:
        """The state's subscriber: remember the Delta for the next read."""
        if self._pending is not None:
            if len(self._pending) >= _MAX_PENDING or delta.replaced or delta.node_state is not None:
                self._pending = None
            else:
                self._pending.append(delta)

    def _follow(self, view: RegistrationView, node_states: tuple[tuple[str, NodeState], ...]) -> None:
        if self._pending is None or node_states != self._node_states:
            self._rebuild(view, node_states)
        elif self._pending:
            pending, self._pending = self._pending, []
            touched: set[str] = set()  # keys whose count went to or from zero
            for delta in pending:
                self._apply(delta, touched)
            if any((k in self._counts) != (k in self._online) for k in touched):
                self._online = frozenset(self._counts)
            self._changed()

    def _rebuild(self, view: RegistrationView, node_states: tuple[tuple[str, NodeState], ...]) -> None:
        self._pending = []
        self._node_states = node_states
        self._visible = frozenset(name for name, state in node_states if state in VISIBLE_STATES)
        bindings: dict[tuple[str, str], Registration] = {}
        by_domain: dict[str, dict[tuple[str, str], Registration]] = {}
        counts: dict[str, int] = {}
        for reg in view.all_registrations():
            bindings[(reg.node, reg.token)] = reg
            by_domain.setdefault(reg.realm.lower(), {})[(reg.node, reg.token)] = reg
            k = key(reg.reg_user, reg.realm)
            counts[k] = counts.get(k, 0) + 1
        self._bindings, self._by_domain, self._counts = bindings, by_domain, counts
        online = frozenset(counts)
        if online != self._online:
            self._online = online
        self._encoded = {
            i: e for i, e in self._encoded.items() if bindings.get((e[0].node, e[0].token)) is e[0]
        }
        self._changed()

    def _apply(self, delta: Delta, touched: set[str]) -> None:
        """One Delta of a visible node onto the picture."""
        if delta.node not in self._visible:
            return  # not counted; becoming visible changes node states: a rebuild
        for token in delta.removed:
            old = self._bindings.pop((delta.node, token), None)
            if old is not None:
                self._uncount(old, touched)
                self._undomain(old)
        for reg in delta.upserted:
            old = self._bindings.get((delta.node, reg.token))
            if old is reg:
                continue
            if old is not None:
                self._uncount(old, touched)
                if old.realm.lower() != reg.realm.lower():
                    self._undomain(old)
            self._bindings[(delta.node, reg.token)] = reg
            self._by_domain.setdefault(reg.realm.lower(), {})[(delta.node, reg.token)] = reg
            k = key(reg.reg_user, reg.realm)
            count = self._counts.get(k, 0)
            self._counts[k] = count + 1
            if count == 0:
                touched.add(k)

    def _undomain(self, reg: Registration) -> None:
        domain = reg.realm.lower()
        held = self._by_domain.get(domain)
        if held is not None:
            held.pop((reg.node, reg.token), None)
            if not held:
                del self._by_domain[domain]

    def _uncount(self, reg: Registration, touched: set[str]) -> None:
        self._encoded.pop(id(reg), None)
        k = key(reg.reg_user, reg.realm)
        count = self._counts[k] - 1
        if count:
            self._counts[k] = count
        else:
            del self._counts[k]
            touched.add(k)

    def _changed(self) -> None:
        self._generation += 1
        self._scoped = {}

    def bindings(self, domain_scope: str | None) -> list[Registration]:
        if domain_scope is None:
            return list(self._bindings.values())
        return list(self._by_domain.get(domain_scope.lower(), {}).values())
