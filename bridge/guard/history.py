"""A bounded history of recent attempts per extension: a ring each, the least recent dropped (pure).

Memory is bounded twice: at most ``per_extension`` attempts for each of at most
``extensions`` keys (``extn@domain``, lower-case); the extension heard from least recently
is forgotten first. Unknown users are recorded too (they are what a scan looks like), so
the bound on keys is what keeps a scan of a million made-up names from growing it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace

from bridge.guard.attempt import Attempt


def key_of(extn: str, domain: str) -> str:
    return f"{extn}@{domain}".lower()


class History:
    def __init__(self, per_extension: int, extensions: int) -> None:
        self._per = max(1, per_extension)
        self._max_keys = max(1, extensions)
        self._rings: OrderedDict[str, deque[Attempt]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rings)

    def attempts(self) -> int:
        return sum(len(ring) for ring in self._rings.values())

    def add(self, key: str, attempt: Attempt) -> None:
        ring = self._rings.get(key)
        if ring is None:
            while len(self._rings) >= self._max_keys:
                self._rings.popitem(last=False)
            ring = self._rings[key] = deque(maxlen=self._per)
        else:
            self._rings.move_to_end(key)
        ring.append(attempt)

    def of(self, key: str) -> Sequence[Attempt]:
        """Oldest first."""
        return tuple(self._rings.get(key, ()))

    def annotate(self, key: str, ip: str, port: str, since: float, freeswitch: str) -> bool:
        """Mark the latest lookup-born attempt from ip:port since ``since`` with what FreeSWITCH
        decided; False when there is none (the event is then an attempt of its own)."""
        ring = self._rings.get(key)
        if not ring:
            return False
        for index in range(len(ring) - 1, -1, -1):
            attempt = ring[index]
            if attempt.at < since:
                return False
            if attempt.source == "lookup" and attempt.ip == ip and attempt.port == port:
                if not attempt.freeswitch:
                    ring[index] = replace(attempt, freeswitch=freeswitch)
                return True
        return False
