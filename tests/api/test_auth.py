"""XUI authentication: sessions, cookies, developer keys, lockout, expiry, logout, many instances."""

from __future__ import annotations

import hashlib
import logging

import asyncpg
import pytest

from bridge.keys import METRICS
from tests.api.conftest import Api, StartApi
from tests.api.helpers import ADMIN_PASSWORD, DOMAIN, add_admin, auth, login
from tests.factories import add_extension, add_user
from tests.support.client import Client

UNAUTHORIZED = {"code": 401, "text": "unauthorized", "message": "unauthorized"}
WRONG = {"code": 403, "text": "Wrong username or password", "message": "Wrong username or password"}


async def test_json_login_token_works_in_the_header(api: Api) -> None:
    response = await api.client.post("/api/sessions", json={"login": "admin", "password": ADMIN_PASSWORD})
    body = await response.json()
    assert set(body) == {"code", "token"} and body["code"] == 200
    api.client.session.cookie_jar.clear()
    assert (await api.client.get("/api/users/list1", headers=auth(body["token"]))).status == 200


async def test_token_works_in_the_xui_cookie(api: Api) -> None:
    api.client.session.cookie_jar.clear()
    cookie = {"Cookie": f"freeswitch_xtra_session_id={api.token}"}
    assert (await api.client.get("/api/users/list1", headers=cookie)).status == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-XTRA-AUTH-ID": "319a18e6-98e0-4b7e-b2f1-10d85d4a1d3d"}, {"X-XTRA-AUTH-ID": "x" * 500}],
    ids=["missing", "unknown", "oversized"],
)
async def test_missing_or_wrong_token_answers_the_same_401(api: Api, headers: dict[str, str]) -> None:
    api.client.session.cookie_jar.clear()
    response = await api.client.get("/api/extensions", headers=headers)
    assert response.status == 401
    assert await response.json() == UNAUTHORIZED


async def test_wrong_password_is_403_counted_in_the_user_and_the_metric(
    api: Api, conn: asyncpg.Connection
) -> None:
    response = await api.client.post("/api/sessions", data={"login": "admin", "password": "nope"})
    assert response.status == 403
    assert await response.json() == WRONG
    assert await conn.fetchval("SELECT login_attempts FROM users WHERE login = 'admin'") == 1
    app = api.client.app
    assert app is not None
    assert app[METRICS].registry.get_sample_value("bridge_api_login_failures_total") == 1


async def test_unknown_login_answers_exactly_like_a_wrong_password(api: Api) -> None:
    response = await api.client.post("/api/sessions", data={"login": "ghost", "password": "nope"})
    assert (response.status, await response.json()) == (403, WRONG)


async def test_account_locks_for_the_source_after_max_attempts_and_then_refuses_it_the_right_password(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn)
    client: Client = await start_api(api__max_login_attempts="3")
    for _ in range(3):
        await client.post("/api/sessions", data={"login": "admin", "password": "wrong"})
    # Locked for this source only (one source never locks an account for everyone).
    assert await conn.fetchval("SELECT is_locked FROM users WHERE login = 'admin'") is False
    response = await client.post("/api/sessions", data={"login": "admin", "password": ADMIN_PASSWORD})
    assert (response.status, await response.json()) == (403, WRONG)


async def test_success_resets_the_failed_attempts(api: Api, conn: asyncpg.Connection) -> None:
    await api.client.post("/api/sessions", data={"login": "admin", "password": "wrong"})
    await login(api.client)
    assert await conn.fetchval("SELECT login_attempts FROM users WHERE login = 'admin'") == 0


async def test_token_expires_token_ttl_after_its_last_use(api: Api, conn: asyncpg.Connection) -> None:
    api.client.session.cookie_jar.clear()
    await conn.execute("UPDATE bridge_api_tokens SET last_used_at = now() - interval '25 hours'")
    response = await api.client.get("/api/users/list1", headers=auth(api.token))
    assert (response.status, await response.json()) == (401, UNAUTHORIZED)


