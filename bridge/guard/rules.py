"""Per-source counting: when does a source, or one extension from it, earn a ban (pure).

Time is passed in (``now``, epoch seconds), never read, so tests drive the clock. Every
table is bounded (``max_sources``): the source heard from least recently is forgotten first.

A source is judged on failures in a window that opens at its first failure:

* ``failures``: more than ``max_failures`` failures of any kind (a password guesser);
* ``unknown_users``: more than ``max_unknown_users`` different unknown users (a scanner);
* ``scanner_agent``: one failure from a user agent scanners are known by.

Never judged: an address inside ``allow`` and a *trusted* source, one from which a phone
authenticated with a correct digest (or registered, from the events) in the last
``trusted_seconds``. Behind such an address (an office NAT) only the failing extension is
judged, on its own count over ``extension_window``: it gets a *limit* (that extension
from that source), never a ban of the whole source.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from bridge.guard.outcome import Reason

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class RuleSettings:
    window: float = 60.0
    max_failures: int = 30
    max_unknown_users: int = 10
    scanner_agents: tuple[str, ...] = ()
    trusted_seconds: float = 7200.0
    extension_window: float = 600.0
    extension_max_failures: int = 20
    allow: tuple[Network, ...] = ()
    max_sources: int = 100_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """A source (``key`` "") or one extension from it (``key`` extn@domain) broke ``rule``."""

    ip: str
    key: str
    rule: str
    count: int


@dataclass(slots=True)
class _Count:
    start: float
    failures: int = 0
    unknown: set[str] = field(default_factory=set)


def ban_seconds(offences: int, base: float, growth: float, longest: float) -> float:
    """The n-th ban of a source lasts base * growth**(n-1), at most ``longest``."""
    exponent = max(0, offences - 1)
    try:
        seconds = base * growth**exponent
    except OverflowError:
        seconds = longest
    return float(min(seconds, longest))


def is_scanner(user_agent: str, agents: tuple[str, ...]) -> bool:
    text = user_agent.lower()
    return any(agent in text for agent in agents)


class Rules:
    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings
        self._agents = tuple(a.lower() for a in settings.scanner_agents if a)
        self._sources: OrderedDict[str, _Count] = OrderedDict()
        self._extensions: OrderedDict[tuple[str, str], _Count] = OrderedDict()
        self._trusted: OrderedDict[str, float] = OrderedDict()

    def sizes(self) -> dict[str, int]:
        return {
            "sources": len(self._sources),
            "extensions": len(self._extensions),
            "trusted": len(self._trusted),
        }

    # -- trust ------------------------------------------------------------------

    def trust(self, ip: str, now: float) -> None:
        """A phone authenticated from ``ip``: its source is never banned for a while."""
        if not ip:
            return
        self._trusted[ip] = now
        self._trusted.move_to_end(ip)
        self._bound(self._trusted)
        self._sources.pop(ip, None)

    def is_trusted(self, ip: str, now: float) -> bool:
        seen = self._trusted.get(ip)
        if seen is None:
            return False
        if now - seen > self.settings.trusted_seconds:
            del self._trusted[ip]
            return False
        return True

    def forgive(self, ip: str) -> None:
        """Forget every count against ``ip`` (after an unban)."""
        self._sources.pop(ip, None)
        for slot in [s for s in self._extensions if s[0] == ip]:
            del self._extensions[slot]

    def is_allowed(self, ip: str) -> bool:
        if not self.settings.allow:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.settings.allow)

    def overlaps_allowed(self, cidr: str) -> bool:
        """Whether a network (a widened ban's prefix) holds any ``allow`` address."""
        network = ipaddress.ip_network(cidr, strict=False)
        return any(network.overlaps(allowed) for allowed in self.settings.allow)

    # -- failures ---------------------------------------------------------------

    def failure(self, ip: str, key: str, reason: Reason, user_agent: str, now: float) -> Verdict | None:
        """Count one failure of ``key`` (extn@domain) from ``ip``; a Verdict when a rule breaks."""
        if not ip or self.is_allowed(ip):
            return None
        if self.is_trusted(ip, now):
            return self._extension_failure(ip, key, now)
        count = self._sources.get(ip)
        if count is None or now - count.start > self.settings.window:
            count = self._sources[ip] = _Count(now)
            self._bound(self._sources)
        else:
            self._sources.move_to_end(ip)
        count.failures += 1
        if reason is Reason.UNKNOWN_USER and len(count.unknown) <= self.settings.max_unknown_users:
            count.unknown.add(key)
        verdict = None
        if self._agents and is_scanner(user_agent, self._agents):
            verdict = Verdict(ip, "", "scanner_agent", count.failures)
        elif len(count.unknown) > self.settings.max_unknown_users:
            verdict = Verdict(ip, "", "unknown_users", len(count.unknown))
        elif count.failures > self.settings.max_failures:
            verdict = Verdict(ip, "", "failures", count.failures)
        if verdict is not None:
            del self._sources[ip]  # counted afresh after the ban
        return verdict

    def _extension_failure(self, ip: str, key: str, now: float) -> Verdict | None:
        slot = (ip, key)
        count = self._extensions.get(slot)
        if count is None or now - count.start > self.settings.extension_window:
            count = self._extensions[slot] = _Count(now)
            self._bound(self._extensions)
        else:
            self._extensions.move_to_end(slot)
        count.failures += 1
        if count.failures > self.settings.extension_max_failures:
            del self._extensions[slot]
            return Verdict(ip, key, "extension_failures", count.failures)
        return None

    def _bound(self, table: OrderedDict[Any, Any]) -> None:
        while len(table) > self.settings.max_sources:
            table.popitem(last=False)
