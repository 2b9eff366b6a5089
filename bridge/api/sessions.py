"""POST/DELETE /api/sessions and /api/users/dev_keys (xui-auth-api.zh.txt)."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bridge import xui_values
from bridge.api import params
from bridge.api.attempts import source_key
from bridge.api.auth import COOKIE, TOO_MANY, WRONG_LOGIN, authenticated, presented_token
from bridge.api.keys import API_AUTHENTICATOR
from bridge.api.respond import json_response
from bridge.directory.sql import fetch_extension
from bridge.errors import Forbidden, RequestError
from bridge.keys import CONFIG, DATABASE

log = logging.getLogger(__name__)

# The document's answer to a bad key on GET/DELETE /api/users/dev_keys (xui-auth-api.zh.txt).
WRONG_AUTH_ID = Forbidden("Wrong Auth Id")


async def create_session(request: web.Request) -> web.Response:
    fields = await params.body_fields(request)
    login = params.required_text(fields, "login")
    password = params.required_text(fields, "password")
    auth = request.config_dict[API_AUTHENTICATOR]
    source = source_key(request.remote)
    user_id = await auth.login(login, password, source)
    token, _ = await auth.issue(user_id, "session")
    log.info("login user=%s source=%s", login, source)
    response = json_response({"code": 200, "token": token})
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(request.config_dict[CONFIG].api.token_ttl),
        httponly=True,
        samesite="Strict",
        secure=request.config_dict[CONFIG].api.cookie_secure,
        path="/",
    )
    return response


async def delete_session(request: web.Request) -> web.Response:
    principal = await authenticated(request)
    if principal.kind != "session":
        raise RequestError("not a session token; DELETE /api/users/dev_keys removes a key")
    await request.config_dict[API_AUTHENTICATOR].revoke(principal.token_id, "session", principal)
    log.info("logout user=%s", principal.login)
    response = json_response({"code": 200, "text": "OK"})
    response.del_cookie(COOKIE, path="/")
    return response


async def create_dev_key(request: web.Request) -> web.Response:
    """A permanent key. From an extension's SIP credentials (the document's way) it speaks
    only for that extension; presented with a web session and no credentials, it carries
    the session user's rights (the web password was given to open the session)."""
    fields = await params.body_fields(request)
    description = str(fields.get("description") or "")
    params.clean(description, "description")
    auth = request.config_dict[API_AUTHENTICATOR]
    if "username" not in fields and presented_token(request) is not None:
        principal = await authenticated(request, WRONG_AUTH_ID)
        if principal.kind != "session":
            raise Forbidden("no permission")
        token, row = await auth.issue(principal.user_id, "dev_key", description)
        log.info("dev key created user=%s rights=user", principal.login)
        return json_response({"code": 200, "text": "success", "data": _dev_key(row, token)})
    username = params.required_text(fields, "username")
    password = params.required_text(fields, "password")
    domain = params.required_text(fields, "domain")
    source = source_key(request.remote)
    if not await auth.attempts.source(source):
        auth.metrics.login_refusals.labels("source_limited").inc()
        log.info("dev key refused source=%s reason=source_limited", source)
        raise TOO_MANY
    ext = await fetch_extension(request.config_dict[DATABASE], domain, username)
    matches = hmac.compare_digest(password.encode(), (ext.password if ext else "\x00").encode())
    if ext is None or not matches or not ext.can_authenticate or not ext.user_login:
        # SIP credentials open no web account: failures count against the source only, so
        # guessing an extension's password cannot lock its owner out of the web (item 9).
        auth.metrics.login_failures.inc()
        auth.metrics.login_refusals.labels("bad_credentials").inc()
        # The extension is named only when it exists (a typo'd password is not logged).
        shown = f"{username}@{domain}" if ext is not None else "<unknown>"
        log.info("dev key refused extn=%s source=%s", shown, source)
        raise Forbidden(WRONG_LOGIN)
    await auth.attempts.refund(source)
    token, row = await auth.issue(ext.user_id, "dev_key", description, extension_id=ext.id)
    log.info("dev key created extn=%s domain=%s user_id=%s rights=extension", username, domain, ext.user_id)
    return json_response({"code": 200, "text": "success", "data": _dev_key(row, token)})


async def list_dev_keys(request: web.Request) -> web.Response:
    principal = await authenticated(request, WRONG_AUTH_ID)
    rows = await request.config_dict[API_AUTHENTICATOR].dev_keys(principal)
    data = [_dev_key(row, f"{row['key_hint']}{MASK}") for row in rows]
    return json_response({"code": 200, "text": "success", "data": data})


async def delete_dev_key(request: web.Request) -> web.Response:
    """Deletes the key presented, or with ``?id=`` one of the caller's own keys."""
    principal = await authenticated(request, WRONG_AUTH_ID)
    auth = request.config_dict[API_AUTHENTICATOR]
    key_id = params.query_int(request, "id", 0, low=0)
    if key_id == 0 and principal.kind != "dev_key":
        raise params.MISSING_ARGS
    if not await auth.revoke(key_id or principal.token_id, "dev_key", principal):
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
        "created_at": xui_values.timestamp(row["created_at"]),
        "updated_at": xui_values.timestamp(row["updated_at"]),
        "deleted_at": "",
    }
