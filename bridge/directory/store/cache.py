"""The in-process directory cache: a bounded ``DirectoryStore`` in front of PostgreSQL.

Rules, in the order they matter to a phone trying to register:

* A known user is answered from memory: a dict lookup, no database round trip. When the
  cache is full, the least recently used entry goes (``OrderedDict``: a hit moves its
  entry to the end).
* "Not found" is remembered only for ``directory.negative_ttl`` seconds.
* Concurrent misses for one key share one query.
* Entries are dropped when PostgreSQL says they changed (``invalidate``, fed by the
  LISTEN/NOTIFY listener). While that listener is disconnected nobody can tell us about
  changes, so entries are *suspect*: they keep being served (a dead database must not
  log phones out), and once the listener is back each is re-read on its next use, the
  cached copy still answering if that read fails.
* A fetch that raced with an invalidation answers its waiters but is not stored.

``domain()`` and ``domains()`` (list_users, gateways, network-list: rare, whole-domain
reads) are not cached.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bridge.directory.extension import Extension, Key
from bridge.directory.store.protocol import DirectoryStore
from bridge.directory.store.waiters import answer_all, fail_all, wait_own
from bridge.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

Result = Literal["hit", "negative_hit", "miss", "stale"]


@dataclass(slots=True)
class _Entry:
    value: Extension | None
    # Monotonic deadline of a negative entry (positive entries live until invalidated).
    expires: float
    # The resync generation the entry was read in; older ones are re-read on next use.
    generation: int


@dataclass(slots=True)
class _Flight:
    """A read of one key in progress: the first caller's, which the others wait for."""

    # The later callers, each on a future of its own (waiters.py).
    followers: list[asyncio.Future[Extension | None]] = field(default_factory=list)
    # Set when an invalidation of this key arrives while the query runs: the answer may
    # predate the change, so it is handed to the waiters but never stored.
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class CacheStatus:
    entries: int
    capacity: int
    # False while changes cannot be heard (listener down): entries may be stale.
    coherent: bool
    # Entries read before the last resync, not yet re-read.
    suspect: bool


