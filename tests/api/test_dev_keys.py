"""Developer keys the documented way (xui-auth-api.zh.txt: username/password/domain = an
extension's number and SIP password), with api.sip_credential_keys "extension" (default) and
"owner" (XUI's behaviour); a password change ending sessions and keys; an administrator
listing and revoking any user's keys (issue 21 item 10, issue 22 dev keys; docs/admin-api.md)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from tests.api.conftest import StartApi
from tests.api.helpers import ADMIN_PASSWORD, DOMAIN, REFERENCE, add_admin, auth, document_example, login
from tests.api.provision.test_import_and_self import same_shape
from tests.api.test_document_shapes import assert_same_keys_and_types
from tests.factories import add_extension, add_user
from tests.support.client import Client

NO_PERMISSION = {"code": 403, "text": "no permission", "message": "no permission"}
EXT_PASSWORD = "Ext1234pw"


async def mint(client: Client, extn: str, password: str = EXT_PASSWORD) -> dict[str, Any]:
    """A key asked for exactly as the document's example asks (a JSON body, no token)."""
    client.session.cookie_jar.clear()
    response = await client.post(
        "/api/users/dev_keys",
        json={"username": extn, "password": password, "domain": DOMAIN},
        headers={"Content-Type": "application/json"},
    )
    body = await response.json()
    assert response.status == 200, body
    data: dict[str, Any] = body["data"]
    return data


async def status(client: Client, method: str, path: str, key: str, **kwargs: Any) -> int:
    client.session.cookie_jar.clear()
    response = await client.request(method, path, headers=auth(key), **kwargs)
    await response.read()
    return response.status


@pytest.fixture
async def phones(conn: asyncpg.Connection) -> dict[str, int]:
    """13201 and 13202 of a super user, 13301 of a plain user, all in xswitch.test."""
    boss = await add_admin(conn, "boss", is_super=1)
    plain = await add_user(conn, "plain", domain=DOMAIN, password_plain=ADMIN_PASSWORD)
    return {
        "boss": boss,
        "plain": plain,
        "13201": await add_extension(conn, "13201", DOMAIN, password=EXT_PASSWORD, user_id=boss),
        "13202": await add_extension(conn, "13202", DOMAIN, password="Ext5678pw", user_id=boss),
        "13301": await add_extension(conn, "13301", DOMAIN, password=EXT_PASSWORD, user_id=plain),
    }


async def test_given_a_key_from_sip_credentials_then_it_reads_its_own_extension_and_nothing_else(
    start_api: StartApi, phones: dict[str, int]
) -> None:
    client = await start_api()
    key = (await mint(client, "13201"))["key"]
    own, other = phones["13201"], phones["13202"]
    reads_own = [
        f"/api/extensions/{own}",
        "/api/users/list?extn=13201",
        f"/api/extensions/{own}/registration_attempts",
        f"/api/guard/why?user=13201@{DOMAIN}",
        "/api/users/dev_keys",
    ]
    for path in reads_own:
        assert await status(client, "GET", path, key) == 200, path
    others = [
        f"/api/extensions/{other}",
        "/api/users/list?extn=13202",
        "/api/users/list",
        "/api/users/list1",
        "/api/extensions",
        f"/api/extensions/{other}/registration_attempts",
        f"/api/guard/why?user=13202@{DOMAIN}",
        "/api/guard/bans",
        f"/api/users/{phones['boss']}",
        f"/api/users/{phones['boss']}/dev_keys",
    ]
    for path in others:
        assert await status(client, "GET", path, key) == 403, path
    writes = [("PUT", f"/api/extensions/{own}", {"name": "x"}), ("DELETE", f"/api/extensions/{own}", None)]
    for method, path, body in writes:
        assert await status(client, method, path, key, json=body) == 403, path


async def test_given_a_key_from_sip_credentials_then_its_users_list_hides_the_owners_web_password(
    conn: asyncpg.Connection, start_api: StartApi, phones: dict[str, int]
) -> None:
    await conn.execute("UPDATE users SET password = 'web-plain' WHERE id = $1", phones["boss"])
    client = await start_api()
    key = (await mint(client, "13201"))["key"]
    client.session.cookie_jar.clear()
    body = await (await client.get("/api/users/list?extn=13201", headers=auth(key))).json()
    assert (body["extn"], body["password"]) == ("13201", "")


async def test_given_sip_credential_keys_owner_then_a_key_has_its_owners_rights(
    start_api: StartApi, phones: dict[str, int]
) -> None:
    client = await start_api(api__sip_credential_keys="owner")
    boss_key = (await mint(client, "13201"))["key"]
    for path in ("/api/extensions", "/api/users/list1", f"/api/extensions/{phones['13202']}"):
        assert await status(client, "GET", path, boss_key) == 200, path
    # A plain user's phone gets a plain user's rights: no admin reads.
    plain_key = (await mint(client, "13301"))["key"]
    assert await status(client, "GET", "/api/extensions", plain_key) == 403
    # Decided when used: the same key under the default setting speaks for its extension only.
    strict = await start_api()
    assert await status(strict, "GET", "/api/extensions", boss_key) == 403
    assert await status(strict, "GET", f"/api/extensions/{phones['13201']}", boss_key) == 200


