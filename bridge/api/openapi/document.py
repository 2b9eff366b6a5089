"""The OpenAPI 3 description of the admin API, served at GET /api/openapi.json.

Row schemas are built from the same column tables shapes.py answers from, so a column
added there is described here; tests validate real answers against this document.
"""

from __future__ import annotations

from aiohttp import web

from bridge.api import shapes
from bridge.api.openapi import groups as openapi_groups
from bridge.api.openapi import import_and_self as openapi_import
from bridge.api.openapi import provision as openapi_provision
from bridge.api.openapi.schema import BOOLEAN, INTEGER, STRING, TIMESTAMP, Schema, array, closed, ref
from bridge.api.respond import json_response
from bridge.registrations.model import XUI_FIELDS, NodeState

STATUS: Schema = {"type": "string", "enum": list(shapes.STATUSES)}


def _extension() -> dict[str, Schema]:
    properties: dict[str, Schema] = {}
    properties.update({column: INTEGER for column in shapes.EXTENSION_INTS})
    properties.update({column: STRING for column in shapes.EXTENSION_TEXTS})
    properties.update({column: BOOLEAN for column in shapes.EXTENSION_BOOLS})
    properties.update({column: TIMESTAMP for column in shapes.TIMESTAMPS})
    properties["status"] = STATUS
    return properties


def _user() -> dict[str, Schema]:
    properties: dict[str, Schema] = {column: INTEGER for column in shapes.USER_INTS}
    properties.update({column: STRING for column in shapes.USER_TEXTS})
    properties.update({column: TIMESTAMP for column in shapes.USER_TIMESTAMPS})
    properties.update(
        {
            "agent_info": STRING,
            "extn": STRING,
            "ha1": STRING,
            "ha1b": STRING,
            "regs": array(ref("Registration")),
        }
    )
    return properties


SCHEMAS: dict[str, Schema] = {
    "Error": closed({"code": INTEGER, "text": STRING, "message": STRING}),
    "Session": closed({"code": INTEGER, "token": STRING}),
    "Done": closed({"code": INTEGER, "text": STRING}),
    "DevKey": closed(
        {
            "id": STRING,  # strings, as the document's examples show them
            "user_id": STRING,
            "key": STRING,
            "description": STRING,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "deleted_at": TIMESTAMP,
        }
    ),
    "DevKeyCreated": closed({"code": INTEGER, "text": STRING, "data": ref("DevKey")}),
    "DevKeyList": closed({"code": INTEGER, "text": STRING, "data": array(ref("DevKey"))}),
    "UserDevKeyList": closed({"code": INTEGER, "text": STRING, "data": array({"type": "object"})}),
    "Registration": closed({name: STRING for name in XUI_FIELDS}),
    "ExtnStatus": closed({"extn": STRING, "status": STATUS}),
    "Node": closed(
        {
            "name": STRING,
            "state": {"type": "string", "enum": [state.value for state in NodeState]},
            "since": TIMESTAMP,
            "registrations": INTEGER,
        }
    ),
    "User": closed(_user()),
    "List1": closed(
        {
            "reg": closed({"row_count": INTEGER, "rows": array(ref("Registration"))}),
            "unreg": array(ref("ExtnStatus")),
            "nodes": array(ref("Node")),
        }
    ),
    "Extension": closed(_extension()),
    # dids: the DIDs routed to the extension; bridge manages none, so always [].
    "ExtensionDetail": closed({**_extension(), "login": STRING, "dids": {"type": "array", "maxItems": 0}}),
    "ExtensionPage": closed(
        {
            "rowCount": INTEGER,
            "page": INTEGER,
            "pageCount": INTEGER,
            "hpack": BOOLEAN,
            "data": array(ref("Extension")),
            "nodes": array(ref("Node")),
        }
    ),
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Schema]:
    words = {
        400: "bad parameter",
        401: "no or unknown token",
        403: 'wrong login, no permission, or (dev_keys) "Wrong Auth Id"',
        404: "not found",
        406: "missing arguments",
        429: "too many failed attempts from this address (api.max_source_failures)",
    }
    return {str(code): _json(ref("Error"), words[code]) for code in codes}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_CREDENTIALS: Schema = {
    "type": "object",
    "properties": {"login": STRING, "password": STRING},
    "required": ["login", "password"],
}
# guard/api.why: EXTN@DOMAIN, printable, at most 300 characters (ASCII stated here).
_GUARD_USER: Schema = {"type": "string", "pattern": r"^[\x20-\x3f\x41-\x7e]+@[\x20-\x7e]+$", "maxLength": 300}
_IP: Schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
# params.required_text: a string (or a number), not empty, no NUL, bounded.
_CREDENTIAL: Schema = {"oneOf": [{"type": "string", "pattern": "^[^\\x00\\ufffd]{1,256}$"}, INTEGER]}
_DEV_KEY_REQUEST: Schema = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "username": _CREDENTIAL,
                "password": _CREDENTIAL,
                "domain": _CREDENTIAL,
                "description": {**STRING, "nullable": True},
            },
            "required": ["username", "password", "domain"],
        },
        {
            "description": "with a web session's token: no credentials",
            "type": "object",
            "properties": {"description": {**STRING, "nullable": True}},
            "additionalProperties": False,
        },
    ]
}
_SECURED: list[Schema] = [{"header": []}, {"cookie": []}]

