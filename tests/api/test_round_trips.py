"""Issue 22: GET then PUT of the same object succeeds; read-only keys that differ are refused
by name; every documented field has its effect or is refused (no silent no-op)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from tests.api.conftest import Api
from tests.api.helpers import DOMAIN, Client, add_admin, auth, document_example, login
from tests.api.provision.test_provision import EXT_PASSWORD, USER_PASSWORD, call
from tests.api.provision.test_provision_directory import a1_hash, directory, rewritten
from tests.api.test_document_shapes import assert_same_keys_and_types
from tests.directory.helpers import md5, user_node, variables
from tests.support.poll import eventually_value


async def rows(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every row as stored, updated_at aside (a PUT that changes nothing still stamps it)."""
    out = []
    for table in ("users", "extensions"):
        for row in await conn.fetch(f"SELECT * FROM {table} ORDER BY id"):
            out.append({k: v for k, v in row.items() if k != "updated_at"})
    return out


async def get(api: Api, url: str, token: str | None = None) -> Any:
    response = await api.client.get(url, headers=auth(token or api.token))
    assert response.status == 200
    return await response.json()


async def test_given_an_extension_read_whole_when_put_back_whole_twice_then_nothing_changes(
    api: Api, conn: asyncpg.Connection
) -> None:
    ext_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    read = await get(api, f"/api/extensions/{ext_id}")
    assert read["status"] == "online" and read["dids"] == [] and type(read["enable_cb_onbusy"]) is int
    before = await rows(conn)
    for _ in range(2):  # the second carries an updated_at the first PUT changed
        status, answer = await call(api, "PUT", f"/api/extensions/{ext_id}", read)
        assert status == 200, answer
    assert await rows(conn) == before
    assert "password" not in answer["data"]  # the update answer never carries the plaintext
    assert (answer["data"]["ha1"], answer["data"]["login"]) == (md5(f"1001:{DOMAIN}:Test1234pw"), "admin")
    # A list row (GET /api/extensions) goes back as well.
    page = await get(api, "/api/extensions?extn=1001")
    assert (await call(api, "PUT", f"/api/extensions/{ext_id}", page["data"][0]))[0] == 200
    assert await rows(conn) == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("id", 999),
        ("created_at", "2001-01-01 00:00:00"),
        ("deleted_at", "2001-01-01 00:00:00"),
        ("tmf_type", 2),
        ("status", "busy"),
        ("dids", [{"line_number": "7889541"}]),
        ("updated_at", "yesterday"),
        ("extn", "1009"),
        ("domain", "other.test"),
        ("login", "nobody-such"),
    ],
    ids=lambda v: str(v)[:20],
)
async def test_given_a_read_only_extension_key_that_differs_then_refused_by_name(
    api: Api, conn: asyncpg.Connection, key: str, value: Any
) -> None:
    ext_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    read = await get(api, f"/api/extensions/{ext_id}")
    del read["user_id"]  # so that login alone names the owner
    before = await rows(conn)
    status, answer = await call(
        api, "PUT", f"/api/extensions/{ext_id}", {**read, key: value, "name": "Changed"}
    )
    assert status == 400, answer
    assert answer["message"].startswith(f"{key}: ")
    assert await rows(conn) == before


async def user_with_extension(api: Api, login_name: str = "kate", extn: str = "1500") -> tuple[int, int]:
    body = {
        "login": login_name,
        "name": "Kate",
        "password": USER_PASSWORD,
        "extn": extn,
        "context": "default",
        "extn_password": EXT_PASSWORD,
    }
    status, answer = await call(api, "POST", "/api/users", body)
    assert status == 200, answer
    user = await get(api, f"/api/users/{answer['data']}")
    return int(answer["data"]), int(user["extn_id"])


