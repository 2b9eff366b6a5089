"""The OpenAPI description of POST /api/users/import, PUT /api/users and the identity reads
(bridge/api/provision/import_users.py, user_self.py), merged into document.DOCUMENT."""

from __future__ import annotations

from bridge.api import user_record, validate
from bridge.api.openapi.fields import TEXT, USER_PASSWORD
from bridge.api.openapi.schema import BOOLEAN, INTEGER, STRING, TIMESTAMP, Schema, array, closed, ref
from bridge.api.provision import import_users

_TOKEN: Schema = {"type": "string", "pattern": r"^[^\s@]{1,64}$"}


def _user() -> dict[str, Schema]:
    out: dict[str, Schema] = {column: STRING for column in user_record.TEXTS}
    out.update({column: INTEGER for column in (*user_record.INTS, *user_record.INTS_LAST)})
    out.update({column: TIMESTAMP for column in user_record.TIMES})
    out.update({column: BOOLEAN for column in user_record.BOOLS})
    out.update(
        {
            "salt": STRING,
            "email": STRING,
            "type": STRING,
            "agent_info": {"oneOf": [array({}), {"type": "object"}]},
        }
    )
    return out


_LABEL = closed({"key": STRING, "label": STRING})
SCHEMAS: dict[str, Schema] = {
    "UserInfo": closed(_user()),
    "UserImported": closed({**_user(), "password": STRING, "sha1": STRING}),
    "UsersImported": closed({"code": INTEGER, "data": array(ref("UserImported")), "message": STRING}),
    "CurrentUser": closed(
        {
            "geographic": closed({"province": _LABEL, "city": _LABEL}),
            "notifyCount": INTEGER,
            "name": STRING,
            "phone": STRING,
            "tags": array(_LABEL),
            "address": STRING,
            "userid": INTEGER,
            "unreadCount": INTEGER,
            "group": STRING,
            "title": STRING,
            "email": STRING,
            "country": STRING,
            "signature": STRING,
            "avatar": STRING,
        }
    ),
    "UserTotal": closed({"count": INTEGER}),
}

_IMPORT_ROW: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": list(import_users.REQUIRED),
    "properties": {
        "登录名": _TOKEN,
        "分机": {"type": "string", "pattern": r"^[0-9A-Za-z][0-9A-Za-z_.+*#-]{0,63}$"},
        "名称": {**TEXT, "minLength": 1},
        "密码": USER_PASSWORD,
        "呼叫源": _TOKEN,
        "域": {"type": "string", "pattern": r"^[0-9A-Za-z_.:\[\]-]{1,253}$"},
        "类型": {"type": "string", "enum": list(validate.USER_TYPES)},
        "超级管理员": {"type": "string", "enum": ["是", "否", "1", "0"]},
    },
}
_BULK: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["username"],
    "minProperties": 2,
    "properties": {
        # null: not set (the other one is)
        "type": {"oneOf": [{"type": "string", "enum": list(validate.USER_TYPES)}, {"enum": [None]}]},
        "idle_timeout": {
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 86_400},
                {"type": "string", "pattern": r"^\d{1,5}$"},
                {"enum": [None]},
            ]
        },
        "username": {
            "type": "array",
            "minItems": 1,
            "maxItems": validate.Limits().max_rows,
            "items": {"oneOf": [_TOKEN, {"type": "integer", "minimum": 0}]},
            "description": "logins (a number is read as its digits)",
        },
    },
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Schema]:
    words = {
        400: "a row or field breaks a rule: each bad row named (row N (login): field: reason)",
        401: "no or unknown token",
        403: "no permission (not an admin; a row for another domain or a super user)",
        404: "a login of username is unknown (or outside the caller's domain)",
        406: "Missing Args: username",
        409: "a login exists already (the rows named)",
        413: "body larger than http.max_body_bytes, or more rows than api.max_bulk_rows",
    }
    return {str(code): _json(ref("Error"), words[code]) for code in codes}


def _body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_BULK_PUT: Schema = {
    "summary": "Set type and/or idle_timeout on the users of username (logins), all or none",
    "requestBody": _body(_BULK),
    "responses": {
        "200": _json(closed({"code": INTEGER, "data": array(STRING), "message": STRING}), "update rows N"),
        **_errors(400, 401, 403, 404, 406, 413),
    },
}

PATHS: dict[str, Schema] = {
    "/api/users/": {"put": _BULK_PUT},
    "/api/users/import": {
        "post": {
            "summary": "Create users from rows with the document's Chinese column names, validated as a"
            " create, in one transaction: every bad row is named and nothing is written",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["users"],
                    "properties": {"users": {"type": "array", "minItems": 1, "items": _IMPORT_ROW}},
                }
            ),
            "responses": {
                "200": _json(ref("UsersImported"), "the users created"),
                **_errors(400, 401, 403, 409, 413),
            },
        }
    },
    "/api/users/info": {
        "get": {
            "summary": "The caller's own user record (any user)",
            "responses": {"200": _json(ref("UserInfo"), "the caller"), **_errors(401, 403)},
        }
    },
    "/api/users/currentUser": {
        "get": {
            "summary": "The caller as the document's profile object (any user)",
            "responses": {"200": _json(ref("CurrentUser"), "the caller"), **_errors(401, 403)},
        }
    },
    "/api/users/total": {
        "get": {
            "summary": "How many live users the caller provisions (its domain; all for a super user)",
            "responses": {"200": _json(ref("UserTotal"), "the count"), **_errors(401, 403)},
        }
    },
}

# Methods added to paths described elsewhere.
EXTRA_METHODS: dict[str, Schema] = {"/api/users": {"put": _BULK_PUT}}
