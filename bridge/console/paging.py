"""Server-side paging over the live bindings: filter, then only the rows of one page sorted (pure).

With 100,000 bindings a page costs one pass over them; the caller feeds them in slices
(``Pager.add``) and yields to the loop between slices, so a console's read never holds up a
directory lookup for more than one slice. The first pages are picked with a heap
(``heapq.nsmallest``) rather than by sorting everything.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.registrations.model import Registration

MAX_PAGE = 500
_HEAP_UNTIL = 5_000  # rows before the page's end picked with a heap; beyond: a full sort


@dataclass(frozen=True, slots=True)
class Query:
    scope: str | None  # the administrator's domain (lower-case), None: every domain
    text: str = ""  # substring of user, domain, contact, address, user agent (case-insensitive)
    domain: str = ""  # exact, case-insensitive
    status: str = ""  # exact binding status, e.g. "Registered(UDP)"
    node: str = ""
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    rows: list[Registration]
    domains: dict[str, int]  # facets of the scope's bindings (before the filters)
    statuses: dict[str, int]
    nodes: dict[str, int]


def order(r: Registration) -> tuple[str, str, str, str]:
    """The page's order (console.js keeps the same to place a new binding in the page)."""
    return (r.realm.lower(), r.reg_user, r.node, r.token)


def haystack(r: Registration) -> str:
    """What the search box looks in (console.js: the same fields)."""
    where = f"{r.network_ip}:{r.network_port}"
    return f"{r.reg_user}@{r.realm} {r.contact} {r.url} {where} {r.user_agent}".lower()


class Pager:
    def __init__(self, query: Query) -> None:
        self.q = query
        self._text = query.text.lower()
        self._domain = query.domain.lower()
        self.domains: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.nodes: Counter[str] = Counter()
        self.matched: list[Registration] = []

    def add(self, bindings: Iterable[Registration]) -> None:
        q, text, domain = self.q, self._text, self._domain
        for r in bindings:
            realm = r.realm.lower()
            if q.scope is not None and realm != q.scope:
                continue
            self.domains[realm] += 1
            self.statuses[r.status] += 1
            self.nodes[r.node] += 1
            if domain and realm != domain:
                continue
            if q.status and r.status != q.status:
                continue
            if q.node and r.node != q.node:
                continue
            if text and text not in haystack(r):
                continue
            self.matched.append(r)

    def page(self) -> Page:
        end = self.q.offset + self.q.limit
        small = end <= _HEAP_UNTIL
        ordered = heapq.nsmallest(end, self.matched, key=order) if small else sorted(self.matched, key=order)
        return Page(
            len(self.matched),
            ordered[self.q.offset : end],
            dict(self.domains),
            dict(self.statuses),
            dict(self.nodes),
        )


def page(bindings: Iterable[Registration], query: Query) -> Page:
    pager = Pager(query)
    pager.add(bindings)
    return pager.page()
