"""POST/DELETE /api/sessions and /api/users/dev_keys (xui-auth-api.zh.txt)."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bridge.api import params, shapes
from bridge.api.auth import COOKIE, WRONG_LOGIN, authenticated
from bridge.api.respond import json_response
from bridge.errors import Forbidden, RequestError
from bridge.extensions import fetch_extension
from bridge.keys import API_AUTHENTICATOR, CONFIG, DATABASE

log = logging.getLogger(__name__)


async def create_session(request: web.Request) -> web.Response:
    fields = await params.body_fields(request)
    login = params.required_text(fields, "login")
    password = params.required_text(fields, "password")
    auth = request.config_dict[API_AUTHENTICATOR]
    user_id = await auth.login(login, password)
    token, _ = await auth.issue(user_id, "session")
    log.info("login user=%s", login)
    response = json_response({"code": 200, "token": token})
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(request.config_dict[CONFIG].api.token_ttl),
        httponly=True,
        samesite="Strict",
        path="/",
    )
    return response


async def delete_session(request: web.Request) -> web.Response:
    principal = await authenticated(request)
    if principal.kind != "session":
        raise RequestError("not a session token; DELETE /api/users/dev_keys removes a key")
    await request.config_dict[API_AUTHENTICATOR].revoke(principal.token_id, "session", principal.user_id)
    log.info("logout user=%s", principal.login)
    response = json_response({"code": 200, "text": "OK"})
    response.del_cookie(COOKIE, path="/")
    return response


async def create_dev_key(request: web.Request) -> web.Response:
    """A permanent key for the user owning the extension whose SIP credentials are given."""
    fields = await params.body_fields(request)
    username = params.required_text(fields, "username")
    password = params.required_text(fields, "password")
    domain = params.required_text(fields, "domain")
    description = str(fields.get("description") or "")
    params.clean(description, "description")
    shared = request.config_dict
    auth = shared[API_AUTHENTICATOR]
    ext = await fetch_extension(shared[DATABASE], domain, username)
    matches = hmac.compare_digest(password.encode(), (ext.password if ext else "\x00").encode())
    if ext is None or not ext.user_login:
        auth.metrics.login_failures.inc()
        log.info("dev key refused extn=%s domain=%s reason=no such extension", username, domain)
        raise Forbidden(WRONG_LOGIN)
    if not matches or not ext.can_authenticate:
        # The key would act as the extension's owner: failures count toward that user's lock.
        await auth.count_failure(ext.user_id)
        auth.metrics.login_failures.inc()
        log.info("dev key refused extn=%s domain=%s", username, domain)
        raise Forbidden(WRONG_LOGIN)
    token, row = await auth.issue(ext.user_id, "dev_key", description)
    log.info("dev key created extn=%s domain=%s user_id=%s", username, domain, ext.user_id)
    data = _dev_key(row, token)
    return json_response({"code": 200, "text": "success", "data": data})


async def list_dev_keys(request: web.Request) -> web.Response:
    principal = await authenticated(request)
    rows = await request.config_dict[API_AUTHENTICATOR].dev_keys(principal.user_id)
    data = [_dev_key(row, f"{row['key_hint']}{MASK}") for row in rows]
    return json_response({"code": 200, "text": "success", "data": data})


async def delete_dev_key(request: web.Request) -> web.Response:
    """Deletes the key presented, or with ``?id=`` one of the caller's own keys."""
    principal = await authenticated(request)
    auth = request.config_dict[API_AUTHENTICATOR]
    key_id = params.query_int(request, "id", 0, low=0)
    if key_id == 0 and principal.kind != "dev_key":
        raise params.MISSING_ARGS
    if not await auth.revoke(key_id or principal.token_id, "dev_key", principal.user_id):
        raise RequestError("not found", status=404, code="not_found")
    log.info("dev key deleted user=%s", principal.login)
    return json_response({"code": 0, "text": "success"})


# Only a key's hash is stored, so a list shows its first 8 characters and this.
MASK = "-****-****-****-************"


def _dev_key(row: dict[str, object], key: str) -> dict[str, object]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "key": key,
        "description": row["description"],
        "created_at": shapes.timestamp(row["created_at"]),
        "updated_at": shapes.timestamp(row["updated_at"]),
        "deleted_at": "",
    }
