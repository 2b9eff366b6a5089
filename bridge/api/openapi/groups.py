"""The OpenAPI description of the XUI group endpoints (bridge/api/groups/manage.py, lists.py), merged
into document.DOCUMENT: the bodies with the constraints the server enforces, the answers as
groups/shapes.py prints them."""

from __future__ import annotations

from bridge.api.groups import shapes as group_shapes
from bridge.api.openapi.schema import INTEGER, STRING, TIMESTAMP, Schema, array, closed, ref

_ID_MAX = 2**31 - 1
GROUP_ID: Schema = {"type": "integer", "minimum": 0, "maximum": _ID_MAX}
ROW_ID: Schema = {"type": "integer", "minimum": 1, "maximum": _ID_MAX}
DIGITS: Schema = {"type": "string", "pattern": r"^\s*\d{1,9}\s*$"}
GROUP_REF: Schema = {"oneOf": [GROUP_ID, DIGITS]}
ROW_REF: Schema = {"oneOf": [ROW_ID, {"type": "string", "pattern": r"^\s*[1-9]\d{0,8}\s*$"}]}
SORT: Schema = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": _ID_MAX}, DIGITS]}
GROUP_TYPE: Schema = {"oneOf": [{"type": "integer", "enum": [0, 1]}, {"type": "string", "enum": ["0", "1"]}]}
PARENT: Schema = {"oneOf": [GROUP_ID, {"type": "string", "pattern": r"^(\s*\d{1,10}\s*)?$"}]}
TEXT: Schema = {"type": "string", "minLength": 1}
# A domain (validate.domain); null or "" for the caller's own.
REALM: Schema = {"type": "string", "pattern": r"^([0-9A-Za-z_.:\[\]-]{1,253})?$", "nullable": True}
DIGITS_ONLY: Schema = {"type": "string", "pattern": r"^\d+$"}


def _row() -> dict[str, Schema]:
    out: dict[str, Schema] = {c: STRING for c in (*group_shapes.ROW_NUMBERS, *group_shapes.ROW_TEXTS)}
    out.update({c: TIMESTAMP for c in group_shapes.ROW_TIMES})
    return out


def _done(data: Schema) -> Schema:
    return closed({"code": INTEGER, "data": data, "message": STRING})


# A whole users or extensions row with every value a string (groups/lists.text_row).
_TEXT_ROW: Schema = {"type": "object", "additionalProperties": STRING}

SCHEMAS: dict[str, Schema] = {
    "GroupRow": closed(_row()),
    "GroupTreeRow": closed({**_row(), "spaces": STRING}),
    "GroupPage": closed(
        {"page": INTEGER, "rowCount": INTEGER, "data": array(ref("GroupRow")), "pageCount": INTEGER}
    ),
    "GroupList": closed(
        {
            "pageCount": INTEGER,
            "data": array(
                closed({k: STRING for k in ("name", "value", "group_type", "id", "group_id", "realm")})
            ),
            "rowCount": INTEGER,
            "page": INTEGER,
        }
    ),
    "Group": closed(
        {
            "created_at": TIMESTAMP,
            "name": STRING,
            "realm": STRING,
            "description": STRING,
            "sort": INTEGER,
            "deleted_at": TIMESTAMP,
            "id": INTEGER,
            "updated_at": TIMESTAMP,
            "level": INTEGER,
            "group_type": INTEGER,
        }
    ),
    "GroupOption": closed({k: STRING for k in ("id", "name", "realm", "value")}),
    "GroupOtherOption": closed({"value": INTEGER, "name": STRING}),
    "GroupMember": closed(
        {k: STRING for k in ("group_id", "user_id", "id", "domain", "sort", "name", "extn")}
    ),
    "GroupExtn": closed({k: STRING for k in ("extn_id", "sort", "domain", "group_id", "id", "name", "extn")}),
    "TextRowPage": closed(
        {"page": INTEGER, "rowCount": INTEGER, "pageCount": INTEGER, "data": array(_TEXT_ROW)}
    ),
    "GroupUsersExtnPage": closed(
        {"page": INTEGER, "rowCount": DIGITS_ONLY, "pageCount": INTEGER, "data": array(_TEXT_ROW)}
    ),
    "GroupUser": closed(
        {k: STRING for k in ("groupName", "userID", "userDomain", "userExten", "groupID", "userName")}
    ),
    "GroupWithUsers": closed({"name": STRING, "children": array(_TEXT_ROW), "id": STRING}),
    "GroupsDragged": _done(closed({"end_id": STRING, "start_id": STRING})),
    "GroupMembersAdded": _done(array(closed({"user_id": STRING, "group_id": GROUP_REF, "sort": INTEGER}))),
    "GroupExtnsAdded": _done(array(closed({"extn_id": STRING, "group_id": GROUP_REF, "sort": INTEGER}))),
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Schema]:
    words = {
        400: "a field breaks a rule (the reason names it), or the body is not JSON",
        401: "no or unknown token",
        403: "no permission: not an admin, or a realm outside the caller's domain",
        404: "no such group (or outside the caller's realm)",
        406: "Missing Args: the required field named",
        409: "a group of that name exists in the realm",
        413: "body larger than http.max_body_bytes",
    }
    return {str(code): _json(ref("Error"), words[code]) for code in codes}