async def test_given_a_user_read_whole_when_put_back_whole_then_nothing_changes(
    api: Api, conn: asyncpg.Connection
) -> None:
    user_id, _ = await user_with_extension(api)
    read = await get(api, f"/api/users/{user_id}")
    before = await rows(conn)
    status, answer = await call(api, "PUT", f"/api/users/{user_id}", read)
    assert (status, answer) == (200, {"code": 200, "data": str(user_id), "message": "success"})
    listed = (await get(api, "/api/users?login=kate"))["data"][0]
    assert (await call(api, "PUT", f"/api/users/{user_id}", {**listed, "is_locked": False}))[0] == 200
    assert await rows(conn) == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("extn_id", 1),
        ("extn", "1999"),
        ("is_locked", True),
        ("ha1", "0" * 32),
        ("created_at", "2001-01-01 00:00:00"),
        ("last_login_at", "2001-01-01 00:00:00"),
    ],
    ids=str,
)
async def test_given_a_read_only_user_key_that_differs_then_refused_by_name(
    api: Api, conn: asyncpg.Connection, key: str, value: Any
) -> None:
    user_id, _ = await user_with_extension(api)
    read = await get(api, f"/api/users/{user_id}")
    before = await rows(conn)
    status, answer = await call(api, "PUT", f"/api/users/{user_id}", {**read, key: value, "name": "Changed"})
    assert status == 400, answer
    assert answer["message"].startswith(f"{key}: ")
    assert await rows(conn) == before


async def test_given_agent_info_then_stored_as_the_json_given(api: Api, conn: asyncpg.Connection) -> None:
    user_id, _ = await user_with_extension(api)
    for sent in ({"skill": 3, "queue": "sales"}, '{"skill": 3, "queue": "sales"}'):
        status, answer = await call(api, "PUT", f"/api/users/{user_id}", {"agent_info": sent})
        assert status == 200, answer
        stored = await conn.fetchval("SELECT agent_info FROM users WHERE id = $1", user_id)
        assert json.loads(stored) == {"skill": 3, "queue": "sales"}
    assert (await call(api, "PUT", f"/api/users/{user_id}", {"agent_info": "[1]"}))[0] == 400


async def super_api(api: Api, conn: asyncpg.Connection) -> str:
    await add_admin(conn, "root", is_super=1)
    return await login(api.client, "root")


async def test_the_documents_put_user_example_renames_and_moves_the_user_with_its_extensions(
    api: Api, conn: asyncpg.Connection
) -> None:
    root = await super_api(api, conn)
    user_id, ext_id = await user_with_extension(api)
    body = json.loads(document_example("PUT http://192.168.1.100:8081/api/users/3"))
    assert body["login"] == "36" and "password" not in body and body["domain"] == "xswitch.cn"
    status, answer = await call(api, "PUT", f"/api/users/{user_id}", body, token=root)
    assert status == 200, answer
    assert_same_keys_and_types(answer, {"data": "49", "message": "success", "code": 200}, set())
    assert "password was cleared" in answer["message"]
    user = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    assert (user["login"], user["domain"], user["sha1"]) == ("36", "xswitch.cn", None)
    ext = await conn.fetchrow("SELECT * FROM extensions WHERE id = $1", ext_id)
    assert (ext["domain"], ext["ha1"]) == ("xswitch.cn", md5(f"1500:xswitch.cn:{EXT_PASSWORD}"))
    assert (ext["ha1b"]) == md5(f"1500@xswitch.cn:xswitch.cn:{EXT_PASSWORD}")


async def test_given_a_number_taken_in_the_new_domain_then_the_move_is_refused_and_nothing_changes(
    api: Api, conn: asyncpg.Connection
) -> None:
    root = await super_api(api, conn)
    user_id, _ = await user_with_extension(api, extn="2001")  # 2001 lives in other.test too
    before = await rows(conn)
    status, answer = await call(api, "PUT", f"/api/users/{user_id}", {"domain": "other.test"}, token=root)
    assert (status, answer["message"]) == (
        409,
        "domain: extension 2001 exists in domain other.test (the user's extensions move with it)",
    )
    assert await rows(conn) == before


