"""A bounded history of recent attempts per extension: a ring each, the least recent dropped (pure).

Memory is bounded twice: at most ``per_extension`` attempts for each of at most
``extensions`` keys (``extn@domain``, lower-case); the extension heard from least recently
is forgotten first. Unknown users are recorded too (they are what a scan looks like), so
the bound on keys is what keeps a scan of a million made-up names from growing it.

An extension's newest attempt may carry a proof (what the guard needs to tell that a later
lookup repeats it; dropped once FreeSWITCH is heard refusing it) and repeats (``repeat``):
the same right digest from the same source, counted onto it instead of recorded again
(engine.py, ``_repeat``). Reads (``of``) show them as the attempt's ``repeats`` and ``last_at``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bridge.guard.attempt import Attempt


@dataclass(slots=True)
class _Newest:
    """What is kept beside an extension's newest attempt, until another is added."""

    proof: object  # what tells a repeat of it (the guard's; None: none can be told)
    repeats: int = 0
    last_at: float = 0.0


def key_of(extn: str, domain: str) -> str:
    return f"{extn}@{domain}".lower()


class History:
    def __init__(self, per_extension: int, extensions: int) -> None:
        self._per = max(1, per_extension)
        self._max_keys = max(1, extensions)
        self._rings: OrderedDict[str, deque[Attempt]] = OrderedDict()
        # key -> the proof and repeats of its newest attempt; gone once another is added.
        self._newest: dict[str, _Newest] = {}

    def __len__(self) -> int:
        return len(self._rings)

    def attempts(self) -> int:
        return sum(len(ring) for ring in self._rings.values())

    def add(self, key: str, attempt: Attempt, proof: object = None) -> None:
        """Record ``attempt`` as ``key``'s newest, with what tells a repeat of it (``proof``)."""
        ring = self._rings.get(key)
        if ring is None:
            while len(self._rings) >= self._max_keys:
                forgotten, _ = self._rings.popitem(last=False)
                self._newest.pop(forgotten, None)
            ring = self._rings[key] = deque(maxlen=self._per)
        else:
            self._rings.move_to_end(key)
            ended = self._newest.pop(key, None)
            if ended is not None and ended.repeats and ring:  # kept on the attempt from now on
                ring[-1] = replace(ring[-1], repeats=ended.repeats, last_at=ended.last_at)
        ring.append(attempt)
        if proof is not None:
            self._newest[key] = _Newest(proof)

    def proof(self, key: str) -> object:
        """The proof recorded with ``key``'s newest attempt; None when there is none."""
        newest = self._newest.get(key)
        return None if newest is None else newest.proof

    def repeat(self, key: str, at: float, *, renew: bool = True) -> None:
        """Count a repeat of ``key``'s newest attempt, come at ``at`` (the caller checked that
        it is the same attempt again); ``renew``: it also makes ``key`` the most recently
        heard from (the guard does so at most once a minute in a run of repeats)."""
        newest = self._newest.get(key)
        if newest is None:
            newest = self._newest[key] = _Newest(None)
        newest.repeats += 1
        newest.last_at = at
        if renew:
            self._rings.move_to_end(key)

    def of(self, key: str) -> Sequence[Attempt]:
        """Oldest first; the newest with its repeats."""
        attempts = tuple(self._rings.get(key, ()))
        newest = self._newest.get(key)
        if newest is None or not newest.repeats or not attempts:
            return attempts
        repeated = replace(attempts[-1], repeats=newest.repeats, last_at=newest.last_at)
        return (*attempts[:-1], repeated)

    def annotate(self, key: str, ip: str, port: str, since: float, freeswitch: str) -> bool:
        """Mark the latest lookup-born attempt from ip:port since ``since`` with what FreeSWITCH
        decided; False when there is none (the event is then an attempt of its own)."""
        ring = self._rings.get(key)
        if not ring:
            return False
        newest = len(ring) - 1
        counted = self._newest.get(key)
        repeats = counted.repeats if counted is not None else 0
        latest = counted.last_at if counted is not None and repeats else ring[newest].latest
        for index in range(newest, -1, -1):
            attempt = ring[index]
            repeated = index == newest and repeats > 0
            if (latest if index == newest else attempt.latest) < since:
                return False
            if attempt.source == "lookup" and attempt.ip == ip and attempt.port == port:
                # A repeated attempt shows what FreeSWITCH decided about its latest repeat
                # when that was a refusal (a right digest FreeSWITCH refused).
                if not attempt.freeswitch or (repeated and freeswitch == "refused"):
                    ring[index] = replace(attempt, freeswitch=freeswitch)
                    if index == newest and freeswitch == "refused" and counted is not None:
                        counted.proof = None  # refused: what follows is no repeat of a success
                return True
        return False
