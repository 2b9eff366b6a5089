"""Users through the XUI API: create (optionally with an extension), muti_add, list, get, its
extensions, update, delete (and the document's bulk forms), set and change passwords.

A web password is stored as XUI stores it, SHA1(login + password + salt) with a new random
salt, and never as itself; changing one's own password asks for the old one, checked the
way a login is (and counted toward the lock like one).
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from bridge import hashes, xui_values
from bridge.api import params, round_trip, shapes, user_reads, validate, writes
from bridge.api.auth import WRONG_LOGIN, keep_presented_token
from bridge.api.keys import API_AUTHENTICATOR
from bridge.api.login_limits import source_key
from bridge.api.provision import shapes as shaped
from bridge.api.provision.extensions import credentials
from bridge.api.provision.shared import (
    admin,
    body,
    caller,
    changed,
    counted,
    limits,
    object_body,
    path_id,
    write_timeout,
)
from bridge.api.respond import json_bytes, json_response
from bridge.api.scope import NO_PERMISSION, Scope
from bridge.api.validate import Invalid, Limits
from bridge.errors import Forbidden, NotFound
from bridge.keys import DATABASE

_SALT_ALPHABET = string.ascii_letters + string.digits + "./"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
# Keys of a create body that are not user columns: the extension made with the user.
_EXTENSION_KEYS = ("extn", "extn_password", "extn_type", "mac_address")


def new_salt() -> str:
    """A salt shaped like XUI's ("$1$x8DADcaA")."""
    return "$1$" + "".join(secrets.choice(_SALT_ALPHABET) for _ in range(8))


def login_secret(login: str, password: str) -> dict[str, Any]:
    salt = new_salt()
    return {"salt": salt, "sha1": hashes.login_sha1(login, password, salt)}


def _extension_wanted(fields: Mapping[str, Any], login: str, bound: Limits) -> dict[str, Any] | None:
    """The extension to create with a user: with ``extn`` or ``extn_password`` given, both it
    and ``context`` are required (extn defaults to the login). ``extn_type`` or
    ``mac_address`` without them is refused by name: no extension would carry them."""
    settings = {key: fields[key] for key in ("extn_type", "mac_address") if fields.get(key) not in (None, "")}
    if all(fields.get(key) in (None, "") for key in ("extn", "extn_password")):
        if settings:
            raise Invalid(f"{next(iter(settings))}: an extension is created only with extn_password")
        return None
    password = validate.extension_password(validate.required(fields, "extn_password"), "extn_password")
    validate.required(fields, "context")
    given = fields.get("extn")
    number = validate.extn(login if given in (None, "") else given, "extn", bound)
    extension = {"extn": number, "password": password}
    kind = settings.get("extn_type")
    if kind is not None and kind not in validate.EXTENSION_TYPES:
        raise Invalid(f"extn_type: must be one of {', '.join(validate.EXTENSION_TYPES)}")
    checked = validate.extension_settings({"type": kind, "mac_address": settings.get("mac_address")}, bound)
    return {**extension, **checked}


@counted
async def create_user(request: web.Request) -> web.Response:
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    login = validate.token(validate.required(fields, "login"), "login", bound)
    name = validate.text(validate.required(fields, "name"), "name", bound)
    password = validate.user_password(validate.required(fields, "password"))
    settings = validate.user_settings(
        fields, bound, ignore=("login", "name", "password", "id", *_EXTENSION_KEYS)
    )
    scope.may_grant(settings)
    domain = scope.domain_for(settings.pop("domain", None))
    extension = _extension_wanted(fields, login, bound)
    values = {"type": "NORMAL", **settings, "login": login, "name": name, "domain": domain}
    values.update(login_secret(login, password))
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        await _refuse_logins(conn, [login])
        if extension is not None:
            values["extn"] = extension["extn"]
        user = await writes.insert_one(conn, "users", values)
        if extension is not None:
            ext = await _create_extension(conn, user, extension)
    detail = f"login={login!r} domain={domain!r}"
    changed(request, scope, "users", "created", [user["id"]], detail=detail)
    if extension is not None:
        changed(
            request,
            scope,
            "extensions",
            "created",
            [ext["id"]],
            detail=f"extn={ext['extn']!r} domain={domain!r}",
        )
    return json_response(shaped.done(user["id"]))


