"""Every outcome of a sip_auth lookup is recorded with the right reason, from captured forms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bridge.guard.history import key_of
from bridge.guard.outcome import Reason
from tests.api.helpers import auth, login
from tests.directory.helpers import digest_response, fields, post
from tests.guard.conftest import StartGuarded, guard_of
from tests.guard.helpers import DOMAIN, derive
from tests.support.captures import PASSWORD, form, md5
from tests.support.metrics import app_sample
from tests.support.poll import eventually

Setup = Callable[[asyncpg.Connection], Awaitable[Any]]


async def nothing(conn: asyncpg.Connection) -> None:
    return None


async def disable_extension(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE extensions SET disabled = 1 WHERE extn = '1001'")


async def delete_extension(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE extensions SET deleted_at = now() WHERE extn = '1001'")


async def disable_owner(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "UPDATE users SET disabled = 1 WHERE id = (SELECT user_id FROM extensions WHERE extn = '1001')"
    )


async def remove_credentials(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE extensions SET password = '', ha1 = '', ha1b = '' WHERE extn = '1001'")


def other_realm() -> bytes:
    return derive(form("register_1001"), sip_auth_realm="other.test")


def other_realm_right_password() -> bytes:
    """A phone that knows the password but digests with realm other.test (the A1 it would use)."""
    f = {**fields("register_1001"), "sip_auth_realm": "other.test"}
    response = digest_response(md5(f"1001:other.test:{PASSWORD}"), f)
    return derive(form("register_1001"), sip_auth_realm="other.test", sip_auth_response=response)


async def restrict_to_office(conn: asyncpg.Connection) -> None:
    office = "192.0.2.0/24, 198.51.100.7/32"
    await conn.execute("UPDATE extensions SET extn_cidr = $1 WHERE extn = '1001'", office)


async def restrict_to_here(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE extensions SET extn_cidr = '192.0.2.0/24,127.0.0.0/8' WHERE extn = '1001'")


# fmt: off
CASES = [
    pytest.param("register_1001", restrict_to_office, "1001", Reason.OUTSIDE_CIDR, {}, id="outside-cidr"),
    pytest.param("register_1001", restrict_to_here, "1001", Reason.REGISTERED, {}, id="inside-cidr"),
    pytest.param("register_1001", nothing, "1001", Reason.REGISTERED, {}, id="registered"),
    pytest.param("register_1001_wrong_password", nothing, "1001", Reason.WRONG_PASSWORD, {}, id="wrong"),
    pytest.param("register_unknown_user_1009", nothing, "1009", Reason.UNKNOWN_USER, {}, id="unknown-user"),
    pytest.param("register_1001_at_domain_username", nothing, "1001", Reason.REGISTERED, {}, id="ha1b"),
    pytest.param("invite_1001_to_1002_sip_auth", nothing, "1001", Reason.AUTHENTICATED, {}, id="invite"),
    pytest.param("register_1001", disable_extension, "1001", Reason.EXTENSION_DISABLED, {}, id="disabled"),
    pytest.param("register_1001", delete_extension, "1001", Reason.EXTENSION_DELETED, {}, id="deleted"),
    pytest.param("register_1001", disable_owner, "1001", Reason.OWNER_DISABLED, {}, id="owner-disabled"),
    pytest.param("register_1001", remove_credentials, "1001", Reason.NO_CREDENTIAL, {}, id="no-credential"),
    pytest.param(other_realm, nothing, "1001", Reason.REALM_MISMATCH, {}, id="realm-refused"),
    pytest.param(
        other_realm_right_password, nothing, "1001", Reason.REGISTERED,
        {"directory__realm_mismatch": "password"}, id="realm-password-sent",
    ),
    pytest.param(
        other_realm, nothing, "1001", Reason.WRONG_PASSWORD,
        {"directory__realm_mismatch": "password"}, id="realm-password-wrong",
    ),
]
# fmt: on


@pytest.mark.parametrize(("body", "prepare", "extn", "reason", "settings"), CASES)
async def test_each_outcome_is_recorded_with_its_reason(  # noqa: PLR0917 (parametrised)
    start_guarded: StartGuarded,
    conn: asyncpg.Connection,
    extensions: dict[str, int],
    body: str | Callable[[], bytes],
    prepare: Setup,
    extn: str,
    reason: Reason,
    settings: dict[str, str],
) -> None:
    await prepare(conn)
    client = await start_guarded(**settings)
    status, _ = await post(client, form(body) if isinstance(body, str) else body())
    assert status == 200
    guard = guard_of(client)
    await eventually(lambda: guard.history.of(key_of(extn, DOMAIN)), what="attempt recorded")
    attempts = guard.history.of(key_of(extn, DOMAIN))
    assert [a.reason for a in attempts] == [reason]
    assert attempts[0].source == "lookup" and attempts[0].node == "vm" and attempts[0].ip == "127.0.0.1"
    if "realm" in str(body):
        assert "directory.realm_mismatch" in attempts[0].detail
    text = await (await client.get("/metrics")).text()
    assert f'bridge_guard_attempts_total{{reason="{reason.value}"}} 1.0' in text


async def test_the_api_serves_attempts_newest_first_with_words(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded()
    await post(client, form("register_1001"))
    await post(client, form("register_1001_wrong_password"))
    guard = guard_of(client)
    await eventually(lambda: len(guard.history.of(key_of("1001", DOMAIN))) == 2)
    token = await login(client)
    response = await client.get(
        f"/api/extensions/{extensions['1001']}/registration_attempts", headers=auth(token)
    )
    assert response.status == 200
    body = await response.json()
    assert [a["outcome"] for a in body["attempts"]] == ["wrong_password", "registered"]
    first = body["attempts"][0]
    assert (first["ip"], first["port"], first["username"], first["realm"], first["node"]) == (
        "127.0.0.1", "5091", "1001", DOMAIN, "vm",
    )  # fmt: skip
    assert first["user_agent"] == "baresip v1.0.0 (x86_64/linux)"
    assert "password" in first["change"]
    assert body["verdict"]["ok"] is False and "wrong password" in body["verdict"]["says"]
    # Nothing secret reaches the answer.
    text = await response.text()
    for secret in (fields("register_1001")["sip_auth_response"], fields("register_1001")["sip_auth_nonce"]):
        assert secret not in text
    # Without a token (the login's cookie forgotten): refused.
    client.session.cookie_jar.clear()
    assert (await client.get(f"/api/extensions/{extensions['1001']}/registration_attempts")).status == 401
    why = await client.get("/api/guard/why", params={"user": "1001@xswitch.test"}, headers=auth(token))
    assert (await why.json())["attempts"] == body["attempts"]
    bad = await client.get("/api/guard/why", params={"user": "no-domain"}, headers=auth(token))
    assert bad.status == 400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param("register_1001", Reason.REGISTERED, id="right"),
        pytest.param("register_1001_wrong_password", Reason.WRONG_PASSWORD, id="wrong"),
    ],
)
async def test_given_no_extension_cache_the_digest_is_judged_from_the_record_the_lookup_read(
    start_guarded: StartGuarded, extensions: dict[str, int], body: str, reason: Reason
) -> None:
    # cache_size=0: every read is a database statement; the guard must not double them.
    client = await start_guarded(directory__cache_size="0")
    guard = guard_of(client)
    status, _ = await post(client, form(body))
    assert status == 200
    await eventually(lambda: guard.history.of(key_of("1001", DOMAIN)), what="attempt recorded")
    assert [a.reason for a in guard.history.of(key_of("1001", DOMAIN))] == [reason]
    # One read of the record, the lookup's: the guard judged from it, it did not read again.
    assert app_sample(client.app, "bridge_directory_cache_requests_total", result="miss") == 1
