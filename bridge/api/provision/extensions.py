"""Extensions through the XUI API: POST /api/extensions, POST /api/extensions/muti_add,
PUT and DELETE /api/extensions/:id, PUT /api/extensions (bulk set), GET /api/extensions/download.

Each request is one transaction (bridge/api/writes.py); a change reaches every directory
cache and FreeSWITCH node through the tables' NOTIFY triggers when it commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from bridge import hashes, xui_values
from bridge.api import round_trip, validate, writes
from bridge.api.provision import shapes as shaped
from bridge.api.provision.shared import admin, changed, counted, limits, object_body, path_id, write_timeout
from bridge.api.respond import json_bytes, json_response
from bridge.api.scope import NO_PERMISSION, Scope
from bridge.api.validate import Invalid, Limits, Missing
from bridge.errors import Forbidden, NotFound
from bridge.keys import DATABASE

log = logging.getLogger(__name__)

# Keys of the create and update bodies that are not plain settings.
_IDENTITY = ("extn", "domain", "password", "user_id", "login", "id")


def credentials(extn: str, domain: str, password: str | None) -> dict[str, Any]:
    """password, ha1 and ha1b as XUI stores them (README of checked facts)."""
    if password is None:
        return {}
    return {
        "password": password,
        "ha1": hashes.ha1(extn, domain, password),
        "ha1b": hashes.ha1b(extn, domain, password),
    }


def _password(fields: Mapping[str, Any]) -> str | None:
    value = fields.get("password")
    return None if value is None or value == "" else validate.extension_password(value)


def refuse_super_owner(scope: Scope, is_super: Any) -> None:
    """A domain admin never touches a super user's extensions: their credentials mint
    developer keys that act as the owner (POST /api/users/dev_keys)."""
    if not scope.is_super and xui_values.integer(is_super, 0):
        raise Forbidden(NO_PERMISSION)


async def owner_of(
    conn: asyncpg.Connection, scope: Scope, fields: Mapping[str, Any], bound: Limits
) -> asyncpg.Record:
    user = await owner(conn, fields, bound)
    refuse_super_owner(scope, user["is_super"])
    return user


async def owner(conn: asyncpg.Connection, fields: Mapping[str, Any], bound: Limits) -> asyncpg.Record:
    """The owning user, by ``user_id`` (0 is XUI's system user) or by ``login``."""
    if fields.get("user_id") not in (None, ""):
        user_id = validate.integer(fields["user_id"], "user_id", 0, 2**31 - 1)
        row = await writes.live_user(conn, user_id=user_id)
    elif fields.get("login") not in (None, ""):
        row = await writes.live_user(conn, login=validate.token(fields["login"], "login", bound))
    else:
        raise Missing("Missing Args: login")
    if row is None:
        raise Invalid("user_id: no such user" if "user_id" in fields else "login: no such user")
    return row


def _domain(scope: Scope, fields: Mapping[str, Any], user: Mapping[str, Any], bound: Limits) -> str:
    """The extension's domain: the one asked for, else its owner's; the caller must manage both."""
    asked = fields.get("domain")
    domain = validate.domain(asked, bound) if asked not in (None, "") else (user["domain"] or scope.domain)
    scope.require_domain(domain)
    scope.require_domain(user["domain"] or domain)
    return str(domain)


async def _refuse_taken(conn: asyncpg.Connection, domain: str, extns: Sequence[str]) -> None:
    taken = await writes.live_extensions(conn, domain, extns)
    if taken:
        raise writes.Conflict(f"row {taken[0]['extn']}: extn exists in domain {domain}")


@counted
async def create_extension(request: web.Request) -> web.Response:
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    extn = validate.extn(validate.required(fields, "extn"), "extn", bound)
    password = _password(fields)
    settings = validate.extension_settings(fields, bound, ignore=_IDENTITY)
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        user = await owner_of(conn, scope, fields, bound)
        domain = _domain(scope, fields, user, bound)
        await writes.lock_domains(conn, [domain])
        await _refuse_taken(conn, domain, [extn])
        values = {"name": extn, "context": user["context"], **settings}
        values.update(extn=extn, domain=domain, user_id=user["id"], **credentials(extn, domain, password))
        row = await writes.insert_one(conn, "extensions", values)
    changed(request, scope, "extensions", "created", [row["id"]], detail=f"extn={extn!r} domain={domain!r}")
    return json_response(shaped.done(shaped.extension(row), _created_message(password, scope, [extn])))


# The document makes the password optional; an extension without one can never register
# (the directory has no hash to answer with), so the answer and the log say so.
NO_PASSWORD = "success; no password: the extension cannot register until one is set"


def _created_message(password: str | None, scope: Scope, extns: Sequence[str]) -> str:
    if password is not None or not extns:
        return "success"
    log.info("provision extensions created without a password by=%s extns=%d", scope.who(), len(extns))
    return NO_PASSWORD


def _range_rows(numbers: list[str], base: Mapping[str, Any], password: str | None) -> list[dict[str, Any]]:
    domain = str(base["domain"])
    return [{"extn": n, "name": n, **base, **credentials(n, domain, password)} for n in numbers]


@counted
async def muti_add(request: web.Request) -> web.Response:
    """A range of extensions for one user. Numbers already live in the domain are left as
    they are and answered under ``exit``, as the document shows; the rest are created in
    the same transaction, all or none."""
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    numbers = validate.span(fields, "extns_start", "extns_end", bound).numbers()
    validate.required(fields, "user_id")
    password = _password(fields)
    settings = validate.extension_settings(fields, bound, ignore=(*_IDENTITY, "extns_start", "extns_end"))
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        user = await owner_of(conn, scope, fields, bound)
        domain = _domain(scope, fields, user, bound)
        await writes.lock_domains(conn, [domain])
        existing = await writes.live_extensions(conn, domain, numbers)
        taken = {row["extn"] for row in existing}
        fresh = [n for n in numbers if n not in taken]
        base = {"context": user["context"], **settings, "domain": domain, "user_id": user["id"]}
        rows = await asyncio.to_thread(_range_rows, fresh, base, password)  # md5s off the loop
        created = await writes.insert_many(conn, "extensions", rows)
    ids = [row["id"] for row in created]
    changed(
        request, scope, "extensions", "created", ids, detail=f"domain={domain!r} existing={len(existing)}"
    )
    message = _created_message(password, scope, fresh)
    # 10,000 rows shaped and encoded in a worker thread: the loop keeps answering lookups.
    return json_bytes(await asyncio.to_thread(_muti_add_answer, created, existing, message))


def _muti_add_answer(created: list[asyncpg.Record], existing: list[asyncpg.Record], message: str) -> bytes:
    rows = [shaped.extension(row) for row in created]
    data: Any = (
        rows if not existing else {"exit": [shaped.extension(row) for row in existing], "created": rows}
    )
    return orjson.dumps(shaped.done(data, message))


@counted
async def update_extension(request: web.Request) -> web.Response:
    """Any setting, a new password, another owner; the object GET answered may be sent back
    whole (its read-only keys must equal the stored values: api/round_trip.py)."""
    scope = await admin(request)
    ext_id, fields, bound = path_id(request), await object_body(request), limits(request)
    if fields.get("action") not in (None, ""):
        raise Invalid("action: voicemail message states live in XUI tables bridge does not manage")
    password = _password(fields)
    settings = validate.extension_settings(fields, bound, ignore=(*_IDENTITY, *round_trip.EXTENSION_KEYS))
    round_trip.check_extension_live_keys(fields)
    round_trip.check_timestamps(fields, round_trip.EXTENSION_IGNORED)
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        rows = await writes.locked_rows(conn, "extensions", [ext_id])
        if not rows or not scope.may_manage(rows[0]["domain"]):
            raise NotFound("not found")
        current = rows[0]
        owner_row = await conn.fetchrow("SELECT login, is_super FROM users WHERE id = $1", current["user_id"])
        refuse_super_owner(scope, owner_row["is_super"] if owner_row else 0)
        _unchanged(fields, current, bound)
        stored = shaped.extension(current)
        round_trip.check(fields, stored, round_trip.EXTENSION_READ_ONLY)
        values = round_trip.changes(settings, stored)
        if _new_owner(fields, current, owner_row["login"] if owner_row else None, bound):
            user = await owner_of(conn, scope, fields, bound)
            scope.require_domain(user["domain"] or current["domain"])
            values["user_id"] = user["id"]
        values.update(credentials(current["extn"], current["domain"], password))
        (row,) = await writes.update_ids(conn, "extensions", [ext_id], values)
        login = await conn.fetchval("SELECT login FROM users WHERE id = $1", row["user_id"])
    changed(request, scope, "extensions", "updated", [ext_id], detail=f"columns={','.join(sorted(values))}")
    return json_response(shaped.done(shaped.extension_updated(row, login or "")))


def _new_owner(
    fields: Mapping[str, Any], current: Mapping[str, Any], login: str | None, bound: Limits
) -> bool:
    """Whether the body names another owner than the current one (``user_id`` first, as
    ``owner`` reads it); a ``login`` that names someone else than ``user_id`` is refused."""
    asked_id, asked_login = fields.get("user_id"), fields.get("login")
    if asked_id not in (None, ""):
        user_id = validate.integer(asked_id, "user_id", 0, 2**31 - 1)
        if user_id != current["user_id"]:
            return True
        if asked_login not in (None, "") and asked_login != (login or ""):
            raise Invalid("login: names another user than user_id")
        return False
    return asked_login not in (None, "") and asked_login != (login or "")


def _unchanged(fields: Mapping[str, Any], current: Mapping[str, Any], bound: Limits) -> None:
    """The document: "extn分机号不可修改". The domain is part of the number's identity too
    (its hashes are made with it): moving one is a delete and a create."""
    for name in ("extn", "domain"):
        value = fields.get(name)
        if value not in (None, "") and validate.text(value, name, bound) != (current[name] or ""):
            raise Invalid(f"{name}: an extension's {name} cannot be changed")


@counted
async def delete_extension(request: web.Request) -> web.Response:
    scope = await admin(request)
    ext_id = path_id(request)
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        rows = await writes.locked_rows(conn, "extensions", [ext_id])
        if not rows or not scope.may_manage(rows[0]["domain"]):
            raise NotFound("not found")
        refuse_super_owner(
            scope, await conn.fetchval("SELECT is_super FROM users WHERE id = $1", rows[0]["user_id"])
        )
        await writes.soft_delete(conn, "extensions", [ext_id])
        await writes.replace_default_extension(conn, ext_id)
    changed(
        request,
        scope,
        "extensions",
        "deleted",
        [ext_id],
        detail=f"extn={rows[0]['extn']!r} domain={rows[0]['domain']!r}",
    )
    return json_response(shaped.done(str(ext_id)))


@counted
async def bulk_set(request: web.Request) -> web.Response:
    """PUT /api/extensions: the same settings on every extension listed in ``extns`` (of the
    caller's domain, or ``domain``); one unknown number refuses the whole request."""
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    if "dods" in fields:
        # Outbound lines (XUI's dods tables) are not bridge's to set: refused, not ignored.
        raise Invalid("dods: outbound lines live in XUI tables bridge does not manage; leave dods out")
    # Unknown keys first: "EXTNS" is refused by name, not reported as a missing "extns".
    settings = validate.extension_settings(fields, bound, ignore=("extns", "domain"))
    extns = validate.extn_list(validate.required(fields, "extns"), bound)
    asked = fields.get("domain")
    domain = scope.domain_for(validate.domain(asked, bound) if asked not in (None, "") else None)
    if not settings:
        raise Invalid("nothing to set: name at least one extension field")
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        rows = await writes.live_extensions(conn, domain, extns)
        owners = {row["user_id"] for row in rows}
        if not scope.is_super and await conn.fetchval(
            "SELECT count(*) FROM users WHERE id = ANY($1::int[]) AND is_super::text IN ('1', 'true')",
            list(owners),
        ):
            raise Forbidden(NO_PERMISSION)
        missing = sorted(set(extns) - {row["extn"] for row in rows})
        if missing:
            raise NotFound(f"extns: {', '.join(missing[:5])} not found in domain {domain}")
        ids = [row["id"] for row in rows]
        updated = await writes.update_ids(conn, "extensions", ids, settings)
    changed(
        request,
        scope,
        "extensions",
        "updated",
        ids,
        detail=f"domain={domain!r} columns={','.join(sorted(settings))}",
    )
    return json_response(shaped.done([], f"update rows {len(updated)}"))


_DOWNLOAD = """
SELECT id, extn, name, password, context, cid_name, cid_number, domain, type FROM extensions
WHERE deleted_at IS NULL AND ($1::text IS NULL OR domain = $1) ORDER BY id
"""


async def download(request: web.Request) -> web.Response:
    """The document's CSV export, passwords included (it is an administrator's export)."""
    scope = await admin(request)
    db = request.config_dict[DATABASE]
    rows = await db.fetch(_DOWNLOAD, scope.domains, timeout=write_timeout(request))
    text = await asyncio.to_thread(shaped.extensions_csv, rows)
    log.info("provision extensions downloaded by=%s rows=%d", scope.who(), len(rows))
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="extensions.csv"'},
    )
