"""POST/DELETE /api/sessions and /api/users/dev_keys (xui-auth-api.zh.txt)."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from bridge import xui_values
from bridge.api import params
from bridge.api.auth import COOKIE, TOO_MANY, WRONG_LOGIN, authenticated, presented_token
from bridge.api.keys import API_AUTHENTICATOR
from bridge.api.login_limits import source_key
from bridge.api.respond import json_response
from bridge.directory.store.sql import fetch_extension
from bridge.errors import Forbidden, RequestError
from bridge.keys import CONFIG, DATABASE

log = logging.getLogger(__name__)

# The document's answer to a bad key on GET/DELETE /api/users/dev_keys (xui-auth-api.zh.txt).
WRONG_AUTH_ID = Forbidden("Wrong Auth Id")


@contextlib.asynccontextmanager
async def charged_if_refused(request: web.Request) -> AsyncIterator[None]:
    """Reading an anonymous request: a refusal (malformed body, bad or missing field) is
    charged to the source like a failed login and logged in one line, so a client cannot
    send malformed requests without limit; past the source's limit it answers 429."""
    try:
        yield
    except (RequestError, web.HTTPRequestEntityTooLarge) as exc:
        if exc.status == TOO_MANY.status:
            raise
        auth = request.config_dict[API_AUTHENTICATOR]
        source = source_key(request.remote)
        decision = await auth.attempts.decide(None, source, matches=False)
        auth.metrics.login_refusals.labels("malformed").inc()
        log.info(
            "malformed request refused path=%s source=%s status=%s reason=%s",
            request.path,
            source,
            exc.status,
            exc.reason,
        )
        if decision.outcome == "source_limited":
            raise TOO_MANY from None
        raise


async def create_session(request: web.Request) -> web.Response:
    async with charged_if_refused(request):
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


_DEV_KEY_FIELDS = frozenset(("username", "password", "domain", "description"))


async def create_dev_key(request: web.Request) -> web.Response:
    """A permanent key. From an extension's SIP credentials (the document's way) it speaks
    only for that extension; presented with a web session and no credentials, it carries
    the session user's rights (the web password was given to open the session)."""
    async with charged_if_refused(request):
        fields = await params.body_fields(request)
        unknown = sorted(set(fields) - _DEV_KEY_FIELDS)
        if unknown:  # refused by name rather than ignored (a typo'd key would do nothing)
            raise RequestError(f"{unknown[0][:64]}: not a field of a developer key request")
        given = fields.get("description")
        if given is not None and not isinstance(given, str):
            raise RequestError("description: must be text")
        description = params.clean(given or "", "description")
        if "username" in fields or presented_token(request) is None:
            username = params.required_text(fields, "username")
            password = params.required_text(fields, "password")
            domain = params.required_text(fields, "domain")
    auth = request.config_dict[API_AUTHENTICATOR]
    if "username" not in fields and presented_token(request) is not None:
        principal = await authenticated(request, WRONG_AUTH_ID)
        if principal.kind != "session":
            raise Forbidden("no permission")
        token, row = await auth.issue(principal.user_id, "dev_key", description)
        log.info("dev key created user=%s rights=user", principal.login)
        return json_response({"code": 200, "text": "success", "data": dev_key_json(row, token)})
    source = source_key(request.remote)
    ext = await fetch_extension(request.config_dict[DATABASE], domain, username)
    matches = hmac.compare_digest(password.encode(), (ext.password if ext else "\x00").encode())
    valid = ext is not None and matches and ext.can_authenticate and bool(ext.user_login)
    # Checked first, then decided against the source's budget (login_limits.py): only a failure
    # is charged, so concurrent right requests are never refused for each other's sake.
    # SIP credentials open no web account: failures count against the source only, so
    # guessing an extension's password cannot lock its owner out of the web.
    decision = await auth.attempts.decide(None, source, matches=valid)
    if decision.outcome == "source_limited":
        auth.metrics.login_refusals.labels("source_limited").inc()
        log.info("dev key refused source=%s reason=source_limited", source)
        raise TOO_MANY
    if ext is None or not decision.ok:
        auth.metrics.login_failures.inc()
        auth.metrics.login_refusals.labels("bad_credentials").inc()
        # The extension is named only when it exists (a typo'd password is not logged).
        shown = f"{username}@{domain}" if ext is not None else "<unknown>"
        log.info("dev key refused extn=%s source=%s", shown, source)
        raise Forbidden(WRONG_LOGIN)
    token, row = await auth.issue(ext.user_id, "dev_key", description, extension_id=ext.id)
    log.info("dev key created extn=%s domain=%s user_id=%s rights=extension", username, domain, ext.user_id)
    return json_response({"code": 200, "text": "success", "data": dev_key_json(row, token)})


async def list_dev_keys(request: web.Request) -> web.Response:
    principal = await authenticated(request, WRONG_AUTH_ID)
    rows = await request.config_dict[API_AUTHENTICATOR].dev_keys(principal)
    data = [dev_key_json(row) for row in rows]
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


# Only a key's hash is stored, so a list shows its first 8 characters and this (the
# document lists keys whole; a stored key would be a permanent login for whoever reads the
# table or a backup of it; docs/admin-api.md "Developer keys").
MASK = "-****-****-****-************"


def dev_key_json(row: Mapping[str, object], key: str | None = None) -> dict[str, object]:
    """A key as the document shows it (ids as strings); ``key`` None: the masked hint."""
    return {
        "id": str(row["id"]),
        "user_id": str(row["user_id"]),
        "key": f"{row['key_hint']}{MASK}" if key is None else key,
        "description": row["description"],
        "created_at": xui_values.timestamp(row["created_at"]),
        "updated_at": xui_values.timestamp(row["updated_at"]),
        "deleted_at": "",
    }