def _body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _object(properties: dict[str, Schema], required: list[str]) -> Schema:
    # additionalProperties false: an unknown key is refused by name (400).
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _members_body(kind: str) -> Schema:
    row = _object({"group_id": GROUP_REF, kind: ROW_REF, "sort": SORT}, ["group_id", kind])
    return _body({**array(row), "minItems": 1})


def _path(*names: str) -> list[Schema]:
    return [{"name": name, "in": "path", "required": True, "schema": GROUP_ID} for name in names]


_READ_ONLY: dict[str, Schema] = {
    "id": {},
    "created_at": STRING,
    "updated_at": STRING,
    "value": {},
    "spaces": STRING,
}
_READ = (401, 403)
# params.query_int: a 32-bit integer, else 400.
_PAGE_NUMBER: Schema = {"type": "integer", "minimum": -_ID_MAX, "maximum": _ID_MAX}
# group_lists._paging: below 1 reads as 1 (page) or 1000 (perPage); above 1000 as 1000.
_PAGING = [
    {"name": "page", "in": "query", "required": False, "schema": _PAGE_NUMBER, "description": "below 1: 1"},
    {
        "name": "perPage",
        "in": "query",
        "required": False,
        "schema": _PAGE_NUMBER,
        "description": "default 1000; below 1 or above 1000 reads as 1000",
    },
]
_WRITE = (400, 401, 403, 404, 406, 413)
_DONE = _json(_done(STRING), "data: the id, as a string")


def _get(summary: str, schema: Schema, *errors: int, parameters: list[Schema] | None = None) -> Schema:
    out: Schema = {
        "summary": summary,
        "responses": {"200": _json(schema, "the answer"), **_errors(*_READ, *errors)},
    }
    if parameters:
        out["parameters"] = parameters
    return out


