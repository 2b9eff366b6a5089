"""GET /api/users/list (every extension's status, or ?extn= one user object) and /api/users/list1."""

from __future__ import annotations

from aiohttp import web

from bridge.api import params, queries, shapes
from bridge.api.auth import admin
from bridge.api.presence import Presence, key
from bridge.errors import NotFound
from bridge.keys import DATABASE, REGISTRATIONS


async def users_list(request: web.Request) -> web.Response:
    principal = await admin(request)
    scope = principal.domain_scope
    view = request.app.get(REGISTRATIONS)
    extn = params.query_text(request, "extn")
    if extn is not None:
        found = await queries.extension_with_user(request.app[DATABASE], extn, scope)
        if found is None:
            raise NotFound("not found")
        ext, user = found
        regs = [] if view is None else view.registrations_of(ext["domain"], ext["extn"])
        return web.json_response(shapes.user_with_extension(user, ext, regs))
    presence = Presence.read(view, scope)
    rows = await queries.extension_keys(request.app[DATABASE], scope)
    return web.json_response(
        [shapes.extn_status(row["extn"], presence.status(row["extn"], row["domain"])) for row in rows]
    )


async def users_list1(request: web.Request) -> web.Response:
    principal = await admin(request)
    presence = Presence.read(request.app.get(REGISTRATIONS), principal.domain_scope)
    rows = await queries.extension_keys(request.app[DATABASE], principal.domain_scope)
    online = presence.online
    absent = presence.absent
    unreg = [
        shapes.extn_status(row["extn"], absent)
        for row in rows
        if key(row["extn"], row["domain"]) not in online
    ]
    return web.json_response(shapes.list1(presence.registrations, unreg, presence.nodes))
