"""The group endpoints that list whole user or extension rows, and the drag of a group
("分组管理"). Their document examples print each row as the table's columns, every value
a string ("0", "f", ""): bridge prints them so, with secrets blank (``password``, ``salt``,
``sha1``, ``ha1``, ``ha1b`` are "": the document shows plaintext passwords here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from bridge.api import params, shapes
from bridge.api.edge import EdgeRoutes
from bridge.api.groups import store
from bridge.api.groups.manage import managed_group, path_number
from bridge.api.provision.shapes import done
from bridge.api.provision.shared import admin, changed, counted, write_timeout
from bridge.api.respond import json_response
from bridge.api.scope import Scope
from bridge.api.validate import Invalid
from bridge.api.writes import transaction
from bridge.keys import DATABASE

SECRETS = frozenset(("password", "salt", "sha1", "ha1", "ha1b"))
MAX_PAGE_SIZE = 1000


def text_row(row: Mapping[str, Any]) -> dict[str, str]:
    """A row as the document's list examples print it: every value a string."""
    out: dict[str, str] = {}
    for column, value in row.items():
        if column in SECRETS or value is None:
            out[column] = ""
        elif isinstance(value, bool):
            out[column] = "t" if value else "f"
        elif isinstance(value, datetime):
            out[column] = value.strftime("%Y-%m-%d %H:%M:%S")
        elif isinstance(value, dict | list):
            out[column] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            out[column] = str(value)
    return out


def _paging(request: web.Request) -> shapes.Page:
    page = max(1, params.query_int(request, "page", 1))
    size = params.query_int(request, "perPage", MAX_PAGE_SIZE)
    return shapes.Page(page=page, size=MAX_PAGE_SIZE if size < 1 else min(size, MAX_PAGE_SIZE))


def _page(rows: Iterable[Mapping[str, Any]], total: int, paging: shapes.Page) -> dict[str, Any]:
    return {
        "page": paging.page,
        "rowCount": total,
        "pageCount": paging.count(total),
        "data": list(map(text_row, rows)),
    }


# Rows of the group's realm (every realm for a group without one), live, in or out of the group.
_USERS = """
SELECT u.* FROM users u
WHERE u.deleted_at IS NULL AND ($2::text IS NULL OR u.domain = $2)
  AND (u.id IN (SELECT user_id FROM group_members WHERE group_id = $1)) = $3
"""
_EXTENSIONS = """
SELECT e.* FROM extensions e
WHERE e.deleted_at IS NULL AND ($2::text IS NULL OR e.domain = $2)
  AND (e.id IN (SELECT extn_id FROM group_extns WHERE group_id = $1)) = $3
"""


async def _rows(
    request: web.Request, scope: Scope, query: str, member: bool, paging: shapes.Page
) -> tuple[int, list[asyncpg.Record]]:
    db, group_id = request.config_dict[DATABASE], path_number(request)
    group = await managed_group(db, scope, group_id)
    realm = group["realm"] or scope.domains
    total = await db.fetchval(f"SELECT count(*) FROM ({query}) AS q", group_id, realm, member)
    rows = await db.fetch(
        f"{query} ORDER BY 1 LIMIT $4 OFFSET $5", group_id, realm, member, paging.size, paging.offset
    )
    return int(total), rows


async def remain_members(request: web.Request) -> web.Response:
    """GET /api/groups/:id/remain_members: the realm's users not in the group (the document's
    example prints extension rows here; bridge answers the users the path names)."""
    scope, paging = await admin(request), _paging(request)
    total, rows = await _rows(request, scope, _USERS, False, paging)
    return json_response(_page(rows, total, paging))


async def remain_extns(request: web.Request) -> web.Response:
    scope, paging = await admin(request), _paging(request)
    total, rows = await _rows(request, scope, _EXTENSIONS, False, paging)
    return json_response(_page(rows, total, paging))


async def member_extensions(request: web.Request) -> web.Response:
    """GET /api/groups/:id/users/extn: the group's extensions, whole rows."""
    scope, paging = await admin(request), _paging(request)
    total, rows = await _rows(request, scope, _EXTENSIONS, True, paging)
    return json_response(_page(rows, total, paging))


async def member_users(request: web.Request) -> web.Response:
    """GET /api/groups/:id/users: the group's users, whole rows (unpaged, as documented)."""
    scope, paging = await admin(request), shapes.Page(page=1, size=MAX_PAGE_SIZE)
    _, rows = await _rows(request, scope, _USERS, True, paging)
    return json_response([text_row(row) for row in rows])


# The extensions owned by a user group's members, each with its owner's login and name.
_MEMBERS_EXTENSIONS = """
SELECT e.*, u.login AS user_login, u.name AS user_name
FROM extensions e JOIN users u ON u.id = e.user_id
WHERE e.deleted_at IS NULL AND u.deleted_at IS NULL AND ($2::text IS NULL OR e.domain = $2)
  AND u.id IN (SELECT user_id FROM group_members WHERE group_id = $1)
"""


