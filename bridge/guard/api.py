"""The guard's admin endpoints (admin scope, as the rest of /api):

    GET    /api/extensions/{id}/registration_attempts   that extension's attempts and verdict
    GET    /api/guard/why?user=1001@xswitch.test        the same by user@domain (deleted ones too)
    GET    /api/guard/bans?limit=&offset=               the bans in force (every instance's), paged
    DELETE /api/guard/bans/{ip}                         lift every ban of that address
    DELETE /api/guard/bans/{ip}/{bits}                  lift a widened IPv6 prefix ban

A domain administrator sees only its domain's extensions; bans are of addresses, which
belong to no domain, so any administrator may list and lift them (a lift is logged).
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from bridge.api import queries
from bridge.api.auth import admin, reader
from bridge.api.edge import EdgeRoutes
from bridge.api.respond import json_response
from bridge.errors import NotFound, RequestError
from bridge.guard.address import canonical
from bridge.guard.attempt import Attempt
from bridge.guard.engine import Guard
from bridge.guard.history import key_of
from bridge.guard.outcome import WORDS
from bridge.guard.setup import GUARD
from bridge.guard.why import verdict
from bridge.keys import DATABASE

_MAX_ID = 2**31 - 1
MAX_PAGE = 1000  # bans per GET /api/guard/bans


def _guard(request: web.Request) -> Guard:
    guard = request.config_dict.get(GUARD)
    if guard is None:
        raise NotFound("the registration guard is off (guard.enabled)")
    return guard


def attempt_json(a: Attempt) -> dict[str, object]:
    words = WORDS[a.reason]
    return {
        "at": a.at,
        "node": a.node,
        "ip": a.ip,
        "port": a.port,
        "user_agent": a.user_agent,
        "username": a.username,
        "realm": a.realm,
        "method": a.method,
        "outcome": a.reason.value,
        "says": words.says,
        "change": words.change,
        "detail": a.detail,
        "source": a.source,
        "freeswitch": a.freeswitch,
        "repeats": a.repeats,
        "last_at": a.latest,
    }


def _report(guard: Guard, extn: str, domain: str) -> dict[str, object]:
    attempts = guard.history.of(key_of(extn, domain))
    return {
        "user": f"{extn}@{domain}",
        "verdict": verdict(f"{extn}@{domain}", attempts).as_json(),
        "attempts": [attempt_json(a) for a in reversed(attempts)],  # newest first
    }


async def registration_attempts(request: web.Request) -> web.Response:
    ext_id = int(request.match_info["id"])
    principal = await reader(request, lambda own: own.id == ext_id)  # or that extension's key
    guard = _guard(request)
    row = None
    if ext_id <= _MAX_ID:
        row = await queries.extension_by_id(request.config_dict[DATABASE], ext_id, principal.domain_scope)
    if row is None:
        raise NotFound("not found")
    return json_response({"id": ext_id, **_report(guard, row["extn"], row["domain"])})


async def why(request: web.Request) -> web.Response:
    user = request.query.get("user", "")
    principal = await reader(request, lambda own: own.is_user(user))  # or that extension's key
    guard = _guard(request)
    extn, at, domain = user.partition("@")
    if not extn or not at or not domain or len(user) > 300 or not user.isprintable():
        raise RequestError("user must be EXTN@DOMAIN", code="bad_parameter")
    scope = principal.domain_scope
    if scope is not None and scope.lower() != domain.lower():
        raise NotFound("not found")
    return json_response(_report(guard, extn, domain))


async def list_bans(request: web.Request) -> web.Response:
    """The bans in force, oldest first: ``limit`` (default 100, at most MAX_PAGE) from ``offset``."""
    await admin(request)
    limit = _count(request, "limit", 100)
    offset = _count(request, "offset", 0)
    if limit > MAX_PAGE:
        raise RequestError(f"limit must be at most {MAX_PAGE}", code="bad_parameter")
    total, page = _guard(request).page(offset, limit)
    return json_response(
        {"row_count": total, "offset": offset, "limit": limit, "rows": [b.as_json() for b in page]}
    )


def _count(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or len(text) > 9:
        raise RequestError(f"{name} must be a whole number", code="bad_parameter")
    return int(text)


async def lift_ban(request: web.Request) -> web.Response:
    principal = await admin(request)
    guard = _guard(request)
    text = request.match_info["ip"]
    if "bits" in request.match_info:
        text += "/" + request.match_info["bits"]
    try:
        ip = str(ipaddress.ip_network(text)) if "/" in text else canonical(text)
    except ValueError as exc:
        raise RequestError("not an IP address or prefix", code="bad_parameter") from exc
    if ip is None:
        raise RequestError("not an IP address", code="bad_parameter")
    lifted = await guard.lift(ip, principal.login)
    if not lifted:
        raise NotFound("no ban in force for this address")
    return json_response({"row_count": len(lifted), "rows": [b.as_json() for b in lifted]})


def add_routes(router: EdgeRoutes) -> None:
    router.add_get(r"/extensions/{id:\d{1,18}}/registration_attempts", registration_attempts)
    router.add_get("/guard/why", why)
    router.add_get("/guard/bans", list_bans)
    router.add_delete("/guard/bans/{ip}", lift_ban)
    router.add_delete(r"/guard/bans/{ip}/{bits:\d{1,3}}", lift_ban)
