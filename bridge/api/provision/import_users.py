"""POST /api/users/import: rows with the XUI document's Chinese column names ("批量导入用户"),
validated as POST /api/users validates a create, written in one transaction or not at all.

Every row is checked before anything is written, and every bad row is named in the one
refusal (``row 2 (user002): password: ...``), so a spreadsheet is fixed in one go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from bridge.api import user_record, validate, writes
from bridge.api.provision.shapes import done
from bridge.api.provision.shared import admin, changed, counted, limits, object_body, write_timeout
from bridge.api.provision.users import login_secret
from bridge.api.respond import json_response
from bridge.api.scope import Scope
from bridge.api.validate import Invalid, Limits, Missing, TooMany
from bridge.errors import Forbidden, RequestError
from bridge.keys import DATABASE

# The document's column -> the users column (and the create body's key).
COLUMNS: Mapping[str, str] = {
    "登录名": "login",
    "分机": "extn",
    "名称": "name",
    "密码": "password",
    "呼叫源": "context",
    "域": "domain",
    "类型": "type",
    "超级管理员": "is_super",
}
REQUIRED = ("登录名", "名称", "密码")
# 超级管理员 "填 是 或 否, 会转成 1 或 0 存储"; 1/0 are taken too.
_YES_NO = {"是": 1, "否": 0, "1": 1, "0": 0, 1: 1, 0: 0}


class RowsRefused(Invalid):
    """One or more rows are bad: 400 naming each (403 if a row asks beyond the caller's rights)."""

    def __init__(self, errors: Sequence[tuple[str, RequestError]]) -> None:
        status = 400
        if any(isinstance(exc, Forbidden) for _, exc in errors):
            status = 403
        elif all(isinstance(exc, writes.Conflict) for _, exc in errors):
            status = 409
        super().__init__("; ".join(f"{where}: {exc}" for where, exc in errors), status=status)


def _row_values(scope: Scope, fields: Mapping[str, Any], bound: Limits) -> dict[str, Any]:
    """One row as the users columns, checked as a create checks them."""
    unknown = [key for key in fields if key not in COLUMNS]
    if unknown:
        raise Invalid(f"{unknown[0]}: not an import column ({', '.join(COLUMNS)})")
    for key in REQUIRED:
        if fields.get(key) in (None, ""):
            raise Missing(f"Missing Args: {key}")
    login = validate.token(fields["登录名"], "登录名", bound)
    name = validate.text(fields["名称"], "名称", bound)
    password = validate.user_password(fields["密码"], "密码")
    settings: dict[str, Any] = {"is_super": 0}
    if fields.get("分机") not in (None, ""):
        settings["extn"] = validate.extn(fields["分机"], "分机", bound)
    super_value = fields.get("超级管理员")
    if super_value not in (None, ""):
        if not isinstance(super_value, str | int) or super_value not in _YES_NO:
            raise Invalid("超级管理员: must be 是 or 否")
        settings["is_super"] = _YES_NO[super_value]
    optional = {COLUMNS[k]: fields[k] for k in ("呼叫源", "域", "类型") if fields.get(k) not in (None, "")}
    settings.update(validate.user_settings(optional, bound))
    scope.may_grant(settings)
    domain = scope.domain_for(settings.pop("domain", None))
    return {"type": "NORMAL", "context": "context-1", **settings, "login": login, "name": name,
            "domain": domain, "password": password}  # fmt: skip


def _rows(scope: Scope, document: Mapping[str, Any], bound: Limits) -> list[dict[str, Any]]:
    rows = document.get("users")
    if not isinstance(rows, list) or not rows:
        raise Invalid("users: must be a non-empty array of rows")
    if len(rows) > bound.max_rows:
        raise TooMany(f"users: {len(rows)} rows, at most {bound.max_rows} in one request")
    values: list[dict[str, Any]] = []
    errors: list[tuple[str, RequestError]] = []
    seen: dict[str, int] = {}
    for index, fields in enumerate(rows, 1):
        login = fields.get("登录名") if isinstance(fields, dict) else None
        where = f"row {index}" + (f" ({login})" if isinstance(login, str) and login.isprintable() else "")
        try:
            if not isinstance(fields, dict):
                raise Invalid("must be an object")
            row = _row_values(scope, fields, bound)
            if row["login"] in seen:
                raise Invalid(f"登录名: repeats row {seen[row['login']]}")
            seen[row["login"]] = index
            values.append(row)
        except RequestError as exc:
            errors.append((where[:100], exc))
    if errors:
        raise RowsRefused(errors)
    return values


def _hashed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows to insert: the password replaced by its salted SHA1 (never stored itself)."""
    out = []
    for row in rows:
        password = row.pop("password")
        out.append({**row, **login_secret(row["login"], password)})
    return out


@counted
async def import_users(request: web.Request) -> web.Response:
    scope = await admin(request)
    bound = limits(request)
    rows = _rows(scope, await object_body(request), bound)
    # One column set for every row (insert_many): absent optional columns as NULL.
    columns = sorted({column for row in rows for column in row})
    rows = [{column: row.get(column) for column in columns} for row in rows]
    hashed = await asyncio.to_thread(_hashed, rows)  # salted SHA1s off the loop
    async with writes.transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        await writes.lock_logins(conn)
        taken = set(await writes.live_logins(conn, [row["login"] for row in hashed]))
        if taken:
            errors = [
                (f"row {i} ({row['login']})", writes.Conflict("登录名: login exists"))
                for i, row in enumerate(hashed, 1)
                if row["login"] in taken
            ]
            raise RowsRefused(errors)
        users = await writes.insert_many(conn, "users", hashed)
    changed(request, scope, "users", "imported", [u["id"] for u in users])
    return json_response(done([user_record.imported(u) for u in users]))