PATHS: dict[str, Schema] = {
    "/api/groups": {
        "get": _get("Every group of the caller's realm (all realms for a super user)", ref("GroupList")),
        "post": {
            "summary": "Create a group: group_type 0 (users) or 1 (extensions), under group_id (same realm"
            " and type; level = its level + 1); a name is unique in its realm",
            "requestBody": _body(
                _object(
                    {
                        "name": TEXT,
                        "description": STRING,
                        "group_type": GROUP_TYPE,
                        "group_id": PARENT,
                        "sort": SORT,
                        "realm": REALM,
                        "level": {},
                    },
                    ["name"],
                )
            ),
            "responses": {"200": _DONE, **_errors(*_WRITE, 409)},
        },
    },
    "/api/groups/extn_group": {"get": _get("The extension groups (group_type 1)", ref("GroupPage"))},
    "/api/groups/user_group": {"get": _get("The user groups (group_type 0)", ref("GroupPage"))},
    "/api/groups/build_group_tree": {
        "get": _get("The user groups, parents before children", array(ref("GroupTreeRow")))
    },
    "/api/groups/build_group_options_tree": {
        "get": _get("User groups as options", array(ref("GroupOption")))
    },
    "/api/groups/build_group_options_tree_extn": {
        "get": _get("Extension groups as options", array(ref("GroupOption")))
    },
    "/api/groups/build_group_options_tree/{id}": {
        "get": _get(
            "Every group of its realm but :id and its subgroups",
            array(ref("GroupOtherOption")),
            404,
            parameters=_path("id"),
        )
    },
    "/api/groups/members": {
        "post": {
            "summary": "Add users to user groups (all rows or none); a user of the group's realm",
            "requestBody": _members_body("user_id"),
            "responses": {"200": _json(ref("GroupMembersAdded"), "the rows added"), **_errors(*_WRITE)},
        }
    },
    "/api/groups/extns": {
        "post": {
            "summary": "Add extensions to extension groups (all rows or none); group_call rings them",
            "requestBody": _members_body("extn_id"),
            "responses": {"200": _json(ref("GroupExtnsAdded"), "the rows added"), **_errors(*_WRITE)},
        }
    },
    "/api/groups/members/{group_id}": {
        "delete": {
            "summary": "Remove every user of a user group",
            "parameters": _path("group_id"),
            "responses": {"200": _DONE, **_errors(400, 401, 403, 404)},
        }
    },
    "/api/groups/members/{group_id}/{member_id}": {
        "delete": {
            "summary": "Remove one user (member_id: the user's id) from a user group",
            "parameters": _path("group_id", "member_id"),
            "responses": {"200": _DONE, **_errors(400, 401, 403, 404)},
        }
    },
    "/api/groups/extns/{group_id}": {
        "delete": {
            "summary": "Remove every extension of an extension group",
            "parameters": _path("group_id"),
            "responses": {"200": _DONE, **_errors(400, 401, 403, 404)},
        }
    },
    "/api/groups/extns/{group_id}/{member_id}": {
        "delete": {
            "summary": "Remove one extension (member_id: the extension's id) from an extension group",
            "parameters": _path("group_id", "member_id"),
            "responses": {"200": _DONE, **_errors(400, 401, 403, 404)},
        }
    },
    "/api/groups/{id}": {
        "get": _get("One group", ref("Group"), 404, parameters=_path("id")),
        "put": {
            "summary": "Change name, description, sort, group_id (move, not under itself); realm, group_type"
            " and level only as stored",
            "parameters": _path("id"),
            "requestBody": _body(
                _object(
                    {
                        "name": TEXT,
                        "description": STRING,
                        "sort": SORT,
                        "group_id": PARENT,
                        "realm": {**STRING, "nullable": True},
                        "group_type": GROUP_TYPE,
                        "level": {},
                        "deleted_at": {"type": "string", "maxLength": 0},
                        **_READ_ONLY,
                    },
                    [],
                )
            ),
            "responses": {"200": _DONE, **_errors(*_WRITE, 409)},
        },
        "delete": {
            "summary": "Delete a group (deleted_at), its subgroups and their memberships",
            "parameters": _path("id"),
            "responses": {"200": _DONE, **_errors(401, 403, 404)},
        },
    },
    "/api/groups/{id}/members": {
        "get": _get("The users of a user group", array(ref("GroupMember")), 404, parameters=_path("id")),
        "put": {
            "summary": "Set a membership's sort (id: the membership's id as GET answers it)",
            "parameters": _path("id"),
            "requestBody": _body(
                _object(
                    {
                        "id": ROW_REF,
                        "sort": SORT,
                        "name": STRING,
                        "group_id": {},
                        "user_id": {},
                        "extn_id": {},
                        "domain": STRING,
                        "extn": STRING,
                    },
                    ["id", "sort"],
                )
            ),
            "responses": {"200": _DONE, **_errors(*_WRITE)},
        },
    },
    "/api/groups/{id}/extns": {
        "get": _get(
            "The extensions of an extension group", array(ref("GroupExtn")), 404, parameters=_path("id")
        )
    },
    "/api/groups/group_users": {"get": _get("Every (user group, user) pair", array(ref("GroupUser")))},
    "/api/groups/group_all/group_users": {
        "get": _get("Each user group with its users (whole rows, strings)", array(ref("GroupWithUsers")))
    },
    "/api/groups/drag/{start_id}/{end_id}": {
        "put": {
            "summary": "Put group start_id where end_id is among their parent's groups (sort renumbered)",
            "parameters": _path("start_id", "end_id"),
            "responses": {"200": _json(ref("GroupsDragged"), "the two ids"), **_errors(400, 401, 403, 404)},
        }
    },
    "/api/groups/{id}/remain_members": {
        "get": _get(
            "The realm's users not in the group (whole rows, strings, secrets blank)",
            ref("TextRowPage"),
            400,
            404,
            parameters=[*_path("id"), *_PAGING],
        )
    },
    "/api/groups/{id}/remain_extns": {
        "get": _get(
            "The realm's extensions not in the group (whole rows, strings, secrets blank)",
            ref("TextRowPage"),
            400,
            404,
            parameters=[*_path("id"), *_PAGING],
        )
    },
    "/api/groups/{id}/users": {
        "get": _get(
            "The group's users (whole rows, strings, secrets blank)",
            array(_TEXT_ROW),
            404,
            parameters=_path("id"),
        )
    },
    "/api/groups/{id}/users/extn": {
        "get": _get(
            "The group's extensions (whole rows, strings, secrets blank)",
            ref("TextRowPage"),
            400,
            404,
            parameters=[*_path("id"), *_PAGING],
        )
    },
    "/api/groups/{id}/group_users/extn": {
        "get": _get(
            "The extensions of the group's users, with user_login and user_name (whole rows, strings,"
            " secrets blank; rowCount a string, as the document's example)",
            ref("GroupUsersExtnPage"),
            400,
            404,
            parameters=[*_path("id"), *_PAGING],
        )
    },
    "/api/groups/{id}/member": {
        "post": {
            "summary": "Add one member: user_id to a user group, extn_id to an extension group",
            "parameters": _path("id"),
            "requestBody": _body(
                # user_id for a group of users, extn_id for one of extensions: never both
                {
                    "oneOf": [
                        _object({"user_id": ROW_REF, "sort": SORT, "group_id": GROUP_REF}, ["user_id"]),
                        _object({"extn_id": ROW_REF, "sort": SORT, "group_id": GROUP_REF}, ["extn_id"]),
                    ]
                }
            ),
            "responses": {"200": _json(_done(INTEGER), "data: the membership's id"), **_errors(*_WRITE)},
        }
    },
}
