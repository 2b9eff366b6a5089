"""The console's JSON reads under /api/console/ (admin scope, as the rest of /api):

    GET /api/console/me              who is logged in (anyone), their scope, the CSRF token for unsafe clicks
    GET /api/console/registrations   one page of live bindings (?q=&domain=&status=&node=&offset=&limit=)
    GET /api/console/summary         counters, nodes, the hour's chart
    GET /api/console/attempts        the latest failed attempts with their reasons
    GET /api/console/bans            bans and limits in force

A domain administrator sees only its domain (bridge/api/scope.py): its bindings, attempts
and limits, and the bans of sources (which belong to no domain, as in /api/guard/bans).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from aiohttp import web

from bridge.api import params
from bridge.api.auth import COOKIE, HEADER, admin, authenticated, csrf_token, presented_token
from bridge.api.respond import json_response
from bridge.api.scope import Scope
from bridge.console.board import ban_domain, binding_json, node_json
from bridge.console.keys import CONSOLE_BOARD
from bridge.console.paging import MAX_PAGE, Pager, Query
from bridge.guard.setup import GUARD
from bridge.keys import DATABASE
from bridge.registrations.keys import REGISTRATION_CLOCK, REGISTRATIONS
from bridge.registrations.model import VISIBLE_STATES, Registration

_EXTENSIONS = """
SELECT count(*) FROM extensions WHERE deleted_at IS NULL AND ($1::text IS NULL OR lower(domain) = $1)
"""


# Bindings looked at between two turns of the loop: a read over 100,000 bindings never holds
# a directory lookup up for more than one slice (~5 ms).
SLICE = 5_000


async def in_slices(items: Sequence[Registration], each: Callable[[Sequence[Registration]], None]) -> None:
    for start in range(0, len(items), SLICE):
        if start:
            await asyncio.sleep(0)
        each(items[start : start + SLICE])


async def scope_of(request: web.Request) -> str | None:
    """The one domain (lower-case) the caller may see, or None for every domain; 403 for
    anyone but an administrator."""
    domains = Scope.of(await admin(request)).require_admin().domains
    return None if domains is None else domains.lower()


async def me(request: web.Request) -> web.Response:
    """Any logged-in user (its CSRF token serves every /api route); ``console`` says whether
    the console's reads and stream will answer it (administrators only)."""
    principal = await authenticated(request)
    console = principal.user_rights and (principal.is_super or principal.is_admin)
    token = presented_token(request) or ""
    return json_response(
        {
            "login": principal.login,
            "domain": principal.domain,
            "console": console,
            "scope": None if principal.is_super else principal.domain,
            "is_super": principal.is_super,
            # The page authenticates by the HttpOnly cookie; unsafe requests add this header.
            "csrf_token": csrf_token(token)
            if not request.headers.get(HEADER) and request.cookies.get(COOKIE)
            else "",
        }
    )


async def registrations(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    q = request.query
    query = Query(
        scope=scope,
        text=params.clean(q.get("q", ""), "q")[:200],
        domain=q.get("domain", "")[:255],
        status=q.get("status", "")[:255],
        node=q.get("node", "")[:255],
        offset=params.query_int(request, "offset", 0, low=0, high=10_000_000),
        limit=params.query_int(request, "limit", 50, low=1, high=MAX_PAGE),
    )
    pager = Pager(query)
    await in_slices(request.config_dict[REGISTRATIONS].all_registrations(), pager.add)
    found = pager.page()
    return json_response(
        {
            # The clock bindings expire by (the page shows "expires in" against it).
            "now": request.config_dict.get(REGISTRATION_CLOCK, time.time)(),
            "total": found.total,
            "offset": query.offset,
            "rows": [binding_json(r) for r in found.rows],
            "domains": found.domains,
            "statuses": found.statuses,
            "nodes": found.nodes,
        }
    )


async def summary(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    view = request.config_dict[REGISTRATIONS]
    online: set[tuple[str, str]] = set()

    def count(bindings: Sequence[Registration]) -> None:
        for r in bindings:
            realm = r.realm.lower()
            if scope is None or realm == scope:
                online.add((realm, r.reg_user))

    await in_slices(view.all_registrations(), count)
    extensions = await request.config_dict[DATABASE].fetchval(_EXTENSIONS, scope)
    board = request.config_dict[CONSOLE_BOARD]
    guard = request.config_dict.get(GUARD)
    bans = [b for b in guard.bans() if _sees(ban_domain(b), scope)] if guard is not None else []
    nodes = view.nodes()
    return json_response(
        {
            "now": time.time(),
            "online": len(online),
            # Extensions in the database with no live binding (a binding of a user the
            # database does not hold counts online and so lowers this by one).
            "offline": max(0, int(extensions or 0) - len(online)),
            "failing": board.failing(scope),
            "banned": len(bans),
            "chart": board.chart(scope),
            "nodes": [node_json(n) for n in nodes],
            "nodes_up": sum(1 for n in nodes if n.state in VISIBLE_STATES),
            "guard": guard is not None,
        }
    )


async def attempts(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    limit = params.query_int(request, "limit", 200, low=1, high=1000)
    rows = request.config_dict[CONSOLE_BOARD].failures(scope, limit)
    return json_response({"row_count": len(rows), "rows": rows})


async def bans(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    guard = request.config_dict.get(GUARD)
    rows = [b.as_json() for b in guard.bans() if _sees(ban_domain(b), scope)] if guard is not None else []
    return json_response({"row_count": len(rows), "rows": rows})


def _sees(domain: str | None, scope: str | None) -> bool:
    return domain is None or scope is None or domain == scope
