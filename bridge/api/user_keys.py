"""An administrator's view of any user's developer keys (docs/admin-api.md "Developer keys"):

    GET    /api/users/{id}/dev_keys              the user's keys (masked, as GET /api/users/dev_keys)
    DELETE /api/users/{id}/dev_keys[?id=KEY_ID]  revoke one of them, or all

A super user manages every user's keys; a domain administrator those of its domain's users
other than super users (as for their passwords).
"""

from __future__ import annotations

import logging

from aiohttp import web

from bridge import xui_values
from bridge.api import params
from bridge.api.auth import admin
from bridge.api.keys import API_AUTHENTICATOR
from bridge.api.respond import json_response
from bridge.api.sessions import dev_key_json
from bridge.errors import NotFound
from bridge.keys import DATABASE

log = logging.getLogger(__name__)

_USER = "SELECT domain, is_super::text AS is_super FROM users WHERE id = $1 AND deleted_at IS NULL"


async def _managed_user_id(request: web.Request) -> tuple[int, str]:
    """The {id} of the route if the caller administers that user, with the caller's login;
    else 404 (a domain administrator learns nothing of other domains' users)."""
    principal = await admin(request)
    user_id = int(request.match_info["id"])
    row = None
    if user_id <= params.MAX_INT:
        row = await request.config_dict[DATABASE].fetchrow(_USER, user_id)
    if row is None:
        raise NotFound("not found")
    foreign = row["domain"] != principal.domain or xui_values.integer(row["is_super"], 0)
    if not principal.is_super and foreign:
        raise NotFound("not found")
    return user_id, principal.login


async def list_user_keys(request: web.Request) -> web.Response:
    user_id, _ = await _managed_user_id(request)
    rows = await request.config_dict[API_AUTHENTICATOR].keys_of(user_id)
    data = [
        {**dev_key_json(row), "rights": row["rights"], "extn": row["extn"] or ""}
        for row in rows
    ]
    return json_response({"code": 200, "text": "success", "data": data})


async def revoke_user_keys(request: web.Request) -> web.Response:
    user_id, by = await _managed_user_id(request)
    key_id = params.query_int(request, "id", 0, low=1) if "id" in request.query else None
    revoked = await request.config_dict[API_AUTHENTICATOR].revoke_keys_of(user_id, key_id)
    if key_id is not None and revoked == 0:
        raise NotFound("not found")
    log.info("dev keys revoked user_id=%s count=%s by=%s", user_id, revoked, by)
    return json_response({"code": 0, "text": "success", "data": {"revoked": revoked}})
