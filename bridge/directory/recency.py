"""Bounded maps that evict by second chance (CLOCK), so that a hit writes nothing but a flag.

The extension cache and the answer memo are least-recently-used in spirit. A true LRU
(``OrderedDict.move_to_end`` on every hit) relinks the entry's list node and both its
neighbours: three more scattered objects touched per lookup, which with 10,000 users
cached measured as a real share of a warm lookup's time (BENCHMARKS.md, "Third session").
Here a hit only sets ``used`` on the entry it already holds; the insertion order is kept
by the ``OrderedDict``, and only eviction walks it: the oldest entry goes unless it was
used since it last came round, in which case it loses the flag and moves to the back.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol, TypeVar


class Usable(Protocol):
    used: bool


K = TypeVar("K")
E = TypeVar("E", bound=Usable)


def make_room(entries: OrderedDict[K, E], capacity: int) -> None:
    """Evict until one more entry fits in ``capacity`` (call before inserting a new key)."""
    while entries and len(entries) >= capacity:
        key, entry = entries.popitem(last=False)
        if entry.used:
            entry.used = False
            entries[key] = entry
