"""The identity reads a XUI client starts with, and the bulk user update:

* ``GET /api/users/info`` and ``/api/users/currentUser``: the caller's own record, for any
  user (a normal user included); for a key made from an extension's SIP credentials (which
  speaks for that extension, not as its owner) the record of the extension's owner, read
  only, secrets blank like everyone's (``salt`` "", no password or hash key);
* ``GET /api/users/total``: how many live users the caller provisions (admins);
* ``PUT /api/users``: ``type`` and/or ``idle_timeout`` on the users of ``username``
  (their logins), all or none.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bridge.api import user_reads, user_record, validate, writes
from bridge.api.auth import authenticated
from bridge.api.provision.shapes import done
from bridge.api.provision.shared import admin, changed, counted, limits, object_body, write_timeout
from bridge.api.respond import json_response
from bridge.api.scope import NO_PERMISSION
from bridge.api.validate import Invalid
from bridge.errors import Forbidden, NotFound
from bridge.keys import DATABASE

BULK_COLUMNS = ("type", "idle_timeout")


# The owner of the extension a SIP-credential key speaks for (read through the extension, so a
# deleted extension gives no record).
_EXTENSION_OWNER = """
SELECT u.* FROM extensions e JOIN users u ON u.id = e.user_id
WHERE e.id = $1 AND e.deleted_at IS NULL AND u.deleted_at IS NULL
"""


async def _own_row(request: web.Request) -> Any:
    """The caller's record: its user's, or for an extension's key its extension's owner's.
    Only these two reads give such a key a user row; every write still refuses it."""
    principal = await authenticated(request)
    db = request.config_dict[DATABASE]
    if principal.user_rights:
        row = await user_reads.user_by_id(db, principal.user_id, None)
    elif principal.extension is None:  # its extension was deleted, or a key older than sql/040
        raise Forbidden(NO_PERMISSION)
    else:
        row = await db.fetchrow(_EXTENSION_OWNER, principal.extension.id)
    if row is None:
        raise NotFound("not found")
    return row


async def info(request: web.Request) -> web.Response:
    return json_response(user_record.info(await _own_row(request)))


async def current_user(request: web.Request) -> web.Response:
    return json_response(user_record.current_user(await _own_row(request)))


async def total(request: web.Request) -> web.Response:
    scope = await admin(request)
    count = await request.config_dict[DATABASE].fetchval(
        "SELECT count(*) FROM users WHERE deleted_at IS NULL AND ($1::text IS NULL OR domain = $1)",
        scope.domains,
    )
    return json_response({"count": int(count)})


@counted
async def bulk_update(request: web.Request) -> web.Response:
    """PUT /api/users: ``{"type": "AGENT", "idle_timeout": 60, "username": ["9", "8"]}``."""
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    unknown = [key for key in fields if key not in (*BULK_COLUMNS, "username")]
    if unknown:
        raise Invalid(f"{unknown[0]}: PUT /api/users sets only {' and '.join(BULK_COLUMNS)}")
    logins = _logins(validate.required(fields, "username"), bound)
    values = validate.user_settings({k: fields[k] for k in BULK_COLUMNS if k in fields}, bound)
    if not values:
        raise Invalid(f"nothing to set: give {' or '.join(BULK_COLUMNS)}")
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        rows = await conn.fetch(
            "SELECT id, login, domain, is_super FROM users"
            " WHERE deleted_at IS NULL AND login = ANY($1::text[]) ORDER BY id FOR UPDATE",
            logins,
        )
        found = {row["login"]: row for row in rows if scope.may_manage(row["domain"])}
        missing = [login for login in logins if login not in found]
        if missing:
            raise NotFound(f"username: no user {', '.join(missing[:5])}")
        for row in rows:
            if not scope.is_super and row["is_super"]:
                raise NotFound(f"username: no user {row['login']}")  # as if absent, like GET
        ids = [int(row["id"]) for row in rows]
        await writes.update_ids(conn, "users", ids, values)
    changed(request, scope, "users", "updated", ids, detail=f"columns={','.join(sorted(values))}")
    return json_response(done([], f"update rows {len(ids)}"))


def _logins(value: Any, bound: validate.Limits) -> list[str]:
    if not isinstance(value, list) or not value:
        raise Invalid("username: must be a non-empty array of logins")
    if len(value) > bound.max_rows:
        raise validate.TooMany(f"username: {len(value)} logins, at most {bound.max_rows} in one request")
    return list(dict.fromkeys(validate.token(item, f"username[{i}]", bound) for i, item in enumerate(value)))
