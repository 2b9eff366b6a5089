"""sip_auth: the answer FreeSWITCH digests with, replayed from real REGISTER/INVITE/SUBSCRIBE forms."""

from __future__ import annotations

import asyncpg
import pytest
from lxml import etree

from tests.conftest import AppClient
from tests.directory.helpers import digest_response, fields, is_not_found, lookup, params, post, user_node
from tests.factories import add_extension, add_user
from tests.support.captures import PASSWORD, form, md5
from tests.support.metrics import app_sample

PLAIN_FORMS = [
    "register_1001",
    "register_1002",
    "unregister_1001",
    "unregister_1002",
    "register_1002_short_expiry",
    "register_1002_expires_header",
    "unregister_1002_contact_star",
    "invite_1001_to_1002_sip_auth",
    "subscribe_1001_sip_auth",
    "subscribe_1001_sip_auth_second",
]
AT_FORMS = [
    "register_1001_at_domain_username",
    "unregister_1001_at_domain_username",
    "register_1001_at_domain_username_answer_id_not_echoed",
    "register_1001_at_domain_username_answer_ha1_not_ha1b",
]


@pytest.fixture
async def two_phones(conn: asyncpg.Connection) -> None:
    await add_extension(conn, "1001")
    await add_extension(conn, "1002")


@pytest.mark.usefixtures("two_phones")
@pytest.mark.parametrize("name", PLAIN_FORMS)
async def test_given_plain_digest_username_when_sip_auth_then_a1_hash_reproduces_the_phones_response(
    app_client: AppClient, name: str
) -> None:
    client = await app_client()
    doc = await lookup(client, name)
    f = fields(name)
    user = user_node(doc)
    assert user.get("id") == f["user"]
    assert digest_response(params(user)["a1-hash"], f) == f["sip_auth_response"]


@pytest.mark.usefixtures("two_phones")
@pytest.mark.parametrize("name", AT_FORMS)
async def test_given_at_domain_digest_username_when_sip_auth_then_id_is_echoed_and_hash_is_ha1b(
    app_client: AppClient, name: str
) -> None:
    client = await app_client()
    doc = await lookup(client, name)
    f = fields(name)
    user = user_node(doc)
    a1 = params(user)["a1-hash"]
    # The two answers FreeSWITCH refused with 403 in the captures: id "1001", or ha1.
    assert user.get("id") == "1001@xswitch.test"
    assert a1 != md5(f"1001:xswitch.test:{PASSWORD}")
    assert a1 == md5(f"1001@xswitch.test:xswitch.test:{PASSWORD}")
    if name.endswith("at_domain_username"):
        assert digest_response(a1, f) == f["sip_auth_response"]


@pytest.mark.usefixtures("two_phones")
async def test_given_wrong_password_form_when_sip_auth_then_answer_is_normal_and_digest_does_not_match(
    app_client: AppClient,
) -> None:
    client = await app_client()
    doc = await lookup(client, "register_1001_wrong_password")
    f = fields("register_1001_wrong_password")
    assert digest_response(params(user_node(doc))["a1-hash"], f) != f["sip_auth_response"]


@pytest.mark.usefixtures("two_phones")
async def test_given_no_such_user_when_sip_auth_then_not_found(app_client: AppClient) -> None:
    client = await app_client()
    assert is_not_found(await lookup(client, "register_unknown_user_1009"))