async def _refuse_logins(conn: asyncpg.Connection, logins: Sequence[str]) -> None:
    await writes.lock_logins(conn)
    taken = await writes.live_logins(conn, logins)
    if taken:
        raise writes.Conflict(f"row {taken[0]}: login exists")


async def _create_extension(
    conn: asyncpg.Connection, user: asyncpg.Record, wanted: Mapping[str, Any]
) -> asyncpg.Record:
    domain, number = user["domain"], wanted["extn"]
    await writes.lock_domains(conn, [domain])
    if await writes.live_extensions(conn, domain, [number]):
        raise writes.Conflict(f"row {number}: extn exists in domain {domain}")
    values = {"type": "SIP", **{k: v for k, v in wanted.items() if k != "password"}}
    values.update(name=user["name"], domain=domain, context=user["context"], user_id=user["id"])
    values.update(credentials(number, domain, wanted["password"]))
    ext = await writes.insert_one(conn, "extensions", values)
    await writes.set_user_extensions(conn, [user["id"]], [ext["id"]])
    return ext


def _user_rows(numbers: list[str], base: Mapping[str, Any], password: str) -> list[dict[str, Any]]:
    return [{**base, "login": n, "name": n, "extn": n, **login_secret(n, password)} for n in numbers]


@counted
async def muti_add(request: web.Request) -> web.Response:
    """Users ``users_start``..``users_end`` (login = name = extn = the number), each with an
    extension when ``extn_password`` is given; one taken login or number refuses them all."""
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    numbers = validate.span(fields, "users_start", "users_end", bound).numbers()
    password = validate.user_password(validate.required(fields, "password"))
    extn_password = fields.get("extn_password")
    if extn_password not in (None, ""):
        extn_password = validate.extension_password(extn_password, "extn_password")
    settings = validate.user_settings(
        fields, bound, ignore=("users_start", "users_end", "password", "extn_password")
    )
    for grant in ("is_admin", "is_super"):
        if grant in settings:
            raise Invalid(f"{grant}: grant it to one user with PUT /api/users/:id")
    domain = scope.domain_for(settings.pop("domain", None))
    base = {"type": "NORMAL", "context": "context-1", **settings, "domain": domain}
    rows = await asyncio.to_thread(_user_rows, numbers, base, password)  # salted SHA1s off the loop
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        await _refuse_logins(conn, numbers)
        users = await writes.insert_many(conn, "users", rows)
        extensions: dict[int, asyncpg.Record] = {}
        if extn_password:
            extensions = await _range_extensions(conn, users, domain, str(extn_password))
    changed(request, scope, "users", "created", [u["id"] for u in users], detail=f"domain={domain!r}")
    if extensions:
        ids = sorted(e["id"] for e in extensions.values())
        changed(request, scope, "extensions", "created", ids, detail=f"domain={domain!r}")
    return json_bytes(await asyncio.to_thread(_muti_add_answer, users, extensions))


def _muti_add_answer(users: list[asyncpg.Record], extensions: Mapping[int, asyncpg.Record]) -> bytes:
    return orjson.dumps(shaped.done([shaped.user_created(u, extensions.get(u["id"])) for u in users]))


async def _range_extensions(
    conn: asyncpg.Connection, users: list[asyncpg.Record], domain: str, password: str
) -> dict[int, asyncpg.Record]:
    numbers = [u["extn"] for u in users]
    await writes.lock_domains(conn, [domain])
    taken = await writes.live_extensions(conn, domain, numbers)
    if taken:
        raise writes.Conflict(f"row {taken[0]['extn']}: extn exists in domain {domain}")

    def build() -> list[dict[str, Any]]:
        return [
            {
                "extn": u["extn"],
                "name": u["name"],
                "domain": domain,
                "context": u["context"],
                "type": "SIP",
                "user_id": u["id"],
                **credentials(u["extn"], domain, password),
            }
            for u in users
        ]

    created = await writes.insert_many(conn, "extensions", await asyncio.to_thread(build))
    by_user = {e["user_id"]: e for e in created}
    await writes.set_user_extensions(conn, list(by_user), [e["id"] for e in by_user.values()])
    return by_user


