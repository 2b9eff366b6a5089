"""Answer a parsed directory request: one store call, decide, render, and remember the bytes.

    handler.py -> answers.py (store call, memo) -> lookup.py (decide) -> render.py (bytes)

Deciding and rendering a user (~60 XML elements: ~9 + ~10 µs) costs more than the rest
of a warm lookup's own work (a memo hit: ~1 µs), and phones ask for the same answer again
and again (every REGISTER, INVITE and SUBSCRIBE is a sip_auth lookup). So per-user
answers are memoised in a bounded map:

* the key is the parsed request itself (``DirectoryRequest``, a frozen dataclass that
  hashes and compares all its fields), so everything the decision can read from the
  request — kind, echoed user id, echoed domain, digest username (ha1 vs ha1b), realm
  (mismatch outcome), data type — is part of the key by construction, including any
  field added later;
* the entry holds the ``Extension`` object the answer was made from, and a hit requires
  the store to return *that very object* (``is``). The store hands out the same
  immutable object until the extension changes, then a new one (cache.py; the database
  store makes a new one every time), so a changed, disabled or deleted extension is
  decided and rendered again on its next lookup. The object is held, not its ``id()``,
  so an address reused after garbage collection can never match;
* the policy (send_password, realm_mismatch) is fixed for the life of an ``Answerer``;
* eviction is by second chance (recency.py): a hit only flags its entry.

Nothing here imports aiohttp or asyncpg; the store is reached through its protocol.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bridge.directory import lookup, recency, render
from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest, Kind
from bridge.directory.store import DirectoryStore

MemoResult = Literal["hit", "miss"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """What the edge needs of an answer: the bytes, and the outcome for metrics and logs."""

    body: bytes
    found: bool
    # found, unknown, disabled, no_credential, realm_mismatch, ... (lookup.Answer.reason)
    reason: str
    # sip_auth only: "" (realm matched), "refused" or "password".
    realm_mismatch: str = ""

    @classmethod
    def of(cls, answer: lookup.Answer) -> Rendered:
        return cls(render.render(answer), answer.found, answer.reason, answer.realm_mismatch)


@dataclass(slots=True)
class _Memo:
    extension: Extension
    rendered: Rendered
    # Asked for since eviction last came round (recency.py).
    used: bool = False


class AnswerMemo:
    """A bounded map of rendered per-user answers, valid only for the same Extension object."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(capacity, 0)
        self._entries: OrderedDict[DirectoryRequest, _Memo] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, request: DirectoryRequest, extension: Extension) -> Rendered | None:
        entry = self._entries.get(request)
        if entry is None or entry.extension is not extension:
            return None
        entry.used = True
        return entry.rendered

    def put(self, request: DirectoryRequest, extension: Extension, rendered: Rendered) -> None:
        if self._capacity == 0:
            return
        self._entries.pop(request, None)
        recency.make_room(self._entries, self._capacity)
        self._entries[request] = _Memo(extension, rendered)


class Answerer:
    """Turns a DirectoryRequest into a Rendered answer, per-user answers through the memo."""

    def __init__(
        self,
        policy: lookup.Policy,
        memo_size: int,
        count: Callable[[MemoResult], None] = lambda result: None,
    ) -> None:
        self._policy = policy
        self._count = count
        self.memo = AnswerMemo(memo_size)

    async def answer(self, store: DirectoryStore, request: DirectoryRequest) -> Rendered:
        """Raises DatabaseUnavailable when the store cannot answer."""
        if request.kind not in lookup.PER_USER:
            return Rendered.of(await _decide_other(store, request))
        if request.user_domain and request.user_domain != request.domain:
            return _UNKNOWN
        extension = await store.get(request.domain, request.extn)
        if extension is None:
            return _UNKNOWN
        rendered = self.memo.get(request, extension)
        if rendered is not None:
            self._count("hit")
            return rendered
        rendered = Rendered.of(lookup.answer_user(request, extension, self._policy))
        self.memo.put(request, extension, rendered)
        self._count("miss")
        return rendered


_UNKNOWN = Rendered.of(lookup.not_found("unknown"))


async def _decide_other(store: DirectoryStore, request: DirectoryRequest) -> lookup.Answer:
    """The domain-wide lookups: rare (profile start, reloadacl, API calls), never memoised."""
    if request.kind is Kind.GROUP_CALL:
        return lookup.answer_group(request, await store.domain(request.domain))
    if request.kind is Kind.NETWORK_LIST:
        return lookup.answer_network_list(request, await store.domain(request.domain))
    if request.kind is Kind.XML_LOCATE:
        return lookup.answer_locate(request, await store.domains())
    if request.kind is Kind.GATEWAYS:
        return lookup.answer_gateways(await store.domains())
    # list_users: FreeSWITCH filters the whole domain (or directory) itself.
    names = [request.domain] if request.domain else list(await store.domains())
    found = [lookup.answer_domain_users(name, await store.domain(name)) for name in names]
    return lookup.answer_list_users([d for d in found if d is not None])
