"""XUI groups through the XUI API ("分组管理"): groups of users (group_type 0) and groups of
extensions (group_type 1), nested by ``group_id``; what ``group_call`` rings
(bridge/directory/groups.py, docs/directory.md "Groups").

A super user sees every group; a domain admin only the groups of its realm, and adds
only members of that realm. Everyone else: 403, as for the other provisioning endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from aiohttp import web

from bridge.api import round_trip, validate
from bridge.api.edge import EdgeRoutes
from bridge.api.groups import shapes as shaped
from bridge.api.groups import store
from bridge.api.provision.shapes import done
from bridge.api.provision.shared import admin, body, changed, counted, limits, object_body, write_timeout
from bridge.api.respond import json_response
from bridge.api.scope import Scope
from bridge.api.validate import Invalid, Limits, TooMany
from bridge.api.writes import Conflict, transaction
from bridge.errors import NotFound
from bridge.keys import DATABASE
from bridge.xui_values import timestamp

MAX_ID = 2**31 - 1
MAX_SORT = 2**31 - 1
# Keys of GET /api/groups/:id (and of the list rows) a PUT may send back unchanged.
_READ_ONLY = ("id", "created_at", "updated_at", "value", "spaces")


def path_number(request: web.Request, name: str = "id") -> int:
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise NotFound("not found")
    return value


def _group_ref(value: Any, field: str) -> int:
    # Group ids start at 0 in XUI ("All Users"), so 0 is an id, not "none".
    return validate.integer(value, field, 0, MAX_ID)


async def managed_group(conn: Any, scope: Scope, group_id: int, lock: bool = False) -> asyncpg.Record:
    row = await store.one(conn, group_id, scope.domains, lock)
    if row is None:
        raise NotFound("not found")
    return row


# Reads ---------------------------------------------------------------------------------


async def list_groups(request: web.Request) -> web.Response:
    scope = await admin(request)
    rows = await store.visible(request.config_dict[DATABASE], scope.domains)
    return json_response(shaped.listed(shaped.in_tree_order(rows)))


async def get_group(request: web.Request) -> web.Response:
    scope = await admin(request)
    return json_response(
        shaped.one(await managed_group(request.config_dict[DATABASE], scope, path_number(request)))
    )


async def typed_page(request: web.Request, group_type: int) -> web.Response:
    scope = await admin(request)
    rows = await store.visible(request.config_dict[DATABASE], scope.domains, group_type)
    return json_response(shaped.page(shaped.in_tree_order(rows)))


async def extn_groups(request: web.Request) -> web.Response:
    return await typed_page(request, store.EXTENSIONS)


async def user_groups(request: web.Request) -> web.Response:
    return await typed_page(request, store.USERS)


async def user_group_tree(request: web.Request) -> web.Response:
    scope = await admin(request)
    rows = await store.visible(request.config_dict[DATABASE], scope.domains, store.USERS)
    return json_response(shaped.tree(rows))


async def user_group_options(request: web.Request) -> web.Response:
    scope = await admin(request)
    rows = await store.visible(request.config_dict[DATABASE], scope.domains, store.USERS)
    return json_response(shaped.options(rows))


async def extn_group_options(request: web.Request) -> web.Response:
    scope = await admin(request)
    rows = await store.visible(request.config_dict[DATABASE], scope.domains, store.EXTENSIONS)
    return json_response(shaped.options(rows))


async def other_group_options(request: web.Request) -> web.Response:
    """Every group but :id and its subgroups (the parents :id may move under)."""
    scope = await admin(request)
    db, group_id = request.config_dict[DATABASE], path_number(request)
    group = await managed_group(db, scope, group_id)
    below = set(await store.subtree(db, group_id))
    rows = [g for g in await store.visible(db, group["realm"]) if g["id"] not in below]
    return json_response(shaped.other_options(rows))


async def group_members(request: web.Request) -> web.Response:
    scope = await admin(request)
    db, group_id = request.config_dict[DATABASE], path_number(request)
    await managed_group(db, scope, group_id)
    return json_response(shaped.members(await store.user_members(db, group_id)))


async def group_extns(request: web.Request) -> web.Response:
    scope = await admin(request)
    db, group_id = request.config_dict[DATABASE], path_number(request)
    await managed_group(db, scope, group_id)
    return json_response(shaped.extns(await store.extension_members(db, group_id)))


# Groups --------------------------------------------------------------------------------


def _group_type(value: Any) -> int:
    return validate.integer(value, "group_type", store.USERS, store.EXTENSIONS)


async def _parent(
    conn: asyncpg.Connection, scope: Scope, value: Any, realm: str | None, group_type: int
) -> tuple[str | None, int]:
    """(groups.group_id, level) under ``value``: "" or null is the top level."""
    if value in (None, ""):
        return None, 0
    parent = await store.one(conn, _group_ref(value, "group_id"), scope.domains)
    if parent is None or parent["realm"] != realm:
        raise Invalid("group_id: no such group in this realm")
    if parent["group_type"] != group_type:
        raise Invalid("group_id: the parent group has another group_type")
    return str(parent["id"]), int(parent["level"] or 0) + 1


@counted
async def create_group(request: web.Request) -> web.Response:
    """POST /api/groups: name (required), description, group_type (0 users, 1 extensions),
    group_id (the parent), sort, realm (the caller's domain by default)."""
    scope = await admin(request)
    fields, bound = await object_body(request), limits(request)
    _refuse_unknown(fields, ("name", "description", "group_type", "group_id", "sort", "realm", "level"))
    name = validate.text(validate.required(fields, "name"), "name", bound)
    realm = scope.domain_for(
        _optional(fields, "realm", lambda v: validate.domain(_text_only(v, "realm"), bound))
    )
    group_type = _group_type(fields.get("group_type", store.USERS))
    values: dict[str, Any] = {"name": name, "realm": realm, "group_type": group_type}
    values["description"] = _optional(fields, "description", lambda v: validate.text(v, "description", bound))
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        await _lock_realm(conn, realm)
        if await store.name_taken(conn, realm, name):
            raise Conflict(f"name: a group {name} exists in {realm}")
        values["group_id"], values["level"] = await _parent(
            conn, scope, fields.get("group_id"), realm, group_type
        )
        _same(fields, "level", values["level"])
        values["sort"] = _sort(fields, 0)
        row = await store.insert(conn, values)
    changed(request, scope, "groups", "created", [row["id"]], detail=f"name={name!r} realm={realm!r}")
    return json_response(done(str(row["id"])))


@counted
async def update_group(request: web.Request) -> web.Response:
    """PUT /api/groups/:id: name, description, sort, group_id (move); the read-only keys of
    its GET are accepted when unchanged, refused by name otherwise."""
    scope = await admin(request)
    group_id, fields, bound = path_number(request), await object_body(request), limits(request)
    _refuse_unknown(
        fields, ("name", "description", "sort", "group_id", "level", "realm", "group_type", "deleted_at")
    )
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        current = await managed_group(conn, scope, group_id, lock=True)
        await _lock_realm(conn, current["realm"])
        values = _group_changes(current, fields, bound)
        if "name" in values and await store.name_taken(conn, current["realm"], values["name"], group_id):
            raise Conflict(f"name: a group {values['name']} exists in {current['realm']}")
        level = int(current["level"] or 0)
        if "group_id" in fields and _text(fields["group_id"]).strip() != _text(current["group_id"]):
            values["group_id"], level = await _parent(
                conn, scope, fields["group_id"], current["realm"], current["group_type"]
            )
            if values["group_id"] is not None and int(values["group_id"]) in await store.subtree(
                conn, group_id
            ):
                raise Invalid("group_id: a group cannot move under itself or its subgroups")
        _same(fields, "level", level)
        await store.update(conn, group_id, values)
        await store.relevel(conn, group_id, level)
    changed(request, scope, "groups", "updated", [group_id], detail=f"columns={','.join(sorted(values))}")
    return json_response(done(str(group_id)))


def _group_changes(current: Mapping[str, Any], fields: Mapping[str, Any], bound: Limits) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if fields.get("name") is not None:
        values["name"] = validate.text(fields["name"], "name", bound)
    if "description" in fields:
        values["description"] = _optional(
            fields, "description", lambda v: validate.text(v, "description", bound)
        )
    if fields.get("sort") not in (None, ""):
        values["sort"] = _sort(fields, 0)
    _same(fields, "realm", current["realm"])
    _same(fields, "group_type", current["group_type"])
    # GET then PUT: created_at as stored; updated_at moves with every write, any timestamp.
    _same(fields, "created_at", timestamp(current["created_at"]))
    round_trip.check_timestamps(fields, ("updated_at",))
    if fields.get("deleted_at") not in (None, ""):
        raise Invalid("deleted_at: read-only (DELETE /api/groups/:id deletes a group)")
    return values


@counted
async def delete_group(request: web.Request) -> web.Response:
    """DELETE /api/groups/:id: the group, its subgroups and all their memberships."""
    scope = await admin(request)
    group_id = path_number(request)
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        await managed_group(conn, scope, group_id, lock=True)
        ids = await store.subtree(conn, group_id)
        await store.delete(conn, ids)
    changed(request, scope, "groups", "deleted", sorted(ids))
    return json_response(done(str(group_id)))


# Members -------------------------------------------------------------------------------


async def _add(
    conn: asyncpg.Connection, scope: Scope, group: Mapping[str, Any], member: int, sort: int | None
) -> tuple[int, int]:
    """Add ``member`` to ``group`` (a user to a user group, an extension to an extension
    group, of the group's realm); returns its sort and the membership's id."""
    kind = "extn_id" if group["group_type"] == store.EXTENSIONS else "user_id"
    row = await store.live_member(conn, group["group_type"], member)
    if row is None or not scope.may_manage(row["domain"]):
        raise Invalid(f"{kind}: no such {'extension' if kind == 'extn_id' else 'user'} {member}")
    if group["realm"] not in (None, "") and row["domain"] != group["realm"]:
        raise Invalid(f"{kind}: {member} is in domain {row['domain']}, the group in {group['realm']}")
    if sort is None:
        sort = await store.next_sort(conn, group["group_type"], group["id"])
    return sort, await store.add_member(conn, group["group_type"], group["id"], member, sort)


async def _add_rows(request: web.Request, group_type: int, kind: str) -> web.Response:
    """POST /api/groups/members and /api/groups/extns: ``[{group_id, user_id|extn_id, sort?}]``."""
    scope = await admin(request)
    rows, bound = await body(request), limits(request)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise Invalid("body must be a non-empty array of objects")
    if len(rows) > bound.max_rows:
        raise TooMany(f"body: {len(rows)} rows, at most {bound.max_rows} in one request")
    answer, touched = [], set()
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        for i, fields in enumerate(rows):
            _refuse_unknown(fields, ("group_id", kind, "sort"), row=i)
            group = await managed_group(
                conn, scope, _group_ref(validate.required(fields, "group_id"), f"[{i}].group_id")
            )
            if group["group_type"] != group_type:
                raise Invalid(f"[{i}].group_id: group {group['id']} is not a group of {_KINDS[group_type]}")
            member = validate.row_id(validate.required(fields, kind), f"[{i}].{kind}")
            sort, _ = await _add(conn, scope, group, member, _sort(fields, None))
            touched.add(int(group["id"]))
            answer.append({kind: str(fields[kind]), "group_id": fields["group_id"], "sort": sort})
    changed(request, scope, _TABLES[group_type], "added", sorted(touched), detail=f"rows={len(rows)}")
    return json_response(done(answer))


_KINDS = {store.USERS: "users", store.EXTENSIONS: "extensions"}
_TABLES = {store.USERS: "group_members", store.EXTENSIONS: "group_extns"}


@counted
async def add_members(request: web.Request) -> web.Response:
    return await _add_rows(request, store.USERS, "user_id")


@counted
async def add_extns(request: web.Request) -> web.Response:
    return await _add_rows(request, store.EXTENSIONS, "extn_id")


@counted
async def add_member(request: web.Request) -> web.Response:
    """POST /api/groups/:id/member: ``{"user_id": N}`` (user group) or ``{"extn_id": N}``;
    answers the membership's id (a number, as the document's example)."""
    scope = await admin(request)
    group_id, fields = path_number(request), await object_body(request)
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        group = await managed_group(conn, scope, group_id, lock=True)
        kind = "extn_id" if group["group_type"] == store.EXTENSIONS else "user_id"
        _refuse_unknown(fields, (kind, "sort", "group_id"))
        _same(fields, "group_id", group_id)
        member = validate.row_id(validate.required(fields, kind), kind)
        _, row_id = await _add(conn, scope, group, member, _sort(fields, None))
    changed(request, scope, _TABLES[group["group_type"]], "added", [group_id], detail=f"{kind}={member}")
    return json_response(done(row_id))  # the membership's id, as GET .../members answers it


@counted
async def update_member(request: web.Request) -> web.Response:
    """PUT /api/groups/:id/members: ``{"id": membership, "sort": N}``, ``id`` as GET
    .../members and .../extns answer it; ``name`` only unchanged (it is the user's or the
    extension's own name, changed there)."""
    scope = await admin(request)
    group_id, fields = path_number(request), await object_body(request)
    _refuse_unknown(fields, ("id", "sort", "name", "group_id", "extn_id", "user_id", "domain", "extn"))
    row_id = validate.row_id(validate.required(fields, "id"), "id")
    sort = validate.integer(validate.required(fields, "sort"), "sort", 0, MAX_SORT)
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        group = await managed_group(conn, scope, group_id, lock=True)
        found = await store.membership(conn, group["group_type"], group_id, row_id)
        if found is None:
            raise NotFound(f"id: no membership {row_id} in group {group_id}")
        kind, other = (
            ("extn_id", "user_id") if group["group_type"] == store.EXTENSIONS else ("user_id", "extn_id")
        )
        _same(fields, kind, found["member"])
        _same(fields, other, None)  # not a key of this group's rows: only empty
        _same(fields, "group_id", group_id)
        member = await store.live_member(conn, group["group_type"], found["member"])
        if member is not None:  # the member's own columns, changed on the member, never here
            for key in ("name", "domain", "extn"):
                _same(fields, key, member[key])
        await store.set_sort(conn, group["group_type"], row_id, sort)
    changed(
        request, scope, _TABLES[group["group_type"]], "updated", [group_id], detail=f"membership={row_id}"
    )
    return json_response(done(str(row_id)))


async def _remove(request: web.Request, group_type: int, member: int | None) -> web.Response:
    scope = await admin(request)
    group_id = path_number(request, "group_id")
    async with transaction(request.config_dict[DATABASE], write_timeout(request)) as conn:
        group = await managed_group(conn, scope, group_id, lock=True)
        if group["group_type"] != group_type:
            raise Invalid(f"group_id: group {group_id} is not a group of {_KINDS[group_type]}")
        removed = await store.remove_members(conn, group_type, group_id, member)
    if member is not None and not removed:
        raise NotFound(f"member_id: {member} is not a member of group {group_id}")
    changed(request, scope, _TABLES[group_type], "removed", [group_id], detail=f"rows={removed}")
    return json_response(done(str(group_id if member is None else member)))


@counted
async def remove_all_members(request: web.Request) -> web.Response:
    return await _remove(request, store.USERS, None)


@counted
async def remove_member(request: web.Request) -> web.Response:
    return await _remove(request, store.USERS, path_number(request, "member_id"))


@counted
async def remove_all_extns(request: web.Request) -> web.Response:
    return await _remove(request, store.EXTENSIONS, None)


@counted
async def remove_extn(request: web.Request) -> web.Response:
    return await _remove(request, store.EXTENSIONS, path_number(request, "member_id"))


# Helpers -------------------------------------------------------------------------------


def _refuse_unknown(fields: Mapping[str, Any], known: tuple[str, ...], row: int | None = None) -> None:
    for key in fields:
        if key not in known and key not in _READ_ONLY:
            where = key if row is None else f"[{row}].{key}"
            raise Invalid(f"{where}: not a group field bridge can set")


def _same(fields: Mapping[str, Any], key: str, stored: Any) -> None:
    """A read-only key sent back: accepted when it equals the stored value."""
    value = fields.get(key)
    if value in (None, "") or str(value) == ("" if stored is None else str(stored)):
        return
    raise Invalid(f"{key}: read-only here, {value!r} differs from the stored {stored!r}")


def _text_only(value: Any, key: str) -> str:
    """A realm is a domain name: a number (which validate.domain would read as its digits,
    "-58800" included) is refused."""
    if not isinstance(value, str):
        raise Invalid(f"{key}: must be a domain name (text)")
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)  # group 0 is a group ("All Users"), not "none"