PATHS: dict[str, Schema] = {
    "/api/sessions": {
        "post": {
            "summary": "Log in: a token for X-XTRA-AUTH-ID or the freeswitch_xtra_session_id cookie",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _CREDENTIALS},
                    "application/x-www-form-urlencoded": {"schema": _CREDENTIALS},
                },
            },
            "responses": {"200": _json(ref("Session"), "logged in"), **_errors(400, 403, 406, 429)},
        },
        "delete": {
            "summary": "Log out: the presented session token stops working",
            "responses": {"200": _json(ref("Done"), "logged out"), **_errors(400, 401)},
        },
    },
    "/api/users/dev_keys": {
        "post": {
            "summary": "A permanent key: from SIP credentials it speaks only for that extension (no admin"
            " rights); with a web session's token and no credentials, with the user's rights",
            "security": [],
            # No body at all: a key with the session's user's rights.
            "requestBody": {"required": False, "content": {"application/json": {"schema": _DEV_KEY_REQUEST}}},
            "responses": {"200": _json(ref("DevKeyCreated"), "key created"), **_errors(400, 403, 406, 429)},
        },
        "get": {
            "summary": "The caller's developer keys (each key shown by its first 8 characters)",
            "responses": {"200": _json(ref("DevKeyList"), "keys"), **_errors(403)},
        },
        "delete": {
            "summary": "Delete the presented developer key, or ?id= one of the caller's keys",
            "parameters": [
                _query(
                    "id", {"type": "integer", "minimum": 1}, "a key id from GET; default: the presented key"
                )
            ],
            "responses": {
                "200": _json(ref("Done"), "deleted (code 0, as documented)"),
                **_errors(400, 403, 404, 406),
            },
        },
    },
    "/api/users/list": {
        "get": {
            "summary": "Every extension's status, or with ?extn= its user object and live registrations",
            "parameters": [_query("extn", STRING, "one extension number")],
            "responses": {
                "200": _json({"oneOf": [array(ref("ExtnStatus")), ref("User")]}, "statuses, or one user"),
                **_errors(400, 401, 403, 404),
            },
        },
    },
    "/api/users/list1": {
        "get": {
            "summary": "Live registrations and the extensions without one",
            "responses": {"200": _json(ref("List1"), "registrations"), **_errors(401, 403)},
        },
    },
    "/api/extensions": {
        "get": {
            "summary": "Extensions, paged, each with its status",
            "parameters": [
                _query("page", INTEGER, "from 1; below 1 reads as 1"),
                _query("page_size", INTEGER, "default 10, at most 1000; below 1 reads as 10"),
                _query("hpack", STRING, "echoed back as true for 1, true, t, yes or on, else false"),
                _query("extn", STRING, "exact extension number"),
                _query("name", STRING, "case-insensitive substring of the name"),
                _query("status", STATUS, "online, offline, or unknown (while a node is not in sync)"),
            ],
            "responses": {"200": _json(ref("ExtensionPage"), "one page"), **_errors(400, 401, 403)},
        }
    },
    "/api/extensions/{id}": {
        "get": {
            "summary": "One extension with its status and its owner's login",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": INTEGER}],
            "responses": {"200": _json(ref("ExtensionDetail"), "the extension"), **_errors(401, 403, 404)},
        }
    },
}

SCHEMAS.update(openapi_provision.SCHEMAS)
PATHS.update(openapi_provision.PATHS)
for _path, _methods in openapi_provision.EXTRA_METHODS.items():
    PATHS[_path].update(_methods)
SCHEMAS.update(openapi_groups.SCHEMAS)
PATHS.update(openapi_groups.PATHS)
SCHEMAS.update(openapi_import.SCHEMAS)
PATHS.update(openapi_import.PATHS)
for _path, _methods in openapi_import.EXTRA_METHODS.items():
    PATHS[_path].update(_methods)
# The registration guard's endpoints (bridge/guard/api.py, docs/guard.md).
_ID = [{"name": "id", "in": "path", "required": True, "schema": INTEGER}]
_GUARD_REPORT: Schema = {
    "type": "object",
    "required": ["user", "verdict", "attempts"],
    "properties": {
        "user": STRING,
        "verdict": closed({"ok": BOOLEAN, "says": STRING, "change": STRING}),
        "attempts": array({"type": "object"}),
    },
}
_BANS: Schema = {"type": "object", "required": ["row_count", "rows"],
                 "properties": {"row_count": INTEGER, "rows": array({"type": "object"})}}  # fmt: skip
