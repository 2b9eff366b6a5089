"""XUI groups ("分组管理"): the document's example bodies posted verbatim, its answers key
for key and type for type, scope, refusals by name, and membership reaching the captured
``group_call`` form over HTTP."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from lxml import etree

from tests.api.conftest import Api
from tests.api.helpers import DOMAIN, auth, document_example, document_examples, response_schema, validate
from tests.directory.helpers import FORM_TYPE
from tests.factories import add_extension, add_user
from tests.support.captures import form
from tests.support.poll import eventually_value


def json_type(value: Any) -> str:
    return type(value).__name__


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (a list by its first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return json_type(value)


async def call(api: Api, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    headers = {**auth(api.token), "Content-Type": "application/json"}
    data = body if isinstance(body, str | None) else json.dumps(body)
    response = await api.client.request(method, url, data=data, headers=headers)
    answer = await response.json()
    assert response.status == status, answer
    return answer


async def add_group(
    conn: asyncpg.Connection, name: str, group_type: int, realm: str = DOMAIN, **values: Any
) -> int:
    row = {"name": name, "group_type": group_type, "realm": realm, "level": 0, **values}
    marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    group_id: int = await conn.fetchval(
        f"INSERT INTO groups ({', '.join(row)}) VALUES ({marks}) RETURNING id", *row.values()
    )
    return group_id


@pytest.fixture
async def super_api(api: Api, conn: asyncpg.Connection) -> Api:
    await conn.execute("UPDATE users SET is_super = 1 WHERE login = 'admin'")
    return api


# -- the document's examples, verbatim --------------------------------------------------


async def test_given_the_documented_create_bodies_then_groups_and_a_subgroup_are_made(api: Api) -> None:
    body, answer = document_examples("新增组", 2)
    first = await call(api, "POST", "/api/groups", body)
    assert shape(first) == shape(json.loads(answer))
    await call(api, "POST", "/api/groups", json.dumps({"name": "second", "group_type": 0}))
    body, answer = document_examples("新建二级组", 2)  # under group_id "2"
    sub = await call(api, "POST", "/api/groups", body)
    # The document answers this one's id as a number, the first one's as a string: bridge
    # answers both as the first (and as PUT and DELETE do).
    assert set(sub) == set(json.loads(answer))
    got = await call(api, "GET", f"/api/groups/{sub['data']}")
    assert shape(got) == shape(json.loads(document_example("获取指定分组的信息")))
    assert (got["name"], got["level"], got["description"]) == ("二级组", 1, "本地分机")
    listed = await call(api, "GET", "/api/groups")
    assert shape(listed) == shape(json.loads(document_example("获取所有分组")))
    assert [(g["name"], g["group_id"]) for g in listed["data"]] == [
        ("test1122", ""),
        ("second", ""),
        ("二级组", "2"),
    ]


async def test_given_the_documented_update_bodies_then_name_and_description_change(
    super_api: Api, conn: asyncpg.Connection
) -> None:
    group_id = await add_group(conn, "test", 1, realm="demo.xswitch.cn")
    await conn.execute("SELECT setval('groups_id_seq', 2)")
    await add_group(conn, "two", 0)  # id 3... and the document's PUT names ids 2 and 3
    body, answer = document_examples("修改指定分组的信息", 2)
    fields = json.loads(body)
    got = await call(super_api, "PUT", f"/api/groups/{group_id}", body.replace('"3"', f'"{group_id}"'))
    assert shape(got) == shape(json.loads(answer))
    stored = await call(super_api, "GET", f"/api/groups/{group_id}")
    assert (stored["name"], stored["realm"], stored["description"]) == (fields["name"], fields["realm"], "")
    body, answer = document_examples("更新分组信息", 2)
    got = await call(super_api, "PUT", "/api/groups/3", body)
    assert shape(got) == shape(json.loads(answer))
    assert (await call(super_api, "GET", "/api/groups/3"))["name"] == "二级组"


async def test_given_the_documented_extns_body_then_the_extension_is_a_member(
    api: Api, conn: asyncpg.Connection
) -> None:
    await conn.execute("SELECT setval('groups_id_seq', 3)")
    assert await add_group(conn, "sales", 1) == 4
    await add_extension(conn, "1077", DOMAIN, id=2513)
    body, answer = document_examples("新增组内分机(组类型需要为分机)", 2)
    got = await call(api, "POST", "/api/groups/extns", body)
    assert shape(got) == shape(json.loads(answer))
    assert got["data"] == [{"extn_id": "2513", "group_id": 4, "sort": 1}]
    members = await call(api, "GET", "/api/groups/4/extns")
    assert shape(members) == shape(json.loads(document_example("获取指定分组的成员信息")))
    assert [(m["extn"], m["extn_id"], m["group_id"]) for m in members] == [("1077", "2513", "4")]


async def test_given_user_members_then_listed_updated_and_removed_as_documented(
    api: Api, conn: asyncpg.Connection
) -> None:
    group_id = await add_group(conn, "所有用户", 0, id=0)  # XUI's "All Users" is group 0
    owner = await add_user(conn, "user8", domain=DOMAIN, id=8)
    body, answer = document_examples("新增组内用户(组类型需要为用户)", 2)
    got = await call(api, "POST", "/api/groups/members", body)
    assert shape(got) == shape(json.loads(answer))
    assert got["data"] == [{"user_id": "8", "group_id": 0, "sort": 1}]
    members = await call(api, "GET", f"/api/groups/{group_id}/members")
    assert shape(members) == shape(json.loads(document_example("获取加入指定分组的用户成员")))
    assert (members[0]["user_id"], members[0]["sort"]) == (str(owner), "1")
    membership = members[0]["id"]
    # The document's PUT names membership 2, of a user named "111".
    named = await add_user(conn, "u111", domain=DOMAIN, name="111")
    await call(api, "POST", "/api/groups/members", [{"group_id": group_id, "user_id": named}])
    body, answer = document_examples("更新分组成员信息", 2)
    changed = await call(api, "PUT", f"/api/groups/{group_id}/members", body)
    assert shape(changed) == shape(json.loads(answer))
    assert changed["data"] == "2"
    sorts = {m["id"]: m["sort"] for m in await call(api, "GET", f"/api/groups/{group_id}/members")}
    assert sorts == {membership: "1", "2": "4"}
    refused = await call(
        api, "PUT", f"/api/groups/{group_id}/members", body.replace('"2"', f'"{membership}"'), 400
    )
    assert refused["message"].startswith("name:")  # membership 1 is user8's, not "111"'s
    await call(api, "DELETE", f"/api/groups/members/{group_id}/{named}")
    gone = await call(api, "DELETE", f"/api/groups/members/{group_id}/{owner}")
    assert shape(gone) == shape(json.loads(document_example("删除分组的指定用户")))
    assert gone["data"] == str(owner)
    assert await call(api, "GET", f"/api/groups/{group_id}/members") == []
    assert (await call(api, "POST", f"/api/groups/{group_id}/member", "{}", 406))["message"] == (
        "Missing Args: user_id"
    )
    await add_user(conn, "user7", domain=DOMAIN, id=7)
    body, answer = document_examples("向分组添加成员", 2)
    added = await call(api, "POST", f"/api/groups/{group_id}/member", body)
    assert shape(added) == shape(json.loads(answer))
    members = await call(api, "GET", f"/api/groups/{group_id}/members")
    assert [(m["id"], m["user_id"]) for m in members] == [(str(added["data"]), "7")]
    every = await call(api, "DELETE", f"/api/groups/members/{group_id}")
    assert shape(every) == shape(json.loads(document_example("删除分组的所有用户")))
    assert await call(api, "GET", f"/api/groups/{group_id}/members") == []


async def test_given_typed_group_reads_then_each_answers_the_documented_shape(
    api: Api, conn: asyncpg.Connection
) -> None:
    users = await add_group(conn, "所有用户", 0)
    extns = await add_group(conn, "所有分机", 1)
    sub = await add_group(conn, "sub", 0, group_id=str(users), level=1)
    cases = [
        ("/api/groups/extn_group", "获取所有的分机组", [extns]),
        ("/api/groups/user_group", "获取所有用户组", [users, sub]),
    ]
    for url, title, ids in cases:
        got = await call(api, "GET", url)
        assert shape(got) == shape(json.loads(document_example(title))), url
        assert [int(g["id"]) for g in got["data"]] == ids
    tree = await call(api, "GET", "/api/groups/build_group_tree")
    assert shape(tree) == shape(json.loads(document_example("获取用户组信息")))
    assert [(g["id"], g["spaces"]) for g in tree] == [(str(users), ""), (str(sub), "  ")]
    options = await call(api, "GET", "/api/groups/build_group_options_tree")
    assert shape(options) == shape(json.loads(document_example("获取用户分组名")))
    options = await call(api, "GET", "/api/groups/build_group_options_tree_extn")
    assert shape(options) == shape(json.loads(document_example("获取分机组信息")))
    others = await call(api, "GET", f"/api/groups/build_group_options_tree/{users}")
    assert shape(others) == shape(json.loads(document_example("获取除指定分组外的其他分组")))
    assert [g["value"] for g in others] == [extns]  # neither the group nor its subgroup


async def test_given_group_answers_then_each_validates_against_the_served_openapi(
    api: Api, conn: asyncpg.Connection
) -> None:
    users = await add_group(conn, "u", 0)
    extns = await add_group(conn, "e", 1)
    owner = await conn.fetchval("SELECT id FROM users WHERE login = 'admin'")
    ext = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    await call(api, "POST", "/api/groups/members", [{"group_id": users, "user_id": owner}])
    await call(api, "POST", "/api/groups/extns", [{"group_id": extns, "extn_id": ext}])
    for path in (
        "/api/groups",
        "/api/groups/extn_group",
        "/api/groups/user_group",
        "/api/groups/build_group_tree",
        "/api/groups/build_group_options_tree",
        "/api/groups/build_group_options_tree_extn",
        "/api/groups/build_group_options_tree/{id}",
        "/api/groups/{id}",
        "/api/groups/{id}/members",
        "/api/groups/{id}/extns",
        "/api/groups/{id}/users",
        "/api/groups/{id}/users/extn",
        "/api/groups/{id}/remain_members",
        "/api/groups/{id}/remain_extns",
        "/api/groups/group_users",
        "/api/groups/group_all/group_users",
    ):
        url = path.replace("{id}", str(extns if "extn" in path else users))
        validate(await call(api, "GET", url), response_schema(path, "get", 200), url)
    missing = await call(api, "GET", "/api/groups/999", status=404)
    validate(missing, response_schema("/api/groups/{id}", "get", 404))


async def test_given_deletes_then_answered_as_documented_and_nothing_points_at_the_group(
    api: Api, conn: asyncpg.Connection
) -> None:
    group_id = await add_group(conn, "sales", 1)
    sub = await add_group(conn, "sub", 1, group_id=str(group_id), level=1)
    ext = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    await call(api, "POST", f"/api/groups/{group_id}/member", {"extn_id": ext})
    await call(api, "POST", f"/api/groups/{sub}/member", {"extn_id": ext})
    one = await call(api, "DELETE", f"/api/groups/extns/{group_id}/{ext}")
    assert shape(one) == shape(json.loads(document_example("删除分组的指定分机")))
    every = await call(api, "DELETE", f"/api/groups/extns/{sub}")
    assert shape(every) == shape(json.loads(document_example("删除分组的所有分机")))
    await call(api, "POST", f"/api/groups/{sub}/member", {"extn_id": ext})
    deleted = await call(api, "DELETE", f"/api/groups/{group_id}")
    assert shape(deleted) == shape(json.loads(document_example("删除分组")))
    assert await conn.fetchval("SELECT count(*) FROM groups WHERE deleted_at IS NULL") == 0
    assert await conn.fetchval("SELECT count(*) FROM group_extns") == 0
    await call(api, "GET", f"/api/groups/{sub}", status=404)


# -- scope and refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "reason"),
    [
        pytest.param("/api/groups", {"name": "x", "colour": "red"}, "colour:", id="unknown-key"),
        pytest.param("/api/groups", {"name": "x", "group_type": 2}, "group_type:", id="group-type"),
        pytest.param("/api/groups", {"group_type": 0}, "Missing Args: name", id="no-name"),
        pytest.param("/api/groups", {"name": "x", "group_id": "999"}, "group_id:", id="no-parent"),
        pytest.param(
            "/api/groups/extns", [{"group_id": "{users}", "extn_id": 1}], "[0].group_id:", id="wrong-type"
        ),
        pytest.param(
            "/api/groups/extns",
            [{"group_id": "{extns}", "extn_id": "{other}"}],
            "extn_id:",
            id="other-domain",
        ),
        pytest.param("/api/groups/extns", {"group_id": 1}, "body must be", id="not-array"),
    ],
)
async def test_given_a_bad_write_then_refused_by_name_and_nothing_changes(
    api: Api, conn: asyncpg.Connection, url: str, body: Any, reason: str
) -> None:
    ids = {
        "users": await add_group(conn, "u", 0),
        "extns": await add_group(conn, "e", 1),
        "other": await conn.fetchval("SELECT id FROM extensions WHERE extn = '2001'"),
    }
    text = json.dumps(body)
    for name, value in ids.items():
        text = text.replace(f'"{{{name}}}"', str(value))
    before = await conn.fetchval("SELECT count(*) FROM groups")
    answer = await call(api, "POST", url, text, status=406 if "Missing" in reason else 400)
    assert reason in answer["message"]
    assert await conn.fetchval("SELECT count(*) FROM groups") == before
    assert await conn.fetchval("SELECT count(*) FROM group_extns") == 0


async def test_given_a_domain_admin_then_other_realms_groups_are_invisible(
    api: Api, conn: asyncpg.Connection
) -> None:
    theirs = await add_group(conn, "theirs", 1, realm="other.test")
    mine = await add_group(conn, "mine", 1)
    assert [g["id"] for g in (await call(api, "GET", "/api/groups"))["data"]] == [str(mine)]
    await call(api, "GET", f"/api/groups/{theirs}", status=404)
    await call(api, "DELETE", f"/api/groups/{theirs}", status=404)
    await call(api, "POST", "/api/groups", {"name": "x", "realm": "other.test"}, status=403)
    parent = await call(api, "PUT", f"/api/groups/{mine}", {"group_id": str(theirs)}, status=400)
    assert parent["message"].startswith("group_id:")


async def test_given_a_normal_user_then_groups_are_refused(api: Api, conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE users SET is_admin = false WHERE login = 'admin'")
    answer = await call(api, "GET", "/api/groups", status=403)
    assert answer["message"] == "no permission"


# -- group_call: the captured form over HTTP --------------------------------------------


async def group_call(api: Api) -> list[str]:
    response = await api.client.post(
        "/directory", data=form("group_call_sales"), headers={"Content-Type": FORM_TYPE}
    )
    assert response.status == 200
    doc = etree.fromstring(await response.read())
    return [u.get("id") for u in doc.findall("section/domain/groups/group[@name='sales']/users/user")]


async def test_given_group_membership_changes_then_the_captured_group_call_rings_the_members(
    api: Api, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1004", DOMAIN, group_name="sales,support")  # group_name still counts
    assert await group_call(api) == ["1004"]  # and the answer is now kept (whole.py)
    created = await call(api, "POST", "/api/groups", {"name": "sales", "group_type": 1})
    sales = created["data"]
    ids = dict(await conn.fetch("SELECT extn, id FROM extensions WHERE domain = $1", DOMAIN))
    await call(api, "POST", "/api/groups/extns", [{"group_id": sales, "extn_id": ids["1002"]}])
    await eventually_value(lambda: group_call(api), lambda got: got == ["1002", "1004"])
    await call(api, "POST", f"/api/groups/{sales}/member", {"extn_id": ids["1001"]})
    await eventually_value(lambda: group_call(api), lambda got: got == ["1001", "1002", "1004"])
    await call(api, "DELETE", f"/api/groups/extns/{sales}/{ids['1002']}")
    await eventually_value(lambda: group_call(api), lambda got: got == ["1001", "1004"])
    await call(api, "PUT", f"/api/groups/{sales}", {"name": "renamed"})
    await eventually_value(lambda: group_call(api), lambda got: got == ["1004"])


async def test_given_a_user_group_named_like_the_call_then_its_users_extensions_ring(
    api: Api, conn: asyncpg.Connection
) -> None:
    assert await group_call(api) == []
    owner = await conn.fetchval("SELECT id FROM users WHERE login = 'admin'")  # owns 1001..1003
    created = await call(api, "POST", "/api/groups", {"name": "sales", "group_type": 0})
    await call(api, "POST", "/api/groups/members", [{"group_id": created["data"], "user_id": owner}])
    await eventually_value(lambda: group_call(api), lambda got: got == ["1001", "1002", "1003"])
    await call(api, "DELETE", f"/api/groups/{created['data']}")
    await eventually_value(lambda: group_call(api), lambda got: got == [])


# -- whole-row lists and drag -----------------------------------------------------------


def same_keys_as_strings(got: dict[str, Any], example: dict[str, Any], table: set[str]) -> None:
    """Every value a string, as the example; the keys are the table's columns (the examples
    print some of XUI's own columns bridge's tables do not have, e.g. users.is_locked "f")."""
    assert all(isinstance(v, str) for v in got.values())
    assert set(got) == table
    assert set(example) - table <= NOT_BRIDGE_COLUMNS, sorted(set(example) - table)


# Columns of XUI's live tables that its document's row examples print and its own column
# tables (which sql/001 follows) do not list.
NOT_BRIDGE_COLUMNS = {"tmf_type", "status", "dnd", "sip_address"}


async def columns(conn: asyncpg.Connection, table: str) -> set[str]:
    rows = await conn.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = $1", table)
    return {row[0] for row in rows}


async def test_given_whole_row_lists_then_rows_are_the_tables_columns_as_strings_without_secrets(
    api: Api, conn: asyncpg.Connection
) -> None:
    users = await add_group(conn, "u", 0)
    extns = await add_group(conn, "e", 1)
    owner = await conn.fetchval("SELECT id FROM users WHERE login = 'admin'")
    ext = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    await call(api, "POST", "/api/groups/members", [{"group_id": users, "user_id": owner}])
    await call(api, "POST", "/api/groups/extns", [{"group_id": extns, "extn_id": ext}])
    user_columns, extension_columns = await columns(conn, "users"), await columns(conn, "extensions")

    inside = await call(api, "GET", f"/api/groups/{extns}/users/extn")
    assert [r["extn"] for r in inside["data"]] == ["1001"] and inside["rowCount"] == 1
    example = json.loads(document_example("获取加入指定分组的分机成员"))
    assert set(inside) == set(example)
    same_keys_as_strings(inside["data"][0], example["data"][0], extension_columns)
    assert inside["data"][0]["password"] == inside["data"][0]["ha1"] == ""

    remain = await call(api, "GET", f"/api/groups/{extns}/remain_extns")
    assert sorted(r["extn"] for r in remain["data"]) == ["1002", "1003"]  # not 2001 (other.test)
    assert set(remain) == set(json.loads(document_example("获取未加入指定分组的分机号")))

    members = await call(api, "GET", f"/api/groups/{users}/users")
    same_keys_as_strings(members[0], json.loads(document_example("获取指定分组的用户信息"))[0], user_columns)
    assert (members[0]["login"], members[0]["salt"], members[0]["sha1"]) == ("admin", "", "")
    remain = await call(api, "GET", f"/api/groups/{users}/remain_members")
    assert "admin" not in [r["login"] for r in remain["data"]]

    pairs = await call(api, "GET", "/api/groups/group_users")
    example = json.loads(document_example("获取所有的可分组用户"))
    assert shape(pairs) == shape(example)
    assert (pairs[0]["groupID"], pairs[0]["userID"]) == (str(users), str(owner))
    tree = await call(api, "GET", "/api/groups/group_all/group_users")
    assert [(g["id"], [c["login"] for c in g["children"]]) for g in tree] == [(str(users), ["admin"])]


async def test_given_a_group_read_then_put_back_then_accepted_and_a_changed_creation_time_refused(
    api: Api, conn: asyncpg.Connection
) -> None:
    group_id = await add_group(conn, "g", 0)
    read = await call(api, "GET", f"/api/groups/{group_id}")
    await call(api, "PUT", f"/api/groups/{group_id}", {**read, "description": "d"})
    again = await call(
        api, "PUT", f"/api/groups/{group_id}", {**read, "description": "e"}
    )  # stale updated_at
    assert again["code"] == 200
    refused = await call(
        api, "PUT", f"/api/groups/{group_id}", {**read, "created_at": "2001-01-01 00:00:00"}, 400
    )
    assert refused["message"].startswith("created_at:")
    refused = await call(api, "PUT", f"/api/groups/{group_id}", {**read, "updated_at": "yesterday"}, 400)
    assert refused["message"].startswith("updated_at:")
    assert (await call(api, "GET", f"/api/groups/{group_id}"))["description"] == "e"


async def test_given_a_membership_put_back_then_only_sort_changes_and_other_keys_must_match(
    api: Api, conn: asyncpg.Connection
) -> None:
    group_id = await add_group(conn, "u", 0)
    owner = await add_user(conn, "withextn", domain=DOMAIN, extn="1001")
    await call(api, "POST", "/api/groups/members", [{"group_id": group_id, "user_id": owner}])
    (row,) = await call(api, "GET", f"/api/groups/{group_id}/members")
    assert (row["domain"], row["extn"]) == (DOMAIN, "1001")
    changed = await call(api, "PUT", f"/api/groups/{group_id}/members", {**row, "sort": "9"})
    assert changed["data"] == row["id"]
    # Keys the GET answered, changed: each would do nothing here, so each is refused by name.
    for key, value in (("extn", "1002"), ("domain", "other.test"), ("name", "x"), ("extn_id", "5")):
        refused = await call(api, "PUT", f"/api/groups/{group_id}/members", {**row, key: value}, 400)
        assert refused["message"].startswith(f"{key}:"), refused
    assert [m["sort"] for m in await call(api, "GET", f"/api/groups/{group_id}/members")] == ["9"]


async def test_given_a_user_group_then_group_users_extn_lists_its_users_extensions_as_documented(
    api: Api, conn: asyncpg.Connection
) -> None:
    users = await add_group(conn, "u", 0)
    owner = await conn.fetchval("SELECT id FROM users WHERE login = 'admin'")
    outsider = await add_user(conn, "outsider", domain=DOMAIN)
    await add_extension(conn, "1009", DOMAIN, user_id=outsider)
    await call(api, "POST", "/api/groups/members", [{"group_id": users, "user_id": owner}])

    got = await call(api, "GET", f"/api/groups/{users}/group_users/extn")
    example = json.loads(document_example("获取分组关联用户的分机信息"))
    assert shape({k: v for k, v in got.items() if k != "data"}) == shape(
        {k: v for k, v in example.items() if k != "data"}
    )
    assert got["rowCount"] == "3" and [r["extn"] for r in got["data"]] == ["1001", "1002", "1003"]
    extension_columns = await columns(conn, "extensions") | {"user_login", "user_name"}
    same_keys_as_strings(got["data"][0], example["data"][0], extension_columns)
    assert {(r["user_login"], r["password"], r["ha1"], r["ha1b"]) for r in got["data"]} == {
        ("admin", "", "", "")
    }
    validate(got, response_schema("/api/groups/{id}/group_users/extn", "get", 200))

    paged = await call(api, "GET", f"/api/groups/{users}/group_users/extn?perPage=2&page=2")
    assert (paged["rowCount"], paged["pageCount"], [r["extn"] for r in paged["data"]]) == ("3", 2, ["1003"])
    other = await add_group(conn, "elsewhere", 0, realm="other.test")
    await call(api, "GET", f"/api/groups/{other}/group_users/extn", status=404)  # another realm


async def test_given_drag_then_the_group_takes_the_place_of_the_other(
    api: Api, conn: asyncpg.Connection
) -> None:
    ids = [await add_group(conn, name, 0, sort=i) for i, name in enumerate(("a", "b", "c"), 1)]
    got = await call(api, "PUT", f"/api/groups/drag/{ids[2]}/{ids[0]}")
    assert shape(got) == shape(json.loads(document_example("调整用户分组排序")))
    assert got["data"] == {"end_id": str(ids[0]), "start_id": str(ids[2])}
    listed = await call(api, "GET", "/api/groups/user_group")
    assert [g["name"] for g in listed["data"]] == ["c", "a", "b"]
    await call(api, "PUT", f"/api/groups/drag/{ids[2]}/{ids[1]}")
    listed = await call(api, "GET", "/api/groups/user_group")
    assert [g["name"] for g in listed["data"]] == ["a", "b", "c"]
    # Onto itself (schemathesis found a 500 here): answered, nothing moves.
    await call(api, "PUT", f"/api/groups/drag/{ids[1]}/{ids[1]}")
    listed = await call(api, "GET", "/api/groups/user_group")
    assert [g["name"] for g in listed["data"]] == ["a", "b", "c"]


async def test_given_a_member_deleted_then_no_membership_points_at_it(
    api: Api, conn: asyncpg.Connection
) -> None:
    users = await add_group(conn, "u", 0)
    extns = await add_group(conn, "e", 1)
    member = await add_user(conn, "member", domain=DOMAIN)
    ext = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1002'")
    await call(api, "POST", "/api/groups/members", [{"group_id": users, "user_id": member}])
    await call(api, "POST", "/api/groups/extns", [{"group_id": extns, "extn_id": ext}])
    await call(api, "DELETE", f"/api/extensions/{ext}")
    await call(api, "DELETE", f"/api/users/{member}")
    assert await conn.fetchval("SELECT count(*) FROM group_extns") == 0
    assert await conn.fetchval("SELECT count(*) FROM group_members") == 0
