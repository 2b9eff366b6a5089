"""The OpenAPI description of the provisioning endpoints (merged into document.DOCUMENT).

Row schemas come from the column tables provision/shapes.py answers from.
"""

from __future__ import annotations

from bridge.api import shapes, validate
from bridge.api.openapi import fields
from bridge.api.openapi.schema import BOOLEAN, INTEGER, STRING, TIMESTAMP, Schema, array, closed, ref
from bridge.api.provision import shapes as provision_shapes

TEXT_OR_NUMBER: Schema = {"oneOf": [STRING, INTEGER]}


def _extension_row() -> dict[str, Schema]:
    out: dict[str, Schema] = {column: INTEGER for column in shapes.EXTENSION_INTS}
    out.update({column: STRING for column in shapes.EXTENSION_TEXTS})
    out.update({column: BOOLEAN for column in shapes.EXTENSION_BOOLS})
    out.update({column: TIMESTAMP for column in shapes.TIMESTAMPS})
    out.update({"password": STRING, "ha1": STRING, "ha1b": STRING})
    return out


def _user_object() -> dict[str, Schema]:
    out: dict[str, Schema] = {column: INTEGER for column in shapes.USER_INTS}
    out.update({column: STRING for column in provision_shapes.USER_TEXTS})
    out.update({column: TIMESTAMP for column in shapes.USER_TIMESTAMPS})
    out.update({"extn": STRING, "ha1": STRING, "ha1b": STRING})
    return out


def done(data: Schema) -> Schema:
    return closed({"code": INTEGER, "data": data, "message": STRING})


SCHEMAS: dict[str, Schema] = {
    "ExtensionRow": closed(_extension_row()),
    "ExtensionUpdated": closed(
        {**{k: v for k, v in _extension_row().items() if k != "password"}, "login": STRING}
    ),
    "UserExtension": closed({k: v for k, v in _extension_row().items() if k != "tmf_type"}),
    "UserObject": closed(_user_object()),
    "UserCreated": closed({**_user_object(), "agent_info": STRING, "password": STRING}),
    "UserPage": closed(
        {"data": array(ref("UserObject")), "pageCount": INTEGER, "rowCount": INTEGER, "page": INTEGER}
    ),
    "DoneId": done(INTEGER),
    "DoneText": done(STRING),
    "DoneCount": done(INTEGER),
    "DoneEmpty": done(array(STRING)),
    "ExtensionCreated": done(ref("ExtensionRow")),
    "ExtensionChanged": done(ref("ExtensionUpdated")),
    "ExtensionsCreated": done(
        {
            "oneOf": [
                array(ref("ExtensionRow")),
                closed({"exit": array(ref("ExtensionRow")), "created": array(ref("ExtensionRow"))}),
            ]
        }
    ),
    "UsersCreated": done(array(ref("UserCreated"))),
    "DeletedUser": closed({"id": STRING}),
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Schema]:
    words = {
        400: "a field breaks a rule (the reason names it), or the body is not JSON",
        401: "no or unknown token",
        403: "no permission (outside the caller's domain), or a wrong old password",
        404: "not found (or outside the caller's domain)",
        406: "Missing Args: the required field named",
        409: "the login or the extension number exists already",
        413: "body larger than http.max_body_bytes, or more rows than api.max_bulk_rows",
    }
    return {str(code): _json(ref("Error"), words[code]) for code in codes}


def _body(properties: dict[str, Schema], required: list[str]) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ids_body() -> Schema:
    """validate.id_list: at least one row id, at most api.max_bulk_rows (its default here)."""
    ids = {**array(fields.ROW_ID), "minItems": 1, "maxItems": validate.Limits().max_rows}
    return {"required": True, "content": {"application/json": {"schema": ids}}}


_ID = [{"name": "id", "in": "path", "required": True, "schema": INTEGER}]
_WRITE = (400, 401, 403, 406, 409, 413)
_EXTENSION_FIELDS = fields.EXTENSION_SETTINGS
_USER_FIELDS = fields.USER_SETTINGS
_UNSET: Schema = {"enum": ["", None]}
# params.query_int: a 32-bit integer, else 400.
_PAGE_NUMBER: Schema = {"type": "integer", "minimum": -(2**31 - 1), "maximum": 2**31 - 1}
# validate.domain reads a JSON number as its digits (a domain may be all digits).
_DOMAIN: Schema = {"oneOf": [fields.DOMAIN, INTEGER]}
_PASSWORDS = {
    "password": fields.USER_PASSWORD,
    "old_password": {"type": "string", "minLength": 1, "description": "required for one's own password"},
    "id": {"oneOf": [fields.ROW_ID, _UNSET], "description": "a user's id; none for one's own"},
    "domain": STRING,
}

