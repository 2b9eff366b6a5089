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
* the least recently used entry goes when full (a hit moves its entry to the end).

Nothing here imports aiohttp or asyncpg; the store is reached through its protocol.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bridge.directory import lookup
from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest
from bridge.directory.rendered import Rendered
from bridge.directory.store.protocol import DirectoryStore
from bridge.directory.whole import WholeAnswers

__all__ = ["AnswerMemo", "Answerer", "MemoResult", "Rendered"]

MemoResult = Literal["hit", "miss"]


@dataclass(slots=True)
class _Memo:
    extension: Extension
    rendered: Rendered


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
        self._entries.move_to_end(request)
        return entry.rendered

    def put(self, request: DirectoryRequest, extension: Extension, rendered: Rendered) -> None:
        if self._capacity == 0:
            return
        self._entries.pop(request, None)
        while self._entries and len(self._entries) >= self._capacity:  # least recently used first
            self._entries.popitem(last=False)
        self._entries[request] = _Memo(extension, rendered)


class Answerer:
    """Turns a DirectoryRequest into a Rendered answer, per-user answers through the memo."""

    def __init__(
        self,
        policy: lookup.Policy,
        memo_size: int,
        count: Callable[[MemoResult], None] = lambda result: None,
        whole: WholeAnswers | None = None,
    ) -> None:
        self._policy = policy
        self._count = count
        self.memo = AnswerMemo(memo_size)
        # The domain-wide lookups: rare (profile start, reloadacl, API calls) but big.
        self.whole = whole if whole is not None else WholeAnswers(policy)

    async def answer(self, store: DirectoryStore, request: DirectoryRequest) -> Rendered:
        """Raises DatabaseUnavailable when the store cannot answer."""
        if request.kind not in lookup.PER_USER:
            return await self.whole.answer(store, request)
        if request.user_domain and request.user_domain != request.domain:
            return _UNKNOWN
        extension = await store.get(request.domain, request.extn)
        if extension is None:
            return _UNKNOWN
        rendered = self.memo.get(request, extension)
        if rendered is not None:
            self._count("hit")
            return rendered
        rendered = Rendered.of(lookup.answer_user(request, extension, self._policy), extension)
        self.memo.put(request, extension, rendered)
        self._count("miss")
        return rendered


_UNKNOWN = Rendered.of(lookup.not_found("unknown"))
