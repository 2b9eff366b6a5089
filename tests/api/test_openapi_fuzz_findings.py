"""What schemathesis found against `bridge serve --demo` (issue 22, docs/admin-api.md "OpenAPI"),
one regression each: a request the served schema calls valid is accepted, one it calls
invalid is refused with a 4xx, and nothing answers 5xx."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from bridge.api.openapi import DOCUMENT
from tests.api.conftest import Api
from tests.api.helpers import DOMAIN, auth, request_schema, validate
from tests.api.test_provision import call
from tests.factories import add_user

GOOD_PASSWORD = "123!@#QWEqwe"  # the document's; meets the user rule


def fits(value: Any, path: str, method: str) -> bool:
    try:
        validate(value, request_schema(path, method))
    except AssertionError:
        return False
    return True


@dataclass(frozen=True)
class Finding:
    name: str
    method: str
    url: str
    path: str  # the OpenAPI path template
    body: Any
    valid: bool  # what the schema says, and so what the server must do


FINDINGS = [
    # Accepted by the server, refused by the schema before: the schema now says so.
    Finding("group-realm-null", "POST", "/api/groups", "/api/groups", {"name": "g", "realm": None}, True),
    Finding(
        "user-mac-null",
        "POST",
        "/api/users",
        "/api/users",
        {"login": "u1", "name": "u1", "password": GOOD_PASSWORD, "mac_address": None},
        True,
    ),
    Finding(
        "bulk-numeric-login", "PUT", "/api/users", "/api/users/", {"type": "AGENT", "username": [1001]}, True
    ),
    # Refused by the server, allowed by the schema before: the schema now states the rule.
    Finding(
        "create-empty-password",
        "POST",
        "/api/users/create",
        "/api/users/create",
        {"login": "u2", "name": "u2", "password": ""},
        False,
    ),
    Finding(
        "muti-add-weak-password",
        "POST",
        "/api/users/muti_add",
        "/api/users/muti_add",
        {"users_start": 3000, "users_end": 3001, "password": "00000000"},
        False,
    ),
    Finding(
        "change-password-empty",
        "PUT",
        "/api/users/change_password",
        "/api/users/change_password",
        {"password": ""},
        False,
    ),
    Finding(
        "import-weak-password",
        "POST",
        "/api/users/import",
        "/api/users/import",
        {"users": [{"登录名": "u3", "名称": "u3", "密码": "00000000"}]},
        False,
    ),
    Finding("delete-no-ids", "POST", "/api/users/delete", "/api/users/delete", [], False),
    Finding(
        "dev-key-empty-credentials",
        "POST",
        "/api/users/dev_keys",
        "/api/users/dev_keys",
        {"username": "", "password": "", "domain": "xswitch.test"},
        False,
    ),
    Finding(
        "extension-cidr-not-a-network",
        "PUT",
        "/api/extensions/{extn_id}",
        "/api/extensions/{id}",
        {"extn_cidr": "0"},
        False,
    ),
]


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.name)
async def test_the_server_does_what_the_schema_says_of_each_finding(
    api: Api, conn: asyncpg.Connection, finding: Finding
) -> None:
    await conn.execute("UPDATE users SET is_super = 1 WHERE login = 'admin'")
    await add_user(conn, "1001", domain=DOMAIN)  # a numeric login, for the bulk update
    extn_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    url = finding.url.replace("{extn_id}", str(extn_id))
    assert fits(finding.body, finding.path, finding.method.lower()) is finding.valid
    status, answer = await call(api, finding.method, url, finding.body)
    assert (200 <= status < 300) if finding.valid else (400 <= status < 500), (status, answer)


async def test_a_dev_key_request_without_a_body_is_valid_with_a_session(api: Api) -> None:
    operation = DOCUMENT["paths"]["/api/users/dev_keys"]["post"]
    assert operation["requestBody"]["required"] is False
    response = await api.client.post("/api/users/dev_keys", headers=auth(api.token))
    assert response.status == 200, await response.text()


async def test_paging_past_the_largest_page_reads_as_the_largest(api: Api, conn: asyncpg.Connection) -> None:
    group = await conn.fetchval(
        "INSERT INTO groups (name, group_type, realm, level) VALUES ('e', 1, 'xswitch.test', 0) RETURNING id"
    )
    (per_page,) = [
        p
        for p in DOCUMENT["paths"]["/api/groups/{id}/remain_extns"]["get"]["parameters"]
        if p["name"] == "perPage"
    ]
    assert "maximum" not in per_page["schema"]
    status, answer = await call(api, "GET", f"/api/groups/{group}/remain_extns?perPage=1001")
    assert status == 200 and answer["rowCount"] == 3, answer


async def test_hpack_takes_any_word_as_its_schema_says(api: Api) -> None:
    (hpack,) = [p for p in DOCUMENT["paths"]["/api/extensions"]["get"]["parameters"] if p["name"] == "hpack"]
    assert hpack["schema"] == {"type": "string"}
    status, answer = await call(api, "GET", "/api/extensions?hpack=null")
    assert (status, answer["hpack"]) == (200, False)


async def test_an_undeclared_method_answers_405_with_the_allowed_methods(api: Api) -> None:
    response = await api.client.request("TRACE", "/api/groups", headers=auth(api.token))
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}
