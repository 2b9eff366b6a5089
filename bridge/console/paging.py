"""Server-side paging over the live bindings: filter, then only the rows of one page sorted (pure).

With 100,000 bindings a page costs one pass over them; the first pages are picked with a
heap (``heapq.nsmallest``) rather than by sorting everything.
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


def _order(r: Registration) -> tuple[str, str, str, str]:
    return (r.realm.lower(), r.reg_user, r.node, r.token)


def _haystack(r: Registration) -> str:
    where = f"{r.network_ip}:{r.network_port}"
    return f"{r.reg_user}@{r.realm} {r.contact} {r.url} {where} {r.user_agent}".lower()


def page(bindings: Iterable[Registration], q: Query) -> Page:
    text, domain = q.text.lower(), q.domain.lower()
    domains: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    matched: list[Registration] = []
    for r in bindings:
        realm = r.realm.lower()
        if q.scope is not None and realm != q.scope:
            continue
        domains[realm] += 1
        statuses[r.status] += 1
        nodes[r.node] += 1
        if domain and realm != domain:
            continue
        if q.status and r.status != q.status:
            continue
        if q.node and r.node != q.node:
            continue
        if text and text not in _haystack(r):
            continue
        matched.append(r)
    end = q.offset + q.limit
    small = end <= _HEAP_UNTIL
    ordered = heapq.nsmallest(end, matched, key=_order) if small else sorted(matched, key=_order)
    return Page(len(matched), ordered[q.offset : end], dict(domains), dict(statuses), dict(nodes))