def _sort(fields: Mapping[str, Any], default: int | None) -> Any:
    value = fields.get("sort")
    return default if value in (None, "") else validate.integer(value, "sort", 0, MAX_SORT)


def _optional(fields: Mapping[str, Any], key: str, check: Any) -> Any:
    value = fields.get(key)
    return None if value in (None, "") else check(value)


async def _lock_realm(conn: asyncpg.Connection, realm: str | None) -> None:
    """Two creates of one name in one realm wait for each other (no duplicate names)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('bridge_groups:' || coalesce($1, '')))", realm)


def add_routes(router: EdgeRoutes) -> None:
    """The document's group paths ("分组管理"); ``{id}`` is digits, so the named paths never match it."""
    gid = r"{id:\d{1,18}}"
    group = r"{group_id:\d{1,18}}"
    member = r"{member_id:\d{1,18}}"
    router.add_get("/groups", list_groups)
    router.add_post("/groups", create_group)
    router.add_get("/groups/extn_group", extn_groups)
    router.add_get("/groups/user_group", user_groups)
    router.add_get("/groups/build_group_tree", user_group_tree)
    router.add_get("/groups/build_group_options_tree", user_group_options)
    router.add_get("/groups/build_group_options_tree_extn", extn_group_options)
    router.add_get(f"/groups/build_group_options_tree/{gid}", other_group_options)
    router.add_post("/groups/members", add_members)
    router.add_post("/groups/extns", add_extns)
    router.add_delete(f"/groups/members/{group}", remove_all_members)
    router.add_delete(f"/groups/members/{group}/{member}", remove_member)
    router.add_delete(f"/groups/extns/{group}", remove_all_extns)
    router.add_delete(f"/groups/extns/{group}/{member}", remove_extn)
    router.add_get(f"/groups/{gid}", get_group)
    router.add_put(f"/groups/{gid}", update_group)
    router.add_delete(f"/groups/{gid}", delete_group)
    router.add_get(f"/groups/{gid}/members", group_members)
    router.add_put(f"/groups/{gid}/members", update_member)
    router.add_get(f"/groups/{gid}/extns", group_extns)
    router.add_post(f"/groups/{gid}/member", add_member)
