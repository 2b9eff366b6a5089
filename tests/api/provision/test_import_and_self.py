"""POST /api/users/import (the document's Chinese columns), PUT /api/users (bulk type and
idle_timeout) and the identity reads (info, currentUser, total): the document's example
bodies posted verbatim, its answers key for key and type for type."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from bridge import hashes
from tests.api.conftest import Api, StartApi
from tests.api.helpers import (
    ADMIN_PASSWORD,
    DOMAIN,
    add_admin,
    auth,
    document_example,
    document_examples,
    login,
    response_schema,
    validate,
)
from tests.factories import add_user


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; a list by its first element (an empty list is any list)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else "list"
    return type(value).__name__


def same_shape(got: Any, example: Any) -> None:
    if isinstance(got, list) and not got and isinstance(example, list):
        return
    if isinstance(got, dict) and isinstance(example, dict):
        assert set(got) == set(example), sorted(set(got) ^ set(example))
        for key in got:
            same_shape(got[key], example[key])
        return
    if isinstance(got, list) and isinstance(example, list):
        same_shape(got[0], example[0])
        return
    assert type(got) is type(example), (got, example)


async def call(api: Api, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    headers = {**auth(api.token), "Content-Type": "application/json"}
    data = body if isinstance(body, str | None) else json.dumps(body)
    response = await api.client.request(method, url, data=data, headers=headers)
    answer = await response.json()
    assert response.status == status, answer
    return answer


def import_body() -> str:
    body, _ = document_examples("批量导入用户", 2)
    # The document's rows are in its own domain: the same row in the test's.
    return body.replace('"xswitch.cn"', f'"{DOMAIN}"')


async def test_given_the_documented_import_body_then_the_user_is_created_with_its_password(
    api: Api, conn: asyncpg.Connection
) -> None:
    await conn.execute("UPDATE users SET is_super = 1 WHERE login = 'admin'")  # for xswitch.cn
    body, answer = document_examples("批量导入用户", 2)
    got = await call(api, "POST", "/api/users/import", body)
    same_shape(got, json.loads(answer))
    user = got["data"][0]
    assert (user["login"], user["extn"], user["name"], user["is_super"]) == ("user001", "1001", "用户1", 0)
    assert user["password"] == "" and user["sha1"] == ""  # no secret in the answer
    row = await conn.fetchrow("SELECT * FROM users WHERE login = 'user001'")
    assert bytes(row["sha1"]).hex() == hashes.login_sha1("user001", "123!@#QWEqwe", row["salt"]).hex()
    assert (row["context"], row["type"], row["domain"]) == ("context-1", "NORMAL", "xswitch.cn")
    assert await login(api.client, "user001", "123!@#QWEqwe")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param({"密码": "short"}, "row 2 (user002): 密码:", id="weak-password"),
        pytest.param({"登录名": "user001"}, "row 2 (user001): 登录名: repeats row 1", id="repeated-login"),
        pytest.param({"名称": ""}, "row 2 (user002): Missing Args: 名称", id="no-name"),
        pytest.param({"类型": "BOSS"}, "row 2 (user002): type:", id="bad-type"),
        pytest.param({"超级管理员": "maybe"}, "row 2 (user002): 超级管理员:", id="bad-super"),
        pytest.param({"部门": "x"}, "row 2 (user002): 部门: not an import column", id="unknown-column"),
        pytest.param({"分机": "10 01"}, "row 2 (user002): 分机:", id="bad-extn"),
    ],
)
async def test_given_a_bad_row_then_nothing_is_written_and_the_row_is_named(
    api: Api, conn: asyncpg.Connection, bad: dict[str, str], reason: str
) -> None:
    good = json.loads(import_body())["users"][0]
    rows = [good, {**good, "登录名": "user002", "分机": "1002", **bad}, {**good, "登录名": "user003"}]
    before = await conn.fetchval("SELECT count(*) FROM users")
    answer = await call(api, "POST", "/api/users/import", {"users": rows}, status=400)
    assert answer["message"].startswith(reason), answer
    assert await conn.fetchval("SELECT count(*) FROM users") == before


async def test_given_a_taken_login_then_409_names_the_row_and_nothing_is_written(
    api: Api, conn: asyncpg.Connection
) -> None:
    await add_user(conn, "user001")
    good = json.loads(import_body())["users"][0]
    before = await conn.fetchval("SELECT count(*) FROM users")
    rows = [{**good, "登录名": "fresh"}, good]
    answer = await call(api, "POST", "/api/users/import", {"users": rows}, status=409)
    assert answer["message"] == "row 2 (user001): 登录名: login exists"
    assert await conn.fetchval("SELECT count(*) FROM users") == before


async def test_given_a_domain_admin_then_super_users_and_other_domains_are_refused(api: Api) -> None:
    good = json.loads(import_body())["users"][0]
    for bad in ({"超级管理员": "是"}, {"域": "other.test"}):
        answer = await call(api, "POST", "/api/users/import", {"users": [{**good, **bad}]}, status=403)
        assert answer["message"].startswith("row 1 (user001): no permission")


async def test_given_the_documented_bulk_body_then_type_and_idle_timeout_are_set(
    api: Api, conn: asyncpg.Connection
) -> None:
    for name in ("9", "8", "7"):
        await add_user(conn, name, domain=DOMAIN)
    body, answer = document_examples("批量设置用户类型", 2)
    got = await call(api, "PUT", "/api/users/", body)
    same_shape(got, json.loads(answer))
    assert got["message"] == "update rows 3"
    rows = await conn.fetch("SELECT type, idle_timeout FROM users WHERE login = ANY($1)", ["7", "8", "9"])
    assert {(r["type"], r["idle_timeout"]) for r in rows} == {("AGENT", 60)}
    await call(api, "PUT", "/api/users", {"idle_timeout": 90, "username": ["7"]})
    assert await conn.fetchval("SELECT idle_timeout FROM users WHERE login = '7'") == 90


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        pytest.param({"type": "BOSS", "username": ["7"]}, 400, "type:", id="bad-type"),
        pytest.param({"idle_timeout": 10**6, "username": ["7"]}, 400, "idle_timeout:", id="huge-timeout"),
        pytest.param({"name": "x", "username": ["7"]}, 400, "name:", id="not-bulk-column"),
        pytest.param(
            {"type": "AGENT", "username": ["7", "nobody"]}, 404, "username: no user nobody", id="unknown"
        ),
        pytest.param(
            {"type": "AGENT", "username": ["theirs"]}, 404, "username: no user theirs", id="other-domain"
        ),
        pytest.param({"username": ["7"]}, 400, "nothing to set", id="nothing"),
    ],
)
async def test_given_a_bad_bulk_update_then_refused_by_name_and_nothing_changes(
    api: Api, conn: asyncpg.Connection, body: dict[str, Any], status: int, reason: str
) -> None:
    await add_user(conn, "7", domain=DOMAIN)
    await add_user(conn, "theirs", domain="other.test")
    answer = await call(api, "PUT", "/api/users", body, status=status)
    assert answer["message"].startswith(reason)
    assert await conn.fetchval("SELECT count(*) FROM users WHERE type <> 'NORMAL' OR idle_timeout <> 60") == 0


async def test_given_a_normal_user_then_info_and_current_user_are_their_own_record(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn)
    me = await add_user(
        conn, "plain", domain=DOMAIN, password_plain=ADMIN_PASSWORD, tel="0535-1", email="p@x.test"
    )
    client = await start_api()
    api = Api(client, None, await login(client, "plain"))  # type: ignore[arg-type]
    got = await call(api, "GET", "/api/users/info")
    same_shape(got, json.loads(document_example("获取当前用户信息")))
    assert (got["id"], got["login"], got["domain"], got["salt"]) == (me, "plain", DOMAIN, "")
    current = await call(api, "GET", "/api/users/currentUser")
    same_shape(current, json.loads(document_example("获取当前登录用户详情")))
    assert (current["userid"], current["phone"], current["email"]) == (me, "0535-1", "p@x.test")
    refused = await call(api, "GET", "/api/users/total", status=403)
    assert refused["message"] == "no permission"


async def test_given_an_admin_then_total_counts_the_live_users_of_its_domain(
    api: Api, conn: asyncpg.Connection
) -> None:
    await add_user(conn, "theirs", domain="other.test")
    gone = await add_user(conn, "gone", domain=DOMAIN)
    await conn.execute("UPDATE users SET deleted_at = now() WHERE id = $1", gone)
    expected = await conn.fetchval(
        "SELECT count(*) FROM users WHERE domain = $1 AND deleted_at IS NULL", DOMAIN
    )
    got = await call(api, "GET", "/api/users/total")
    same_shape(got, json.loads(document_example("获取用户数量")))
    assert got == {"count": expected}


async def test_given_these_answers_then_each_validates_against_the_served_openapi(
    api: Api, conn: asyncpg.Connection
) -> None:
    await add_user(conn, "7", domain=DOMAIN)
    answers = [
        ("/api/users/import", "post", await call(api, "POST", "/api/users/import", import_body())),
        ("/api/users/info", "get", await call(api, "GET", "/api/users/info")),
        ("/api/users/currentUser", "get", await call(api, "GET", "/api/users/currentUser")),
        ("/api/users/total", "get", await call(api, "GET", "/api/users/total")),
        ("/api/users", "put", await call(api, "PUT", "/api/users", {"type": "AGENT", "username": ["7"]})),
    ]
    for path, method, answer in answers:
        validate(answer, response_schema(path, method, 200), path)
    bad = await call(api, "POST", "/api/users/import", {"users": [{"登录名": "x"}]}, status=400)
    validate(bad, response_schema("/api/users/import", "post", 400))
