"""A bounded history of recent attempts per extension: a ring each, the least recent dropped (pure).

Memory is bounded twice: at most ``per_extension`` attempts for each of at most
``extensions`` keys (``extn@domain``, lower-case); the extension heard from least recently
is forgotten first. Unknown users are recorded too (they are what a scan looks like), so
the bound on keys is what keeps a scan of a million made-up names from growing it.

An extension's newest attempt may carry repeats (``repeat``): the same right digest from
the same source counted onto it instead of recorded again (the guard's fast path,
engine.py). Reads (``of``) show them as the attempt's ``repeats`` and ``last_at``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bridge.guard.attempt import Attempt


@dataclass(slots=True)
class _Repeats:
    count: int
    last_at: float


def key_of(extn: str, domain: str) -> str:
    return f"{extn}@{domain}".lower()


class History:
    def __init__(self, per_extension: int, extensions: int) -> None:
        self._per = max(1, per_extension)
        self._max_keys = max(1, extensions)
        self._rings: OrderedDict[str, deque[Attempt]] = OrderedDict()
        # key -> the repeats of its newest attempt; gone once another is added.
        self._repeats: dict[str, _Repeats] = {}

    def __len__(self) -> int:
        return len(self._rings)

    def attempts(self) -> int:
        return sum(len(ring) for ring in self._rings.values())

    def add(self, key: str, attempt: Attempt) -> None:
        ring = self._rings.get(key)
        if ring is None:
            while len(self._rings) >= self._max_keys:
                forgotten, _ = self._rings.popitem(last=False)
                self._repeats.pop(forgotten, None)
            ring = self._rings[key] = deque(maxlen=self._per)
        else:
            self._rings.move_to_end(key)
            self._repeats.pop(key, None)
        ring.append(attempt)

    def newest(self, key: str) -> Attempt | None:
        """``key``'s newest attempt as recorded (without its repeats)."""
        ring = self._rings.get(key)
        return ring[-1] if ring else None

    def repeat(self, key: str, at: float) -> None:
        """Count a repeat of ``key``'s newest attempt, come at ``at`` (the caller checked that
        it is the same attempt again)."""
        counted = self._repeats.get(key)
        if counted is None:
            self._repeats[key] = _Repeats(1, at)
        else:
            counted.count += 1
            counted.last_at = at
        self._rings.move_to_end(key)

    def of(self, key: str) -> Sequence[Attempt]:
        """Oldest first; the newest with its repeats."""
        attempts = tuple(self._rings.get(key, ()))
        counted = self._repeats.get(key)
        if counted is None:
            return attempts
        newest = replace(attempts[-1], repeats=counted.count, last_at=counted.last_at)
        return (*attempts[:-1], newest)

    def annotate(self, key: str, ip: str, port: str, since: float, freeswitch: str) -> bool:
        """Mark the latest lookup-born attempt from ip:port since ``since`` with what FreeSWITCH
        decided; False when there is none (the event is then an attempt of its own)."""
        ring = self._rings.get(key)
        if not ring:
            return False
        newest = len(ring) - 1
        counted = self._repeats.get(key)
        latest = counted.last_at if counted is not None else ring[newest].at
        for index in range(newest, -1, -1):
            attempt = ring[index]
            repeated = index == newest and counted is not None
            if (latest if index == newest else attempt.at) < since:
                return False
            if attempt.source == "lookup" and attempt.ip == ip and attempt.port == port:
                # A repeated attempt shows what FreeSWITCH decided about its latest repeat
                # when that was a refusal (a right digest FreeSWITCH refused).
                if not attempt.freeswitch or (repeated and freeswitch == "refused"):
                    ring[index] = replace(attempt, freeswitch=freeswitch)
                return True
        return False
