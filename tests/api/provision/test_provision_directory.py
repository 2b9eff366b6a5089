"""Provisioned extensions as FreeSWITCH sees them: captured REGISTER forms answered with the
new hashes, refused once disabled or deleted, and changes on one instance heard on another."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from lxml import etree

from tests.api.conftest import StartApi
from tests.api.helpers import DOMAIN, add_admin, auth, login
from tests.directory.helpers import FORM_TYPE, digest_response, fields, is_not_found, params, user_node
from tests.support.captures import PASSWORD, form, md5
from tests.support.client import Client
from tests.support.poll import eventually_value


async def api_call(client: Client, token: str, method: str, url: str, body: Any) -> Any:
    headers = {**auth(token), "Content-Type": "application/json"}
    response = await client.request(method, url, data=json.dumps(body), headers=headers)
    answer = await response.json()
    assert response.status == 200, answer
    return answer


async def directory(client: Client, body: bytes) -> etree._Element:
    response = await client.post("/directory", data=body, headers={"Content-Type": FORM_TYPE})
    assert response.status == 200
    return etree.fromstring(await response.read())


def a1_hash(doc: etree._Element) -> str | None:
    return None if is_not_found(doc) else params(user_node(doc))["a1-hash"]


def rewritten(name: str, extn: str) -> bytes:
    """The captured form as the same phone would send it registered as ``extn``."""
    body = form(name)
    for field in (b"sip_auth_username=1001", b"user=1001", b"sip_from_user=1001", b"sip_to_user=1001"):
        body = body.replace(field, field.replace(b"1001", extn.encode()))
    return body


@pytest.fixture
async def admin_app(conn: asyncpg.Connection, start_api: StartApi) -> tuple[Client, str]:
    await add_admin(conn)
    client = await start_api()
    return client, await login(client)


async def test_given_extension_created_then_captured_registers_reproduce_the_phones_digests(
    admin_app: tuple[Client, str],
) -> None:
    client, token = admin_app
    body = {"extn": "1001", "password": PASSWORD, "login": "admin", "context": "default"}
    await api_call(client, token, "POST", "/api/extensions", body)
    for name in ("register_1001", "register_1001_at_domain_username"):
        f = fields(name)
        assert (
            digest_response(a1_hash(await directory(client, form(name))) or "", f) == f["sip_auth_response"]
        )


async def test_given_new_extension_when_its_register_arrives_then_ha1_and_ha1b_are_its_own(
    admin_app: tuple[Client, str],
) -> None:
    client, token = admin_app
    assert a1_hash(await directory(client, rewritten("register_1001", "1077"))) is None  # cached as absent
    body = {"extns_start": 1070, "extns_end": 1079, "password": "Fresh9Pass", "user_id": 1}
    await api_call(client, token, "POST", "/api/extensions/muti_add", body)
    plain = await eventually_value(
        lambda: directory(client, rewritten("register_1001", "1077")), a1_hash, 1.0
    )
    assert a1_hash(plain) == md5(f"1077:{DOMAIN}:Fresh9Pass")
    at_domain = await directory(client, rewritten("register_1001_at_domain_username", "1077"))
    assert a1_hash(at_domain) == md5(f"1077@{DOMAIN}:{DOMAIN}:Fresh9Pass")


async def test_given_extension_disabled_then_deleted_then_its_next_register_is_refused(
    admin_app: tuple[Client, str],
) -> None:
    client, token = admin_app
    body = {"extn": "1001", "password": PASSWORD, "login": "admin"}
    ext_id = (await api_call(client, token, "POST", "/api/extensions", body))["data"]["id"]

    def register() -> Any:
        return directory(client, form("register_1001"))

    assert a1_hash(await register()) is not None  # cached now
    await api_call(client, token, "PUT", f"/api/extensions/{ext_id}", {"disabled": 1})
    await eventually_value(register, lambda doc: a1_hash(doc) is None, 1.0)
    await api_call(client, token, "PUT", f"/api/extensions/{ext_id}", {"disabled": "0"})
    await eventually_value(register, lambda doc: a1_hash(doc) is not None, 1.0)
    response = await client.delete(f"/api/extensions/{ext_id}", headers=auth(token))
    assert response.status == 200
    await eventually_value(register, lambda doc: a1_hash(doc) is None, 1.0)


async def test_given_user_disabled_or_deleted_then_its_extensions_are_refused(
    admin_app: tuple[Client, str],
) -> None:
    client, token = admin_app
    body = {
        "login": "kim",
        "name": "Kim",
        "password": "Kim!pass12",
        "extn": "1001",
        "context": "default",
        "extn_password": PASSWORD,
    }
    user_id = (await api_call(client, token, "POST", "/api/users", body))["data"]

    def register() -> Any:
        return directory(client, form("register_1001"))

    assert a1_hash(await register()) is not None
    await api_call(client, token, "PUT", f"/api/users/{user_id}", {"disabled": 1})
    await eventually_value(register, lambda doc: a1_hash(doc) is None, 1.0)
    await api_call(client, token, "PUT", f"/api/users/{user_id}", {"disabled": 0})
    await eventually_value(register, lambda doc: a1_hash(doc) is not None, 1.0)
    await api_call(client, token, "POST", "/api/users/delete", [user_id])
    await eventually_value(register, lambda doc: a1_hash(doc) is None, 1.0)


async def test_given_two_instances_when_one_changes_a_password_then_the_other_answers_it_within_a_second(
    admin_app: tuple[Client, str], start_api: StartApi
) -> None:
    first, token = admin_app
    second = await start_api()  # another bridge on the same database
    body = {"extn": "1001", "password": "Before12pw", "login": "admin"}
    ext_id = (await api_call(first, token, "POST", "/api/extensions", body))["data"]["id"]

    def register() -> Any:
        return directory(second, form("register_1001"))

    before = await eventually_value(register, a1_hash, 1.0)
    assert a1_hash(before) == md5(f"1001:{DOMAIN}:Before12pw")  # now in the second's cache
    await api_call(first, token, "PUT", f"/api/extensions/{ext_id}", {"password": PASSWORD})
    after = await eventually_value(
        register, lambda doc: a1_hash(doc) == md5(f"1001:{DOMAIN}:{PASSWORD}"), 1.0
    )
    f = fields("register_1001")
    assert digest_response(a1_hash(after) or "", f) == f["sip_auth_response"]
