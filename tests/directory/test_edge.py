"""The edge: who may ask, bad input, secrets in logs, a database that cannot answer."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest
from lxml import etree

from bridge.keys import DATABASE
from tests.conftest import AppClient
from tests.directory.helpers import FORM_TYPE, fields, is_not_found, params, post, user_node, variables
from tests.factories import add_extension
from tests.support.captures import PASSWORD, form


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(b"section=configuration&key_value=x", None, 400, id="wrong-section"),
        pytest.param(b"hostname=vm&tag_name=domain", None, 400, id="missing-section"),
        pytest.param(b"section=directory&action=sip_auth&domain=d", None, 400, id="missing-user"),
        pytest.param(b"section=directory&user=\xff\xfe", None, 400, id="not-utf8"),
        pytest.param(
            b"section=directory&user=%ff%fe&domain=d&Event-Name=x", None, 400, id="percent-not-utf8"
        ),
        pytest.param(b"&".join([b"a=b"] * 2000), None, 400, id="too-many-fields"),
        pytest.param(b"x" * 70_000, None, 413, id="oversized"),
        pytest.param(b"section=directory", "application/json", 415, id="wrong-content-type"),
    ],
)
async def test_given_bad_input_then_4xx_with_one_line_reason(
    app_client: AppClient, body: bytes, content_type: str | None, status: int
) -> None:
    client = await app_client()
    headers = {"Content-Type": content_type} if content_type else {}
    got, raw = await post(client, body, **headers)
    assert got == status
    assert raw.count(b"\n") == 1 and b"Traceback" not in raw


async def test_given_oversized_chunked_body_without_length_then_413_with_one_line_reason(
    app_client: AppClient,
) -> None:
    # No Content-Length to refuse it by: the limit is found while reading the whole body.
    client = await app_client()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 10_000

    resp = await client.post("/directory", data=chunks(), headers={"Content-Type": FORM_TYPE})
    raw = await resp.read()
    assert resp.status == 413
    assert raw == b"body too large\n"


async def test_given_credentials_configured_when_missing_or_wrong_then_401_else_answered(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(directory__username="fs", directory__password="s3cret")
    good = "Basic " + base64.b64encode(b"fs:s3cret").decode()
    bad = "Basic " + base64.b64encode(b"fs:nope").decode()
    assert (await post(client, form("register_1001")))[0] == 401
    assert (await post(client, form("register_1001"), Authorization=bad))[0] == 401
    assert (await post(client, form("register_1001"), Authorization="Basic !!!"))[0] == 401
    status, body = await post(client, form("register_1001"), Authorization=good)
    assert status == 200 and b"a1-hash" in body


@pytest.mark.parametrize(("allow", "status"), [("10.0.0.0/8", 403), ("127.0.0.0/8,::1/128", 200)])
async def test_given_allow_list_then_only_listed_sources_are_answered(
    app_client: AppClient, conn: asyncpg.Connection, allow: str, status: int
) -> None:
    await add_extension(conn, "1001")
    client = await app_client(directory__allow_from=allow)
    assert (await post(client, form("register_1001")))[0] == status


async def test_given_lookups_then_logs_name_the_request_and_never_its_secrets(
    app_client: AppClient, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    await add_extension(conn, "1001", vm_password="9753")
    client = await app_client(directory__send_password="true")
    caplog.set_level(logging.DEBUG)
    for name in ("register_1001", "register_1001_wrong_password", "register_unknown_user_1009"):
        assert (await post(client, form(name), **{"X-Request-Id": "req-42"}))[0] == 200
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "action=sip_auth user=1001 domain=xswitch.test" in text
    f = fields("register_1001")
    row = await conn.fetchrow("SELECT ha1, ha1b FROM extensions WHERE extn = '1001'")
    for secret in (
        PASSWORD,
        "9753",
        row["ha1"],
        row["ha1b"],
        f["sip_auth_nonce"],
        f["sip_auth_response"],
        f["sip_auth_cnonce"],
    ):
        assert secret not in text


async def test_given_database_gone_when_lookup_then_503_quickly(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client()
    await client.app[DATABASE].pool.close()
    status, body = await post(client, form("register_unknown_user_1009"))
    assert status == 503
    assert body == b"database unavailable\n"


async def test_given_stored_values_with_preprocessor_syntax_or_markup_then_inert_and_escaped(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", cid_name='$${hold_music}<x/>&"\x01', group_name="$${a}", intercept=1)
    client = await app_client()
    status, body = await post(client, form("register_1001"))
    assert status == 200 and b"$${" not in body
    got = variables(user_node(etree.fromstring(body)))
    assert got["effective_caller_id_name"] == '$$ {hold_music}<x/>&"'


async def test_given_sip_auth_answer_then_shape_is_what_freeswitch_accepts(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    await add_extension(conn, "1002")
    client = await app_client()
    status, body = await post(client, form("register_1001"))
    assert status == 200
    doc = etree.fromstring(body)
    assert doc.tag == "document" and doc.get("type") == "freeswitch/xml"
    assert [d.get("name") for d in doc.findall("section[@name='directory']/domain")] == ["xswitch.test"]
    user = user_node(doc)
    assert user.get("type") is None and params(user)["a1-hash"]
    assert b"\n" not in body.partition(b"?>")[2].strip()  # not pretty-printed


async def test_given_unknown_domain_then_not_found(app_client: AppClient, conn: asyncpg.Connection) -> None:
    await add_extension(conn, "1001", domain="other.test")
    client = await app_client()
    for name in (
        "register_1001",
        "xml_locate_directory_domain",
        "list_users_domain",
        "startup_acl_network_list",
    ):
        status, body = await post(client, form(name))
        assert status == 200 and is_not_found(etree.fromstring(body)), name