async def list_users(request: web.Request) -> web.Response:
    scope = await admin(request)
    page = max(1, params.query_int(request, "page", 1))
    size = params.query_int(request, "perPage", DEFAULT_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE if size < 1 else min(size, MAX_PAGE_SIZE)
    where = user_reads.UserFilter(
        domain=scope.domains,
        login=params.query_text(request, "login"),
        name=params.query_text(request, "name"),
        type=params.query_text(request, "type"),
    )
    paging = shapes.Page(page=page, size=size)
    total, rows = await user_reads.user_page(request.config_dict[DATABASE], where, paging.offset, size)
    return json_response(shaped.user_page([shaped.user(row, row) for row in rows], total, paging))


async def get_user(request: web.Request) -> web.Response:
    scope = await admin(request)
    row = await user_reads.user_by_id(request.config_dict[DATABASE], path_id(request), scope.domains)
    if row is None:
        raise NotFound("not found")
    return json_response(shaped.user(row, row))


async def user_extensions(request: web.Request) -> web.Response:
    scope = await admin(request)
    db, user_id = request.config_dict[DATABASE], path_id(request)
    if await user_reads.user_by_id(db, user_id, scope.domains) is None:
        raise NotFound("not found")
    rows = await user_reads.extensions_of(db, user_id, scope.domains)
    return json_response([shaped.user_extension(row) for row in rows])


@counted
async def update_user(request: web.Request) -> web.Response:
    """General update (the user's id in the body is ignored, as documented), or
    ``{"action": "toggle", "extn_id": N}``: make one of its extensions the default.

    The object GET answered may be sent back whole (read-only keys equal to the stored values
    are ignored: api/round_trip.py). A user's name, caller id and context reach the
    extensions that inherit them, and a new domain carries the user's extensions."""
    scope = await admin(request)
    user_id, fields, bound = path_id(request), await object_body(request), limits(request)
    if isinstance(fields.get("request"), dict):
        fields = fields["request"]  # the document's curl example wraps the body so
    cleared = False
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        current = await _managed_user(conn, scope, user_id)
        if fields.get("action") == "toggle":
            values = await _toggle(conn, user_id, fields)
        else:
            default = await conn.fetchrow(
                "SELECT ha1, ha1b FROM extensions WHERE id = $1", current["extn_id"]
            )
            stored = _stored_user(current, default)
            round_trip.check(fields, stored, round_trip.USER_READ_ONLY)
            round_trip.check_timestamps(fields, round_trip.USER_IGNORED)
            values = round_trip.changes(_user_changes(scope, current, fields, bound), stored)
            cleared = "login" in values and values.get("sha1", b"") is None
            await user_extensions_follow(conn, current, values)
        await writes.update_ids(conn, "users", [user_id], values)
    columns = ",".join(sorted(k for k in values if k not in ("salt", "sha1")))
    changed(request, scope, "users", "updated", [user_id], detail=f"columns={columns}")
    message = "success"
    if cleared:
        message = "success; the web password was cleared (it is bound to the login): set a new one"
    return json_response(shaped.done(str(user_id), message))


def _stored_user(current: Mapping[str, Any], default: Mapping[str, Any] | None) -> dict[str, Any]:
    out = shaped.user(current, default)
    out["is_locked"] = xui_values.flag(current["is_locked"])
    return out


def _user_changes(
    scope: Scope, current: Mapping[str, Any], fields: Mapping[str, Any], bound: Limits
) -> dict[str, Any]:
    values = validate.user_settings(
        fields, bound, ignore=("id", "login", "password", "action", *round_trip.USER_KEYS)
    )
    scope.may_grant(values)
    if "domain" in values:
        scope.require_domain(values["domain"])
    login = fields.get("login")
    login = current["login"] if login in (None, "") else validate.token(login, "login", bound)
    password = fields.get("password")
    if password not in (None, ""):
        values.update(login_secret(login, validate.user_password(password)))
    elif login != current["login"]:
        # The document's own example renames a login without a password. The stored SHA1
        # covers login + password, so the old password cannot follow: it is cleared (no
        # web login until one is set), and the answer says so.
        values.update(salt=None, sha1=None)
    if login != current["login"]:
        values["login"] = login
    return values


# User columns an extension inherits when created with its user (create, muti_add): an
# extension still holding the user's old value follows a change; one set on its own keeps it.
INHERITED = ("name", "cid_name", "cid_number", "context")


async def user_extensions_follow(
    conn: asyncpg.Connection, current: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """The directory answers from ``extensions``: a user-level change reaches it here, in the
    same transaction (the extensions' NOTIFY trigger then flushes every cache)."""
    for column in INHERITED:
        if column in values and values[column] != current[column]:
            await conn.execute(
                f"UPDATE extensions SET {column} = $2, updated_at = now()"
                f" WHERE user_id = $1 AND deleted_at IS NULL AND {column} IS NOT DISTINCT FROM $3",
                current["id"],
                values[column],
                current[column],
            )
    domain = values.get("domain")
    if domain is not None and domain != current["domain"]:
        await _move_extensions(conn, current, str(domain))


async def _move_extensions(conn: asyncpg.Connection, user: Mapping[str, Any], domain: str) -> None:
    """A user's extensions go with it to its new domain, their hashes made anew (they include
    the domain); refused by name when a number is taken there or a password is unknown."""
    rows = await conn.fetch(
        "SELECT id, extn, password FROM extensions"
        " WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id FOR UPDATE",
        user["id"],
    )
    if not rows:
        return
    await writes.lock_domains(conn, [domain])
    taken = await writes.live_extensions(conn, domain, [row["extn"] for row in rows])
    if taken:
        raise writes.Conflict(
            f"domain: extension {taken[0]['extn']} exists in domain {domain}"
            " (the user's extensions move with it)"
        )
    blind = [row["extn"] for row in rows if not row["password"]]
    if blind:
        raise Invalid(
            f"domain: extension {blind[0]} has no stored password, so its hashes cannot be made for {domain};"
            " set its password first"
        )
    for row in rows:
        await conn.execute(
            "UPDATE extensions SET domain = $2, ha1 = $3, ha1b = $4, updated_at = now() WHERE id = $1",
            row["id"],
            domain,
            hashes.ha1(row["extn"], domain, row["password"]),
            hashes.ha1b(row["extn"], domain, row["password"]),
        )


async def _toggle(conn: asyncpg.Connection, user_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    extn_id = validate.row_id(validate.required(fields, "extn_id"), "extn_id")
    rows = await writes.locked_rows(conn, "extensions", [extn_id])
    if not rows or rows[0]["user_id"] != user_id:
        raise Invalid("extn_id: not an extension of this user")
    return {"extn": rows[0]["extn"], "extn_id": extn_id}


async def _managed_user(conn: asyncpg.Connection, scope: Scope, user_id: int) -> asyncpg.Record:
    row = await writes.live_user(conn, user_id=user_id)
    if row is None or not scope.may_manage(row["domain"]):
        raise NotFound("not found")
    _refuse_super(scope, row)
    return row


def _refuse_super(scope: Scope, row: Mapping[str, Any]) -> None:
    """A domain admin never changes, deletes or sets the password of a super user."""
    if not scope.is_super and xui_values.integer(row["is_super"], 0):
        raise Forbidden(NO_PERMISSION)


async def _delete_users(request: web.Request, scope: Scope, ids: list[int]) -> int:
    """Every user of ``ids`` and its extensions, or none: one unknown id or one outside the
    caller's domain refuses the request; nobody deletes themselves."""
    if scope.user_id in ids:
        raise Invalid("id: you cannot delete yourself")
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        rows = await writes.locked_rows(conn, "users", ids)
        found = {row["id"]: row for row in rows if scope.may_manage(row["domain"])}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"ids: no user {', '.join(map(str, missing[:5]))}")
        for row in rows:
            _refuse_super(scope, row)
        await writes.soft_delete(conn, "users", ids)
        extensions = await writes.soft_delete_extensions_of(conn, ids)
    changed(request, scope, "users", "deleted", sorted(ids))
    if extensions:
        changed(
            request,
            scope,
            "extensions",
            "deleted",
            sorted(e["id"] for e in extensions),
            detail="with their users",
        )
    return len(ids)


@counted
async def delete_user(request: web.Request) -> web.Response:
    scope = await admin(request)
    user_id = path_id(request)
    await _delete_users(request, scope, [user_id])
    return json_response({"id": str(user_id)})  # the document's answer, without the envelope


@counted
async def delete_users(request: web.Request) -> web.Response:
    """POST /api/users/delete and DELETE /api/users with ``[1, 2, 3]``."""
    scope = await admin(request)
    ids = validate.id_list(await body(request), limits(request))
    return json_response(shaped.done(await _delete_users(request, scope, ids)))


@counted
async def delete_by_extn(request: web.Request) -> web.Response:
    """DELETE /api/users/delete with ``{"extn": "444"}``: the users of that number (in the
    caller's domain, or ``domain``)."""
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    extn = validate.extn(validate.required(fields, "extn"), "extn", bound)
    asked = fields.get("domain")
    domain = scope.domain_for(validate.domain(asked, bound) if asked not in (None, "") else None)
    ids = await request.config_dict[DATABASE].fetch(
        "SELECT id FROM users WHERE deleted_at IS NULL AND domain = $1 AND (extn = $2 OR id IN"
        " (SELECT user_id FROM extensions WHERE domain = $1 AND extn = $2 AND deleted_at IS NULL))",
        domain,
        extn,
    )
    if not ids:
        raise NotFound(f"extn: no user of {extn} in domain {domain}")
    return json_response(shaped.done(await _delete_users(request, scope, [row["id"] for row in ids])))


async def _set_password(request: web.Request, scope: Scope, target: int, fields: Mapping[str, Any]) -> None:
    """Anyone their own password, with the old one; an admin anyone's in its domain."""
    password = validate.user_password(validate.required(fields, "password"))
    if target == scope.user_id:
        old = validate.required(fields, "old_password")
        if not isinstance(old, str):
            raise Invalid("old_password: must be a string")
        authenticator = request.config_dict[API_AUTHENTICATOR]
        # Counted toward the account's lock and the source's limit like any login.
        if await authenticator.login(scope.login, old, source_key(request.remote)) != scope.user_id:
            raise Forbidden(WRONG_LOGIN)
    elif not scope.provisions:
        raise Forbidden(NO_PERMISSION)
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        user = await _managed_user(conn, scope, target) if target != scope.user_id else None
        login = user["login"] if user is not None else scope.login
        if user is None:
            await keep_presented_token(conn, request)  # one's own change: this session stays
        await writes.update_ids(conn, "users", [target], login_secret(login, password))
    changed(request, scope, "users", "password set", [target])


@counted
async def set_password(request: web.Request) -> web.Response:
    """PUT /api/users/:id/password."""
    scope, user_id = await caller(request), path_id(request)
    await _set_password(request, scope, user_id, await object_body(request))
    return json_response(shaped.done(str(user_id)))


@counted
async def change_password(request: web.Request) -> web.Response:
    """PUT /api/users/change_password: the caller's own, or ``id``'s for an admin."""
    fields = await object_body(request)
    scope = await caller(request)
    target = scope.user_id if fields.get("id") in (None, "") else validate.row_id(fields["id"])
    await _set_password(request, scope, target, fields)
    return json_response(shaped.done("{}"))