async def member_users_extensions(request: web.Request) -> web.Response:
    """GET /api/groups/:id/group_users/extn: the extensions of the group's users (a user
    group's members), whole rows plus ``user_login`` and ``user_name``, paged. ``rowCount``
    is a string here, as this endpoint's example prints it ("4"; /users/extn prints 1)."""
    scope, paging = await admin(request), _paging(request)
    db, group_id = request.config_dict[DATABASE], path_number(request)
    group = await managed_group(db, scope, group_id)
    realm = group["realm"] or scope.domains
    total = await db.fetchval(f"SELECT count(*) FROM ({_MEMBERS_EXTENSIONS}) AS q", group_id, realm)
    rows = await db.fetch(
        f"{_MEMBERS_EXTENSIONS} ORDER BY e.id LIMIT $3 OFFSET $4", group_id, realm, paging.size, paging.offset
    )
    answer = _page(rows, int(total), paging)
    return json_response({**answer, "rowCount": str(answer["rowCount"])})


_GROUP_USERS = """
SELECT g.id AS group_id, g.name AS group_name, u.*
FROM groups g JOIN group_members m ON m.group_id = g.id JOIN users u ON u.id = m.user_id
WHERE g.deleted_at IS NULL AND u.deleted_at IS NULL AND g.group_type = 0
  AND ($1::text IS NULL OR g.realm = $1)
ORDER BY g.id, m.sort, u.id
"""


async def group_users(request: web.Request) -> web.Response:
    """GET /api/groups/group_users: every (user group, user) pair."""
    scope = await admin(request)
    rows = await request.config_dict[DATABASE].fetch(_GROUP_USERS, scope.domains)
    return json_response(
        [
            {
                "groupName": str(r["group_name"] or ""),
                "userID": str(r["id"]),
                "userDomain": str(r["domain"] or ""),
                "userExten": str(r["extn"] or ""),
                "groupID": str(r["group_id"]),
                "userName": str(r["name"] or ""),
            }
            for r in rows
        ]
    )


async def all_group_users(request: web.Request) -> web.Response:
    """GET /api/groups/group_all/group_users: each user group with its users as children."""
    scope = await admin(request)
    db = request.config_dict[DATABASE]
    groups = await store.visible(db, scope.domains, store.USERS)
    children: dict[int, list[dict[str, str]]] = {int(g["id"]): [] for g in groups}
    for row in await db.fetch(_GROUP_USERS, scope.domains):
        user = {k: v for k, v in row.items() if k not in ("group_id", "group_name")}
        children[int(row["group_id"])].append(text_row(user))
    return json_response(
        [{"name": str(g["name"]), "children": children[int(g["id"])], "id": str(g["id"])} for g in groups]
    )


@counted
async def drag(request: web.Request) -> web.Response:
    """PUT /api/groups/drag/:start_id/:end_id: put group start_id where end_id is among their
    parent's groups (both under the same parent); the groups between shift by one."""
    scope = await admin(request)
    start, end = path_number(request, "start_id"), path_number(request, "end_id")
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        first = await managed_group(conn, scope, start, lock=True)
        target = await managed_group(conn, scope, end, lock=True)
        if (first["group_id"], first["realm"]) != (target["group_id"], target["realm"]):
            raise Invalid("end_id: not a group under the same parent")
        siblings = await conn.fetch(
            "SELECT id FROM groups WHERE deleted_at IS NULL AND realm IS NOT DISTINCT FROM $1"
            " AND group_id IS NOT DISTINCT FROM $2 ORDER BY coalesce(sort, 0), id FOR UPDATE",
            first["realm"],
            first["group_id"],
        )
        ids = [int(row["id"]) for row in siblings]
        order = [group for group in ids if group != start]
        if start == end:  # dropped onto itself: the order stays
            order = ids
        else:
            order.insert(order.index(end) + (1 if ids.index(start) < ids.index(end) else 0), start)
        await conn.execute(
            "UPDATE groups g SET sort = k.sort, updated_at = now()"
            " FROM unnest($1::int[]) WITH ORDINALITY AS k(id, sort)"
            " WHERE g.id = k.id AND g.sort IS DISTINCT FROM k.sort",
            order,
        )
    changed(request, scope, "groups", "sorted", order)
    return json_response(done({"end_id": str(end), "start_id": str(start)}))


def add_routes(router: EdgeRoutes) -> None:
    gid = r"{id:\d{1,18}}"
    router.add_get("/groups/group_users", group_users)
    router.add_get("/groups/group_all/group_users", all_group_users)
    router.add_put(r"/groups/drag/{start_id:\d{1,18}}/{end_id:\d{1,18}}", drag)
    router.add_get(f"/groups/{gid}/remain_members", remain_members)
    router.add_get(f"/groups/{gid}/remain_extns", remain_extns)
    router.add_get(f"/groups/{gid}/users", member_users)
    router.add_get(f"/groups/{gid}/users/extn", member_extensions)
    router.add_get(f"/groups/{gid}/group_users/extn", member_users_extensions)
