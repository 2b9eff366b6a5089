"""GET /api/users/list (every extension's status, or ?extn= one user object) and /api/users/list1."""

from __future__ import annotations

import orjson
from aiohttp import web

from bridge.api import params, queries, shapes
from bridge.api.auth import admin, reader
from bridge.api.keys import API_CATALOG, API_PRESENCE
from bridge.api.respond import json_bytes, json_response
from bridge.errors import NotFound
from bridge.keys import DATABASE
from bridge.registrations.keys import REGISTRATIONS


async def users_list(request: web.Request) -> web.Response:
    # A key made from an extension's SIP credentials reads its own ?extn= (auth.reader).
    principal = await reader(request, lambda own: request.query.get("extn") == own.extn)
    scope = principal.domain_scope
    shared = request.config_dict
    view = shared.get(REGISTRATIONS)
    extn = params.query_text(request, "extn")
    if extn is not None:
        found = await queries.extension_with_user(shared[DATABASE], extn, scope)
        if found is None:
            raise NotFound("not found")
        ext, user = found
        regs = [] if view is None else view.registrations_of(ext["domain"], ext["extn"])
        found_user = shapes.user_with_extension(user, ext, regs)
        if not principal.user_rights:
            found_user["password"] = ""  # the owner's web password is not the extension's
        return json_response(found_user)
    presence = shared[API_PRESENCE].read(scope)
    listing = (await shared[API_CATALOG].current(scope)).scope(scope)
    online, absent = presence.online, presence.absent
    return json_response(
        [
            shapes.extn_status(extn, "online" if k in online else absent)
            for extn, k in zip(listing.extns, listing.keys, strict=True)
        ]
    )


async def users_list1(request: web.Request) -> web.Response:
    principal = await admin(request)
    scope = principal.domain_scope
    shared = request.config_dict
    presence = shared[API_PRESENCE].read(scope)
    listing = (await shared[API_CATALOG].current(scope)).scope(scope)
    unreg = listing.unregistered_json(presence.online, presence.absent)
    rows = presence.rows_json()
    nodes = orjson.dumps(presence.nodes)
    return json_bytes(shapes.list1_json(len(presence.registrations), rows, unreg, nodes))