# One's own password needs old_password; another user's (id, an admin) does not.
_CHANGE_PASSWORD = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": _PASSWORDS,
                "required": ["password"],
                "anyOf": [
                    {"type": "object", "required": ["old_password"]},
                    {"type": "object", "required": ["id"]},
                ],
            }
        }
    },
}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# validate.extn_list: numbers (a JSON number read as its digits), at least one, bounded.
_EXTNS: Schema = {
    **array({"oneOf": [fields.EXTN, {"type": "integer", "minimum": 0}]}),
    "minItems": 1,
    "maxItems": validate.Limits().max_rows,
}
# POST /api/users and /api/users/create (provision_users.create_user): "" or null for extn,
# extn_password, extn_type and mac_address mean "not given"; extn_type and mac_address come
# only with extn_password (said in the summary: OpenAPI 3.0 has no dependentRequired).
_USER_CREATE = fields.body(
    {
        **_USER_FIELDS,
        "id": {"description": "ignored"},
        "login": {"oneOf": [fields.TOKEN, {"type": "integer", "minimum": 0}]},
        "name": fields.TEXT_OR_NUMBER,
        "password": fields.USER_PASSWORD,
        "extn": {"oneOf": [fields.EXTN, {"type": "integer", "minimum": 0}, _UNSET]},
        "extn_password": {"oneOf": [fields.EXTENSION_PASSWORD, _UNSET]},
        "extn_type": {"oneOf": [{"type": "string", "enum": list(validate.EXTENSION_TYPES)}, _UNSET]},
        "mac_address": {"oneOf": [fields.EXTENSION_SETTINGS["mac_address"], {"enum": [None]}]},
    },
    ["login", "name", "password"],
)


PATHS: dict[str, Schema] = {
    "/api/users": {
        "post": {
            "summary": "Create a user (password: upper, lower, digit, special, 8-20), optionally with an"
            " extension (extn, context, extn_password: upper, lower, digit, 8-20, extn_type, mac_address;"
            " extn_type and mac_address only with extn_password)",
            "requestBody": _USER_CREATE,
            "responses": {"200": _json(ref("DoneId"), "data: the new user's id"), **_errors(*_WRITE)},
        },
        "get": {
            "summary": "Users, paged (perPage default 10, at most 1000), filtered by login and name"
            " (substrings) and type",
            "parameters": [
                _query("page", _PAGE_NUMBER, "from 1"),
                _query("perPage", _PAGE_NUMBER, "rows per page"),
                _query("login", STRING, "case-insensitive substring"),
                _query("name", STRING, "case-insensitive substring"),
                _query("type", STRING, "NORMAL, AGENT, CONFMAN or GATEWAY"),
            ],
            "responses": {"200": _json(ref("UserPage"), "one page"), **_errors(400, 401, 403)},
        },
        "delete": {
            "summary": "Delete the users of an id array (all or none), with their extensions",
            "requestBody": _ids_body(),
            "responses": {
                "200": _json(ref("DoneCount"), "data: users deleted"),
                **_errors(400, 401, 403, 404, 413),
            },
        },
    },
    "/api/users/create": {
        "post": {
            "summary": "The same as POST /api/users",
            "requestBody": _USER_CREATE,
            "responses": {"200": _json(ref("DoneId"), "data: the new user's id"), **_errors(*_WRITE)},
        }
    },
    "/api/users/muti_add": {
        "post": {
            "summary": "Users users_start..users_end (login = name = extn), each with an extension when"
            " extn_password is given; one taken login or number refuses all",
            "requestBody": _body(
                {
                    "users_start": TEXT_OR_NUMBER,
                    "users_end": TEXT_OR_NUMBER,
                    "password": fields.USER_PASSWORD,
                    "type": {"type": "string", "enum": list(validate.USER_TYPES)},
                    "context": fields.TOKEN,
                    "extn_password": {"oneOf": [fields.EXTENSION_PASSWORD, _UNSET]},
                    "domain": {"oneOf": [fields.DOMAIN, INTEGER, {"enum": [None]}]},
                },
                ["users_start", "users_end", "password"],
            ),
            "responses": {"200": _json(ref("UsersCreated"), "the users created"), **_errors(*_WRITE)},
        }
    },
    "/api/users/delete": {
        "post": {
            "summary": "Delete the users of an id array (all or none)",
            "requestBody": _ids_body(),
            "responses": {
                "200": _json(ref("DoneCount"), "data: users deleted"),
                **_errors(400, 401, 403, 404, 413),
            },
        },
        "delete": {
            "summary": 'Delete the users of an extension number ({"extn": "444"}) in the caller\'s domain',
            "requestBody": _body({"extn": {"oneOf": [fields.EXTN, INTEGER]}, "domain": _DOMAIN}, ["extn"]),
            "responses": {
                "200": _json(ref("DoneCount"), "data: users deleted"),
                **_errors(400, 401, 403, 404, 406),
            },
        },
    },
    "/api/users/change_password": {
        "put": {
            "summary": "Change one's own password (old_password required), or id's as its admin",
            "requestBody": _CHANGE_PASSWORD,
            "responses": {"200": _json(ref("DoneText"), 'data: "{}"'), **_errors(400, 401, 403, 404, 406)},
        }
    },
    "/api/users/{id}": {
        "get": {
            "summary": "One user with its default extension's hashes",
            "parameters": _ID,
            "responses": {"200": _json(ref("UserObject"), "the user"), **_errors(401, 403, 404)},
        },
        "put": {
            "summary": 'Update a user (its id in the body is ignored), or {"action": "toggle", "extn_id": N}',
            "parameters": _ID,
            "requestBody": fields.body(
                {
                    **_USER_FIELDS,
                    **fields.USER_ROUND_TRIP,
                    "id": {"description": "ignored, as documented"},
                    "login": fields.TOKEN,
                    "password": {"oneOf": [fields.USER_PASSWORD, {"enum": [""]}]},
                    "action": {"enum": ["toggle"]},
                    "extn_id": {"description": "with action toggle: the new default extension's id"},
                    "request": {"type": "object", "description": "the document's curl wraps the body so"},
                },
                [],
            ),
            "responses": {"200": _json(ref("DoneText"), "data: the id"), **_errors(*_WRITE, 404)},
        },
        "delete": {
            "summary": "Delete a user (deleted_at) and its extensions",
            "parameters": _ID,
            "responses": {"200": _json(ref("DeletedUser"), "the id"), **_errors(400, 401, 403, 404)},
        },
    },
    "/api/users/{id}/extensions": {
        "get": {
            "summary": "The user's extensions, credentials included",
            "parameters": _ID,
            "responses": {
                "200": _json(array(ref("UserExtension")), "its extensions"),
                **_errors(401, 403, 404),
            },
        }
    },
    "/api/users/{id}/password": {
        "put": {
            "summary": "Set a password: one's own with old_password, or a user's of the admin's domain",
            "parameters": _ID,
            "requestBody": _body(_PASSWORDS, ["password"]),
            "responses": {"200": _json(ref("DoneText"), "data: the id"), **_errors(400, 401, 403, 404, 406)},
        }
    },
    "/api/extensions/muti_add": {
        "post": {
            "summary": "Extensions extns_start..extns_end for user_id; numbers already live come back"
            " under exit, the rest are created (all or none)",
            "requestBody": _body(
                {
                    "extns_start": TEXT_OR_NUMBER,
                    "extns_end": TEXT_OR_NUMBER,
                    "password": {"oneOf": [fields.EXTENSION_PASSWORD, _UNSET]},
                    "context": fields.TOKEN,
                    "user_id": INTEGER,
                    "domain": {"oneOf": [fields.DOMAIN, INTEGER, _UNSET]},
                },
                ["extns_start", "extns_end", "user_id"],
            ),
            "responses": {"200": _json(ref("ExtensionsCreated"), "the extensions"), **_errors(*_WRITE, 404)},
        }
    },
    "/api/extensions/download": {
        "get": {
            "summary": "Every extension of the caller's scope as CSV (the document's columns)",
            "responses": {
                "200": {"description": "CSV", "content": {"text/csv": {"schema": STRING}}},
                **_errors(401, 403),
            },
        }
    },
}