async def test_given_only_a_password_stored_when_sip_auth_then_hashes_are_computed(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", hashes=False)
    client = await app_client()
    for name in ("register_1001", "register_1001_at_domain_username"):
        f = fields(name)
        a1 = params(user_node(await lookup(client, name)))["a1-hash"]
        assert digest_response(a1, f) == f["sip_auth_response"]


async def test_given_neither_password_nor_hash_when_sip_auth_then_not_found(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", password="", hashes=False)
    client = await app_client()
    assert is_not_found(await lookup(client, "register_1001"))


async def test_given_default_config_when_sip_auth_then_no_plaintext_password_and_empty_refused(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    got = params(user_node(await lookup(client, "register_1001")))
    assert "password" not in got
    assert got["allow-empty-password"] == "false"
    status, body = await post(client, form("register_1001"))
    assert status == 200
    assert PASSWORD.encode() not in body


async def test_given_send_password_when_sip_auth_then_password_param_is_sent(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(directory__send_password="true")
    assert params(user_node(await lookup(client, "register_1001")))["password"] == PASSWORD


@pytest.mark.parametrize(
    ("row", "user"),
    [
        pytest.param({"disabled": 1}, {}, id="extension-disabled"),
        pytest.param({"deleted_at": "now"}, {}, id="extension-soft-deleted"),
        pytest.param({}, {"disabled": 1}, id="user-disabled"),
        pytest.param({}, {"deleted_at": "now"}, id="user-soft-deleted"),
    ],
)
async def test_given_extension_or_owner_not_allowed_when_sip_auth_then_not_found(
    app_client: AppClient, conn: asyncpg.Connection, row: dict[str, object], user: dict[str, object]
) -> None:
    now = await conn.fetchval("SELECT now()::timestamp")
    user_id = await add_user(conn, "owner", **{k: (now if v == "now" else v) for k, v in user.items()})
    await add_extension(
        conn, "1001", user_id=user_id, **{k: (now if v == "now" else v) for k, v in row.items()}
    )
    client = await app_client()
    assert is_not_found(await lookup(client, "register_1001"))


async def test_given_owner_web_login_locked_when_sip_auth_then_the_phone_still_gets_its_hash(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    # users.is_locked is what failed web logins set (anyone can cause it): never a SIP refusal.
    user_id = await add_user(conn, "admin", is_super=1, is_locked=True, login_attempts=5)
    await add_extension(conn, "1001", user_id=user_id)
    client = await app_client()
    doc = await lookup(client, "register_1001")
    f = fields("register_1001")
    assert digest_response(params(user_node(doc))["a1-hash"], f) == f["sip_auth_response"]


async def test_given_same_extension_in_two_domains_when_sip_auth_then_the_requested_domain_answers(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", domain="other.test", password="elsewhere")
    await add_extension(conn, "1001")
    client = await app_client()
    doc = await lookup(client, "register_1001")
    assert [d.get("name") for d in doc.findall("section/domain")] == ["xswitch.test"]
    f = fields("register_1001")
    assert digest_response(params(user_node(doc))["a1-hash"], f) == f["sip_auth_response"]


async def test_given_extension_only_in_another_domain_when_sip_auth_then_not_found(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", domain="other.test")
    client = await app_client()
    assert is_not_found(await lookup(client, "register_1001"))


def _with_realm(realm: str) -> bytes:
    # The real REGISTER with only the digest realm changed, as a phone would send when
    # the profile challenges with a realm other than the extension's domain.
    return form("register_1001").replace(b"sip_auth_realm=xswitch.test", f"sip_auth_realm={realm}".encode())


async def test_given_realm_mismatch_and_refuse_when_sip_auth_then_not_found_and_counted(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(directory__realm_mismatch="refuse")
    status, body = await post(client, _with_realm("other.realm"))
    assert status == 200
    assert body == form_not_found()
    assert app_sample(client.app, "bridge_directory_realm_mismatch_total", outcome="refused") == 1.0


async def test_given_realm_mismatch_and_password_when_sip_auth_then_only_password_is_sent(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(directory__realm_mismatch="password")
    status, body = await post(client, _with_realm("other.realm"))
    assert status == 200
    got = params(user_node(etree.fromstring(body)))
    assert got["password"] == PASSWORD
    assert "a1-hash" not in got  # sofia_reg.c would use a1-hash first, and it cannot match
    assert app_sample(client.app, "bridge_directory_realm_mismatch_total", outcome="password") == 1.0


def form_not_found() -> bytes:
    from tests.conftest import fixture_bytes

    return fixture_bytes("xml_curl", "harness_answers", "not_found.xml").strip()