async def test_dev_key_answers_carry_ids_as_strings_as_the_document_shows(
    start_api: StartApi, phones: dict[str, int]
) -> None:
    client = await start_api()
    created = await mint(client, "13201")
    assert isinstance(created["id"], str) and isinstance(created["user_id"], str)
    assert created["user_id"] == str(phones["boss"])
    client.session.cookie_jar.clear()
    listed = await (await client.get("/api/users/dev_keys", headers=auth(created["key"]))).json()
    (item,) = listed["data"]
    assert (item["id"], item["user_id"]) == (created["id"], created["user_id"])
    assert sorted(item) == sorted(created)
    # Shown masked: only a hash is stored (docs/admin-api.md, "Developer keys").
    assert item["key"] != created["key"] and item["key"][:8] == created["key"][:8]
    assert len(item["key"]) == len(created["key"])


async def test_given_a_password_reset_then_the_users_sessions_and_session_keys_end(
    conn: asyncpg.Connection, start_api: StartApi, phones: dict[str, int]
) -> None:
    await add_admin(conn, "alice")
    client = await start_api()
    alice = await login(client, "alice")
    alice_key = await (
        await client.post("/api/users/dev_keys", json={"description": "ci"}, headers=auth(alice))
    ).json()
    alice_key_token = alice_key["data"]["key"]
    boss = await login(client, "boss")
    alice_id = await conn.fetchval("SELECT id FROM users WHERE login = 'alice'")
    client.session.cookie_jar.clear()
    reset = await client.put(
        f"/api/users/{alice_id}/password", json={"password": "N3w!passwd9"}, headers=auth(boss)
    )
    assert reset.status == 200, await reset.text()
    for token in (alice, alice_key_token):
        assert await status(client, "GET", "/api/users/list1", token) == 401
    assert await status(client, "GET", "/api/users/list1", boss) == 200  # others' sessions stay
    assert await login(client, "alice", "N3w!passwd9")


async def test_given_an_extension_password_change_then_the_keys_made_from_it_end(
    conn: asyncpg.Connection, start_api: StartApi, phones: dict[str, int]
) -> None:
    client = await start_api()
    old = (await mint(client, "13201"))["key"]
    other = (await mint(client, "13202", "Ext5678pw"))["key"]
    boss = await login(client, "boss")
    client.session.cookie_jar.clear()
    changed = await client.put(
        f"/api/extensions/{phones['13201']}", json={"password": "Ext9999pw"}, headers=auth(boss)
    )
    assert changed.status == 200, await changed.text()
    assert await status(client, "GET", "/api/users/dev_keys", old) == 403
    assert await status(client, "GET", "/api/users/dev_keys", other) == 200
    assert await status(client, "GET", "/api/users/list1", boss) == 200  # the web password did not change


async def test_given_an_own_password_change_then_the_other_sessions_end_and_this_one_stays(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn, "alice")
    client = await start_api()
    first, second = await login(client, "alice"), await login(client, "alice")
    client.session.cookie_jar.clear()
    response = await client.put(
        "/api/users/change_password",
        json={"password": "N3w!passwd9", "old_password": ADMIN_PASSWORD},
        headers=auth(first),
    )
    assert response.status == 200, await response.text()
    assert await status(client, "GET", "/api/users/list1", second) == 401
    assert await status(client, "GET", "/api/users/list1", first) == 200  # it gave the old password
    assert await login(client, "alice", "N3w!passwd9")


async def test_an_admin_lists_and_revokes_any_users_keys(
    conn: asyncpg.Connection, start_api: StartApi, phones: dict[str, int]
) -> None:
    await add_admin(conn, "domadmin")
    client = await start_api()
    phone_key = await mint(client, "13301")
    plain_session = await login(client, "plain")
    web_key = await (
        await client.post("/api/users/dev_keys", json={"description": "web"}, headers=auth(plain_session))
    ).json()
    boss = await login(client, "boss")
    path = f"/api/users/{phones['plain']}/dev_keys"
    client.session.cookie_jar.clear()
    listed = await (await client.get(path, headers=auth(boss))).json()
    assert [(k["id"], k["rights"], k["extn"]) for k in listed["data"]] == [
        (phone_key["id"], "extension", "13301"),
        (web_key["data"]["id"], "user", ""),
    ]
    assert all(k["key"].endswith("-************") for k in listed["data"])
    revoked = await client.delete(path, params={"id": phone_key["id"]}, headers=auth(boss))
    assert (await revoked.json())["data"] == {"revoked": 1}
    assert await status(client, "GET", "/api/users/dev_keys", phone_key["key"]) == 403
    assert await status(client, "GET", "/api/users/dev_keys", web_key["data"]["key"]) == 200
    # A domain admin manages its domain's users, not a super user's keys; a plain user none.
    domadmin = await login(client, "domadmin")
    client.session.cookie_jar.clear()
    assert await status(client, "GET", path, domadmin) == 200
    assert await status(client, "GET", f"/api/users/{phones['boss']}/dev_keys", domadmin) == 404
    assert await status(client, "GET", path, plain_session) == 403
    everything = await client.delete(path, headers=auth(boss))
    assert (await everything.json())["data"] == {"revoked": 1}
    assert await status(client, "GET", "/api/users/dev_keys", web_key["data"]["key"]) == 403