class CachedStore:
    """A ``DirectoryStore`` with memory in front of ``backend``."""

    def __init__(
        self,
        backend: DirectoryStore,
        *,
        capacity: int,
        negative_ttl: float,
        count: Callable[[Result], None] = lambda result: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._capacity = max(capacity, 0)
        self._negative_ttl = negative_ttl
        self._count = count
        self._clock = clock
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._flights: dict[Key, _Flight] = {}
        self._generation = 0
        self._coherent = False
        # Keys announced changed since the running warm-up page was read (None: no warm-up
        # page in flight); "everything" when a whole-cache invalidation came meanwhile.
        self._preload_dirty: set[Key] | None = None
        self._preload_all_dirty = False

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, domain: str, extn: str) -> Extension | None:
        key = (domain, extn)
        entry = self._entries.get(key)
        if entry is not None:
            if entry.value is not None:
                if not self._coherent:
                    # Changes cannot be heard right now: the last known answer stands.
                    self._entries.move_to_end(key)
                    self._count("stale")
                    return entry.value
                if entry.generation == self._generation:
                    self._entries.move_to_end(key)
                    self._count("hit")
                    return entry.value
            elif entry.expires > self._clock():
                self._count("negative_hit")
                return None
        try:
            value = await self._fetch(key)
        except DatabaseUnavailable:
            # The database cannot say: a user we knew keeps working.
            if entry is not None and entry.value is not None and key in self._entries:
                self._count("stale")
                return entry.value
            raise
        self._count("miss")
        return value

    async def domain(self, domain: str) -> Sequence[Extension]:
        return await self._backend.domain(domain)

    async def domains(self) -> Sequence[str]:
        return await self._backend.domains()

    async def group_extension_ids(self, domain: str, group: str) -> frozenset[int]:
        return await self._backend.group_extension_ids(domain, group)

    def invalidate(self, keys: Iterable[Key]) -> int:
        """Forget these keys (a change was announced); returns how many entries went."""
        dropped = 0
        for key in keys:
            if self._entries.pop(key, None) is not None:
                dropped += 1
            flight = self._flights.get(key)
            if flight is not None:
                flight.dirty = True
            if self._preload_dirty is not None:
                self._preload_dirty.add(key)
        return dropped

    def invalidate_all(self) -> int:
        """Forget everything (TRUNCATE, a bulk change): the next lookups go to the database."""
        dropped = len(self._entries)
        self._entries.clear()
        for flight in self._flights.values():
            flight.dirty = True
        self._preload_all_dirty = True
        return dropped

    @property
    def full(self) -> bool:
        return len(self._entries) >= self._capacity

    def begin_preload(self) -> None:
        """A warm-up page is about to be read: changes announced from now on must win over it."""
        self._preload_dirty = set()
        self._preload_all_dirty = False

    def end_preload(self) -> None:
        """The warm-up stopped: stop noting changed keys for it."""
        self._preload_dirty = None

    def preload(self, found: Iterable[tuple[Key, Extension]]) -> int:
        """Store a warm-up page read since ``begin_preload``; returns how many entries it added.

        Never overwrites a current entry (a lookup read it at least as recently), never
        stores a key changed since the page was read, never evicts: stops when full.
        """
        dirty, self._preload_dirty = self._preload_dirty or set(), None
        if self._preload_all_dirty or not self._coherent:
            return 0  # everything may have changed meanwhile (or changes cannot be heard)
        added = 0
        for key, value in found:
            if self.full:
                break
            entry = self._entries.get(key)
            if (
                key in dirty
                or key in self._flights
                or (entry is not None and entry.generation == self._generation)
            ):
                continue
            self._store(key, value)
            added += 1
        return added

    def set_coherent(self, coherent: bool) -> None:
        """Called by the listener: True once LISTEN is active again (changes are heard).

        Going from incoherent to coherent marks every entry suspect: changes made while
        nobody listened were missed, so each entry is re-read on its next use.
        """
        if coherent and not self._coherent:
            self._generation += 1
            self._preload_all_dirty = True
            for flight in self._flights.values():
                flight.dirty = True
        self._coherent = coherent

    def status(self) -> CacheStatus:
        suspect = any(e.generation != self._generation for e in self._iter_sample())
        return CacheStatus(len(self._entries), self._capacity, self._coherent, suspect)

    def _iter_sample(self) -> Iterable[_Entry]:
        # The oldest entries are the likeliest to be suspect; a bounded look keeps status() O(1).
        for index, entry in enumerate(self._entries.values()):
            if index >= 64:
                return
            yield entry

    async def _fetch(self, key: Key) -> Extension | None:
        """Concurrent misses of a key share one read: the first caller's own ``backend.get``
        (no task of its own on the lookup path); the others wait for its outcome. Should the
        first caller give up (cancelled: FreeSWITCH hung up, shutdown), the read carries on
        in a task for the others."""
        flight = self._flights.get(key)
        if flight is not None:
            return await wait_own(flight.followers)
        flight = self._flights[key] = _Flight()
        try:
            value = await self._backend.get(*key)
        except asyncio.CancelledError:
            if flight.followers:
                task = asyncio.ensure_future(self._backend.get(*key))
                task.add_done_callback(functools.partial(self._handed_over, key, flight))
            else:
                self._landed(key, flight)
            raise
        except BaseException as exc:
            self._landed(key, flight, error=exc)
            raise
        self._landed(key, flight, value)
        return value

    def _handed_over(self, key: Key, flight: _Flight, task: asyncio.Task[Extension | None]) -> None:
        if task.cancelled():
            self._landed(key, flight, error=DatabaseUnavailable("directory read cancelled"))
        elif (error := task.exception()) is not None:
            self._landed(key, flight, error=error)
        else:
            self._landed(key, flight, task.result())

    def _landed(
        self, key: Key, flight: _Flight, value: Extension | None = None, *, error: BaseException | None = None
    ) -> None:
        """The read is over: answer the followers, and store the value unless it may be stale."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        if error is None:
            answer_all(flight.followers, value)
        else:
            fail_all(flight.followers, lambda: _copy(error))
        if error is None and not flight.dirty:
            self._store(key, value)

    def _store(self, key: Key, value: Extension | None) -> None:
        if self._capacity == 0:
            return
        expires = self._clock() + self._negative_ttl if value is None else 0.0
        if value is None and self._negative_ttl <= 0:
            self._entries.pop(key, None)
            return
        self._entries.pop(key, None)
        while self._entries and len(self._entries) >= self._capacity:  # least recently used first
            self._entries.popitem(last=False)
        self._entries[key] = _Entry(value, expires, self._generation)


def _copy(error: BaseException) -> BaseException:
    """A follower's own copy of the first caller's error (waiters.fail_all)."""
    if isinstance(error, DatabaseUnavailable):
        return DatabaseUnavailable.caused_by(str(error), error.__cause__)
    return error