async def test_given_a_user_name_change_then_the_directory_answers_it_for_inheriting_extensions(
    api: Api, conn: asyncpg.Connection
) -> None:
    user_id, _ = await user_with_extension(api, extn="1077")
    await conn.execute("UPDATE extensions SET cid_number = '7' WHERE extn = '1077'")  # set on its own
    client: Client = api.client

    def effective_caller_id(doc: Any) -> tuple[str, str]:
        found = variables(user_node(doc))
        return found.get("effective_caller_id_name", ""), found.get("effective_caller_id_number", "")

    first = await directory(client, rewritten("register_1001", "1077"))
    assert a1_hash(first) is not None  # now cached
    body = {"name": "Kate Renamed", "cid_name": "Kate R", "cid_number": "1234"}
    assert (await call(api, "PUT", f"/api/users/{user_id}", body))[0] == 200
    ext = await conn.fetchrow("SELECT name, cid_name, cid_number FROM extensions WHERE extn = '1077'")
    # name and cid_name were inherited (created with the user); cid_number was set on its own.
    assert tuple(ext) == ("Kate Renamed", "Kate R", "7")
    await eventually_value(
        lambda: directory(client, rewritten("register_1001", "1077")),
        lambda doc: effective_caller_id(doc)[0] == "Kate R",
        2.0,
    )


async def test_given_the_default_extension_deleted_then_the_user_points_at_its_next_one_or_none(
    api: Api, conn: asyncpg.Connection
) -> None:
    user_id, first = await user_with_extension(api)
    status, answer = await call(
        api, "POST", "/api/extensions", {"extn": "1501", "user_id": user_id, "password": EXT_PASSWORD}
    )
    assert status == 200, answer
    second = answer["data"]["id"]
    assert (await call(api, "DELETE", f"/api/extensions/{first}"))[0] == 200
    user = await conn.fetchrow("SELECT extn, extn_id FROM users WHERE id = $1", user_id)
    assert tuple(user) == ("1501", second)
    assert (await call(api, "DELETE", f"/api/extensions/{second}"))[0] == 200
    user = await conn.fetchrow("SELECT extn, extn_id FROM users WHERE id = $1", user_id)
    assert tuple(user) == (None, None)


async def test_users_muti_add_answers_the_stored_extn_id(api: Api, conn: asyncpg.Connection) -> None:
    body = {"users_start": 3000, "users_end": 3001, "password": USER_PASSWORD, "extn_password": EXT_PASSWORD}
    status, answer = await call(api, "POST", "/api/users/muti_add", body)
    assert status == 200, answer
    stored = {
        r["login"]: r["extn_id"]
        for r in await conn.fetch("SELECT login, extn_id FROM users WHERE login LIKE '300_'")
    }
    assert {u["login"]: u["extn_id"] for u in answer["data"]} == stored
    assert all(stored.values())


async def test_given_an_extension_created_without_a_password_then_the_answer_says_it_cannot_register(
    api: Api, conn: asyncpg.Connection
) -> None:
    status, answer = await call(api, "POST", "/api/extensions", {"extn": "1600", "login": "admin"})
    assert status == 200
    assert answer["message"] == "success; no password: the extension cannot register until one is set"
    status, answer = await call(
        api, "POST", "/api/extensions", {"extn": "1601", "login": "admin", "password": EXT_PASSWORD}
    )
    assert answer["message"] == "success"


async def test_a_new_extension_answers_secretary_extn_empty_as_the_examples_print_it(
    api: Api, conn: asyncpg.Connection
) -> None:
    body = {"extn": "1602", "login": "admin", "password": EXT_PASSWORD}
    status, answer = await call(api, "POST", "/api/extensions", body)
    assert status == 200, answer
    assert (answer["data"]["secretary_extn"], answer["data"]["tmf_type"]) == ("", 0)
    assert await conn.fetchval("SELECT secretary_extn FROM extensions WHERE extn = '1602'") == ""
