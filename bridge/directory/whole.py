"""Whole-directory answers: built a slice at a time, shared, reused until a change, bounded.

list_users, network-list, group_call, xml_locate and gateways read a whole domain (or
every domain). With 3,000 extensions, deciding and rendering one list_users answer in one
go held the event loop for 0.25-0.36 s, and 8 clients asking at once pushed sip_auth
lookups past 2 s (issue 13 item 4). So:

* the decision and the text are made ``slice_users`` users at a time, and the loop runs
  whatever else is ready (sip_auth lookups) between two slices;
* concurrent requests for the same answer share one build, and a finished answer is
  served again until the directory changes (``invalidate``, fed by the same LISTEN/NOTIFY
  listener as the extension cache) — only while changes can be heard (``set_reusable``);
* at most ``max_building`` answers are built at once and at most ``max_waiting`` more
  wait for a turn; beyond that the request is refused (``Busy``, 503: mod_xml_curl tries
  its next binding), counted by the caller.

Nothing here imports aiohttp or asyncpg; the store is reached through its protocol.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Literal, TypeVar

from bridge.directory import lookup, render
from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest, Kind
from bridge.directory.rendered import Rendered
from bridge.directory.store.protocol import DirectoryStore
from bridge.errors import RequestError

WholeResult = Literal["hit", "built", "shared", "refused"]
Item = TypeVar("Item")
_Key = tuple[Kind, str, str]
# Distinct answers kept at most (one per domain and kind, one per group): past it, all go.
_MAX_KEPT = 1024


class Busy(RequestError):
    """Too many whole-directory answers asked for at once: 503, try again (or the next binding)."""

    status = 503
    code = "busy"


class WholeAnswers:
    """Answers the domain-wide requests (every kind not in lookup.PER_USER)."""

    def __init__(
        self,
        policy: lookup.Policy,
        *,
        max_building: int = 1,
        max_waiting: int = 16,
        slice_users: int = 100,
        count: Callable[[WholeResult], None] = lambda result: None,
    ) -> None:
        self._policy = policy
        self._max_waiting = max(0, max_waiting)
        self._slice = max(1, slice_users)
        self._count = count
        self._max_building = max(1, max_building)
        self._slots = asyncio.Semaphore(self._max_building)
        self._kept: dict[_Key, Rendered] = {}
        self._flights: dict[_Key, asyncio.Task[Rendered]] = {}
        self._generation = 0
        self._reusable = False
        # Slices decided or rendered since start (tests watch the loop interleave on it).
        self.slices = 0
        self.builds = 0

    def invalidate(self) -> None:
        """The directory changed: no answer built before now is served again."""
        self._generation += 1
        self._kept.clear()

    def set_reusable(self, reusable: bool) -> None:
        """Whether changes can be heard (the listener is listening); False: build every time."""
        self._reusable = reusable
        self.invalidate()

    async def answer(self, store: DirectoryStore, request: DirectoryRequest) -> Rendered:
        """Raises DatabaseUnavailable (the store cannot answer) or Busy (too many at once)."""
        key = (request.kind, request.domain, request.group)
        kept = self._kept.get(key)
        if kept is not None:
            self._count("hit")
            return kept
        flight = self._flights.get(key)
        if flight is not None:
            self._count("shared")
        else:
            # Every flight is building or waiting for a turn: counted when it is created,
            # so requests arriving in the same turn of the loop are bounded too.
            if len(self._flights) >= self._max_building + self._max_waiting:
                self._count("refused")
                raise Busy("too many whole-directory answers at once")
            self._count("built")
            flight = asyncio.create_task(self._build(store, request, key), name="directory-whole")
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # Shielded: one caller going away must not cancel what the others wait for.
        return await asyncio.shield(flight)

    def _landed(self, key: _Key, flight: asyncio.Task[Rendered]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # read here, so a build nobody awaits any more logs nothing

    async def _build(self, store: DirectoryStore, request: DirectoryRequest, key: _Key) -> Rendered:
        generation = self._generation
        await self._slots.acquire()
        try:
            self.builds += 1
            rendered = await self._make(store, request)
        finally:
            self._slots.release()
        if self._reusable and generation == self._generation:
            if len(self._kept) >= _MAX_KEPT:
                self._kept.clear()
            self._kept[key] = rendered
        return rendered

    async def _make(self, store: DirectoryStore, request: DirectoryRequest) -> Rendered:
        kind = request.kind
        if kind is Kind.GATEWAYS:
            return await self._rendered(lookup.answer_gateways(await store.domains()))
        if kind is Kind.XML_LOCATE:
            return await self._rendered(lookup.answer_locate(request, await store.domains()))
        if kind is Kind.GROUP_CALL:
            extensions = await store.domain(request.domain)
            ids = await store.group_extension_ids(request.domain, request.group)
            decide = functools.partial(_group_members, request, member_ids=ids)
            members = [u async for u in self._decided(extensions, decide)]
            if not members:
                return await self._rendered(lookup.not_found("unknown"))
            group = lookup.Group(request.group, tuple(members))
            domain = lookup.Domain(request.domain, lookup.DOMAIN_PARAMS, groups=(group,))
            return await self._rendered(lookup.Answer((domain,), "found"))
        if kind is Kind.NETWORK_LIST:
            extensions = await store.domain(request.domain)
            if not extensions:
                return await self._rendered(lookup.not_found("unknown"))
            trust = self._policy.trust_extn_cidr

            def listed(part: Sequence[Extension]) -> Iterable[lookup.User]:
                return lookup.answer_network_list(request, part, trust).domains[0].users

            users = [u async for u in self._decided(extensions, listed)]
            domain = lookup.Domain(request.domain, lookup.DOMAIN_PARAMS, tuple(users))
            return await self._rendered(lookup.Answer((domain,), "found"))
        # list_users: FreeSWITCH filters the whole domain (or directory) itself.
        names = [request.domain] if request.domain else list(await store.domains())
        domains = []
        for name in names:
            extensions = await store.domain(name)
            users = [u async for u in self._decided(extensions, functools.partial(_domain_users, name))]
            if users:
                domains.append(lookup.Domain(name, lookup.DOMAIN_PARAMS, tuple(users)))
        return await self._rendered(lookup.answer_list_users(domains))

    async def _decided(
        self, extensions: Sequence[Extension], decide: Callable[[Sequence[Extension]], Iterable[lookup.User]]
    ) -> AsyncIterator[lookup.User]:
        for start in range(0, len(extensions), self._slice):
            for user in decide(extensions[start : start + self._slice]):
                yield user
            await self._yield_to_loop()

    async def _rendered(self, answer: lookup.Answer) -> Rendered:
        if not answer.found:
            return Rendered.of(answer)
        # Encoded a slice at a time too: one encode of megabytes is itself a stall.
        parts: list[bytes] = []
        for piece in _batched(render.fragments(answer), self._slice):
            parts.append("".join(piece).encode())
            await self._yield_to_loop()
        return Rendered(b"".join(parts), answer.found, answer.reason, answer.realm_mismatch)

    async def _yield_to_loop(self) -> None:
        self.slices += 1
        await asyncio.sleep(0)


def _group_members(
    request: DirectoryRequest, part: Sequence[Extension], member_ids: frozenset[int]
) -> Iterable[lookup.User]:
    found = lookup.answer_group(request, part, member_ids)
    return found.domains[0].groups[0].users if found.found else ()


def _domain_users(name: str, part: Sequence[Extension]) -> Iterable[lookup.User]:
    found = lookup.answer_domain_users(name, part)
    return found.users if found is not None else ()


def _batched(items: Iterator[str], size: int) -> Iterator[list[str]]:
    while piece := list(itertools.islice(items, size)):
        yield piece