# Methods added to paths the reads already describe.
EXTRA_METHODS: dict[str, Schema] = {
    "/api/extensions": {
        "post": {
            "summary": "Create an extension for user_id or login (password: upper, lower, digit, 8-20)",
            "requestBody": fields.body(
                {
                    **_EXTENSION_FIELDS,
                    "id": {"description": "ignored"},
                    "extn": fields.EXTN,
                    "password": {"oneOf": [fields.EXTENSION_PASSWORD, {"enum": [""]}]},
                    "user_id": fields.OWNER_ID,
                    "login": fields.TOKEN,
                    "domain": fields.DOMAIN,
                },
                ["extn"],
            ),
            "responses": {"200": _json(ref("ExtensionCreated"), "the extension"), **_errors(*_WRITE)},
        },
        "put": {
            "summary": "Set the same fields on every extension of extns (all or none); dods are not managed",
            "requestBody": fields.body({**_EXTENSION_FIELDS, "extns": _EXTNS, "domain": _DOMAIN}, ["extns"]),
            "responses": {
                "200": _json(ref("DoneEmpty"), "message: update rows N"),
                **_errors(400, 401, 403, 404, 406, 413),
            },
        },
    },
    "/api/extensions/{id}": {
        "put": {
            "summary": "Update an extension (extn and domain cannot change; a password renews ha1, ha1b;"
            " the document's voicemail `action` is refused: XUI tables bridge does not manage)",
            "parameters": _ID,
            "requestBody": fields.body(
                {
                    **_EXTENSION_FIELDS,
                    **fields.EXTENSION_ROUND_TRIP,
                    "extn": fields.EXTN,
                    "domain": fields.DOMAIN,
                    "password": {"oneOf": [fields.EXTENSION_PASSWORD, {"enum": [""]}]},
                    "login": {"oneOf": [fields.TOKEN, {"enum": [""]}]},
                    "user_id": fields.OWNER_ID,
                },
                [],
            ),
            "responses": {"200": _json(ref("ExtensionChanged"), "the extension"), **_errors(*_WRITE, 404)},
        },
        "delete": {
            "summary": "Delete an extension (deleted_at): the directory refuses it at once",
            "parameters": _ID,
            "responses": {"200": _json(ref("DoneText"), "data: the id"), **_errors(401, 403, 404)},
        },
    },
}