async def read(client: Client, path: str, key: str) -> Any:
    client.session.cookie_jar.clear()
    response = await client.get(path, headers=auth(key))
    body = await response.json()
    assert response.status == 200, body
    return body


async def test_given_a_key_from_sip_credentials_then_info_is_its_extensions_owner_read_only(
    conn: asyncpg.Connection, start_api: StartApi, phones: dict[str, int]
) -> None:
    client = await start_api()
    key = (await mint(client, "13301"))["key"]
    info = await read(client, "/api/users/info", key)
    same_shape(info, json.loads(document_example("获取当前用户信息")))
    assert (info["id"], info["login"], info["salt"]) == (phones["plain"], "plain", "")
    assert not {"password", "sha1", "ha1", "ha1b"} & set(info)
    current = await read(client, "/api/users/currentUser", key)
    same_shape(current, json.loads(document_example("获取当前登录用户详情")))
    assert current["userid"] == phones["plain"]
    # Read only: the owner's record is not the key's to change.
    for method, path, body in [
        ("PUT", f"/api/users/{phones['plain']}", {"name": "x"}),
        ("PUT", "/api/users/change_password", {"password": "New1234!pw"}),
        ("GET", "/api/users/total", None),
    ]:
        assert await status(client, method, path, key, json=body) == 403, path
    # A key made before sql/040 names no extension: it has no record to read.
    await conn.execute("UPDATE bridge_api_tokens SET extension_id = NULL WHERE kind = 'dev_key'")
    assert await status(client, "GET", "/api/users/info", key) == 403
    assert await status(client, "GET", "/api/users/currentUser", key) == 403


async def test_given_sip_credential_keys_owner_then_info_is_the_owners_record(
    start_api: StartApi, phones: dict[str, int]
) -> None:
    client = await start_api(api__sip_credential_keys="owner")
    key = (await mint(client, "13201"))["key"]
    assert (await read(client, "/api/users/info", key))["login"] == "boss"
    assert await status(client, "GET", "/api/users/total", key) == 200  # the owner is a super user


def auth_examples(after: str, count: int) -> list[Any]:
    """The first ``count`` JSON values after the line starting with ``after`` in xui-auth-api.zh.txt."""
    lines = (REFERENCE / "xui-auth-api.zh.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after)) + 1
    found: list[Any] = []
    while len(found) < count:
        while not lines[start].startswith(("{", "[")):
            start += 1
        end = start
        while True:  # the shortest run of lines that is one JSON value
            try:
                found.append(json.loads("\n".join(lines[start : end + 1])))
                break
            except ValueError:
                end += 1
        start = end + 1
    return found


async def test_the_auth_documents_dev_key_flow_verbatim_gets_its_answers_key_for_key(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    """xui-auth-api.zh.txt's own example: t13201 / 1234 in test.com (a SIP password below the
    extension rule, as a phone's may be: the rule binds provisioning, not a login)."""
    owner = await add_user(conn, "t13201owner", domain="test.com")
    await add_extension(conn, "t13201", "test.com", password="1234", user_id=owner)
    request, created_example = auth_examples("Key API", 2)
    assert request == {"username": "t13201", "password": "1234", "domain": "test.com"}
    client = await start_api()
    response = await client.post("/api/users/dev_keys", json=request)
    created = await response.json()
    assert response.status == 200, created
    assert_same_keys_and_types(created, created_example, {"data"})
    assert_same_keys_and_types(created["data"], created_example["data"], set())
    key = created["data"]["key"]
    (listed_example,) = auth_examples("用户API客户端查询自己的开发key列表", 1)
    listed = await read(client, "/api/users/dev_keys", key)
    assert_same_keys_and_types(listed, listed_example, {"data"})
    assert_same_keys_and_types(listed["data"][0], listed_example["data"][0], set())
    (deleted_example,) = auth_examples("用户API客户端删除自己的开发key", 1)
    client.session.cookie_jar.clear()
    deleted = await (await client.delete("/api/users/dev_keys", headers=auth(key))).json()
    assert_same_keys_and_types(deleted, deleted_example, set())
    assert await status(client, "GET", "/api/users/dev_keys", key) == 403