async def test_logout_ends_the_session(api: Api) -> None:
    response = await api.client.delete("/api/sessions", headers=auth(api.token))
    assert (response.status, await response.json()) == (200, {"code": 200, "text": "OK"})
    api.client.session.cookie_jar.clear()
    assert (await api.client.get("/api/users/list1", headers=auth(api.token))).status == 401


async def test_a_second_instance_on_the_same_database_accepts_the_token(
    api: Api, start_api: StartApi
) -> None:
    other: Client = await start_api()
    assert (await other.get("/api/users/list1", headers=auth(api.token))).status == 200


async def test_only_a_hash_of_the_token_is_stored(api: Api, conn: asyncpg.Connection) -> None:
    stored = await conn.fetchval("SELECT token_sha256 FROM bridge_api_tokens")
    assert stored == hashlib.sha256(api.token.encode()).digest()
    dump = str(await conn.fetch("SELECT * FROM bridge_api_tokens"))
    assert api.token not in dump


async def test_a_user_who_is_not_an_admin_gets_no_permission(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn, "clerk", is_admin=False)
    client: Client = await start_api()
    token = await login(client, "clerk")
    response = await client.get("/api/extensions", headers=auth(token))
    assert response.status == 403
    assert await response.json() == {"code": 403, "text": "no permission", "message": "no permission"}


async def test_login_without_password_is_406_missing_args(api: Api) -> None:
    response = await api.client.post("/api/sessions", json={"login": "admin"})
    assert (response.status, (await response.json())["text"]) == (406, "Missing Args")


async def test_dev_key_from_extension_credentials_lists_masked_and_deletes(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    owner = await add_admin(conn, "t13201")
    await add_extension(conn, "13201", DOMAIN, password="Ext1234pw", user_id=owner)
    client: Client = await start_api()
    response = await client.post(
        "/api/users/dev_keys",
        json={"username": "13201", "password": "Ext1234pw", "domain": DOMAIN, "description": "ci"},
    )
    body = await response.json()
    assert (response.status, body["code"], body["text"]) == (200, 200, "success")
    key = body["data"]["key"]
    assert (body["data"]["user_id"], body["data"]["description"]) == (str(owner), "ci")
    assert (await client.get("/api/users/dev_keys", headers=auth(key))).status == 200

    listed = await (await client.get("/api/users/dev_keys", headers=auth(key))).json()
    assert [item["key"][:8] for item in listed["data"]] == [key[:8]]
    assert key not in str(listed)

    deleted = await client.delete("/api/users/dev_keys", headers=auth(key))
    assert await deleted.json() == {"code": 0, "text": "success"}
    assert (await client.get("/api/users/dev_keys", headers=auth(key))).status == 403


async def test_dev_key_with_a_wrong_extension_password_is_refused_and_counted_against_the_source(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    owner = await add_user(conn, "t2", domain=DOMAIN)
    await add_extension(conn, "13202", DOMAIN, password="Ext1234pw", user_id=owner)
    client: Client = await start_api()
    response = await client.post(
        "/api/users/dev_keys", json={"username": "13202", "password": "guess", "domain": DOMAIN}
    )
    assert (response.status, await response.json()) == (403, WRONG)
    # A SIP password guess opens no web account, so it never counts toward the owner's lock.
    assert await conn.fetchval("SELECT login_attempts FROM users WHERE id = $1", owner) == 0
    assert await conn.fetchval("SELECT failures FROM bridge_login_sources WHERE source = '127.0.0.1'") == 1


async def test_logs_never_carry_tokens_or_passwords(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await api.client.post("/api/sessions", data={"login": "admin", "password": "S3cret-typo"})
    token = await login(api.client)
    await api.client.get("/api/users/list1", headers=auth(token))
    await api.client.delete("/api/sessions", headers=auth(token))
    text = caplog.text
    assert "login failed user=admin" in text
    for secret in (token, ADMIN_PASSWORD, "S3cret-typo", api.token):
        assert secret not in text