PATHS.update(
    {
        "/api/extensions/{id}/registration_attempts": {
            "get": {
                "summary": "The extension's recent registration attempts (newest first) and the verdict",
                "parameters": _ID,
                "responses": {"200": _json(_GUARD_REPORT, "attempts"), **_errors(401, 403, 404)},
            }
        },
        "/api/guard/why": {
            "get": {
                "summary": "Attempts and verdict by user@domain",
                "parameters": [_query("user", _GUARD_USER, "EXTN@DOMAIN")],
                "responses": {"200": _json(_GUARD_REPORT, "attempts"), **_errors(400, 401, 403, 404)},
            }
        },
        "/api/guard/bans": {
            "get": {
                "summary": "Bans in force (every instance's), oldest first, paged; row_count: all in force",
                "parameters": [
                    _query("limit", INTEGER, "rows per page, default 100, at most 1000"),
                    _query("offset", INTEGER, "rows skipped, default 0"),
                ],
                "responses": {"200": _json(_BANS, "bans"), **_errors(400, 401, 403)},
            }
        },
        "/api/guard/bans/{ip}": {
            "delete": {
                "summary": "Lift every ban of an address",
                "parameters": [{"name": "ip", "in": "path", "required": True, "schema": _IP}],
                "responses": {"200": _json(_BANS, "lifted"), **_errors(400, 401, 403, 404)},
            }
        },
        "/api/guard/bans/{ip}/{bits}": {
            "delete": {
                "summary": "Lift a widened IPv6 ban (a prefix: /api/guard/bans/2001:db8:1:2::/64)",
                "parameters": [
                    {"name": "ip", "in": "path", "required": True, "schema": STRING},
                    {"name": "bits", "in": "path", "required": True, "schema": INTEGER},
                ],
                "responses": {"200": _json(_BANS, "lifted"), **_errors(400, 401, 403, 404)},
            }
        },
    }
)

# An administrator's view of any user's developer keys (bridge/api/user_keys.py).
PATHS["/api/users/{id}/dev_keys"] = {
    "get": {
        "summary": "A user's developer keys (masked), each with its rights and extension",
        "parameters": _ID,
        "responses": {"200": _json(ref("UserDevKeyList"), "keys"), **_errors(401, 403, 404)},
    },
    "delete": {
        "summary": "Revoke one of a user's developer keys (?id=), or all of them",
        "parameters": [*_ID, _query("id", INTEGER, "a key id; default: every key of the user")],
        "responses": {"200": _json({"type": "object"}, "revoked (code 0)"), **_errors(400, 401, 403, 404)},
    },
}
# The operator console's reads and stream (bridge/console/, docs/console.md).
_OBJECT: Schema = {"type": "object"}
_ROWS: Schema = {"type": "object", "required": ["row_count", "rows"],
                 "properties": {"row_count": INTEGER, "rows": array(_OBJECT)}}  # fmt: skip
_CONSOLE_READ = {"responses": {"200": _json(_OBJECT, "see docs/console.md"), **_errors(400, 401, 403)}}
PATHS.update(
    {
        "/api/events": {
            "get": {
                "summary": "The live event stream (Server-Sent Events; Last-Event-ID resumes)",
                "responses": {
                    "200": {"description": "Server-Sent Events", "content": {"text/event-stream": {}}},
                    **_errors(401, 403),
                },
            }
        },
        "/api/console/me": {"get": {"summary": "Who is logged in, their scope, CSRF token", **_CONSOLE_READ}},
        "/api/console/registrations": {
            "get": {
                "summary": "One page of live bindings (q, domain, status, node, offset, limit)",
                **_CONSOLE_READ,
            }
        },
        "/api/console/summary": {"get": {"summary": "Counters, nodes, the hour's chart", **_CONSOLE_READ}},
        "/api/console/attempts": {
            "get": {
                "summary": "The latest failed attempts",
                "responses": {"200": _json(_ROWS, "attempts"), **_errors(400, 401, 403)},
            }
        },
        "/api/console/bans": {
            "get": {
                "summary": "Bans and limits in force, in the caller's scope",
                "responses": {"200": _json(_ROWS, "bans"), **_errors(401, 403)},
            }
        },
    }
)

DOCUMENT: Schema = {
    "openapi": "3.0.3",
    "info": {
        "title": "bridge admin API (XSwitch XUI compatible)",
        "version": "1",
        "description": "Errors always answer the Error schema with the HTTP status as code.",
    },
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "header": {"type": "apiKey", "in": "header", "name": "X-XTRA-AUTH-ID"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "freeswitch_xtra_session_id"},
        },
    },
    "security": _SECURED,
    "paths": PATHS,
}


async def serve(request: web.Request) -> web.Response:
    return json_response(DOCUMENT)
