"""What schemathesis found against `bridge serve --demo` (issue 22, docs/admin-api.md "OpenAPI"),
one regression each: a request the served schema calls valid is accepted, one it calls
invalid is refused with a 4xx, and nothing answers 5xx."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from bridge.api.openapi.document import DOCUMENT
from tests.api.conftest import Api
from tests.api.helpers import DOMAIN, auth, request_schema, validate
from tests.api.provision.test_provision import call
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
    # False where OpenAPI 3.0 cannot say it (one key only with another): the summary does
    schema_states: bool = True


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
    # The second run (the first batch fixed): a 500, keys ignored, rules unstated.
    Finding(
        "import-super-as-object",  # was a 500 (an unhashable value looked up)
        "POST",
        "/api/users/import",
        "/api/users/import",
        {"users": [{"登录名": "u4", "名称": "u4", "密码": GOOD_PASSWORD, "超级管理员": {}}]},
        False,
    ),
    Finding(
        "import-name-control",
        "POST",
        "/api/users/import",
        "/api/users/import",
        {"users": [{"登录名": "u5", "名称": "a\x03b", "密码": GOOD_PASSWORD}]},
        False,
    ),
    Finding(
        "create-extn-object",  # was read as "not given" and the login used
        "POST",
        "/api/users/create",
        "/api/users/create",
        {
            "login": "u6",
            "name": "u6",
            "password": GOOD_PASSWORD,
            "extn": {},
            "extn_password": "Ext1234pw",
            "context": "default",
        },
        False,
    ),
    Finding(
        "create-extn-type-empty",
        "POST",
        "/api/users",
        "/api/users",
        {
            "login": "u7",
            "name": "u7",
            "password": GOOD_PASSWORD,
            "extn_type": "",
            "extn_password": "Ext1234pw",
            "context": "default",
        },
        True,  # "" is "not given", as for extn
    ),
    Finding(
        "create-extn-type-without-extension",  # was ignored: no extension to carry it
        "POST",
        "/api/users",
        "/api/users",
        {"login": "u8", "name": "u8", "password": GOOD_PASSWORD, "extn_type": "SIP"},
        False,
        schema_states=False,
    ),
    Finding(
        "dev-key-unknown-key",  # was ignored
        "POST",
        "/api/users/dev_keys",
        "/api/users/dev_keys",
        {"description": "", "x-unknown": 42},
        False,
    ),
    Finding(
        "muti-add-type-empty",
        "POST",
        "/api/users/muti_add",
        "/api/users/muti_add",
        {"users_start": 3000, "users_end": 3001, "password": GOOD_PASSWORD, "type": ""},
        False,
    ),
    Finding(
        "change-own-password-empty-old",
        "PUT",
        "/api/users/change_password",
        "/api/users/change_password",
        {"password": "New1234!pw", "old_password": ""},
        False,
    ),
    Finding("delete-by-empty-extn", "DELETE", "/api/users/delete", "/api/users/delete", {"extn": ""}, False),
    Finding("delete-minus-zero", "POST", "/api/users/delete", "/api/users/delete", [3555, "-0"], False),
    Finding(
        "extensions-muti-add-empty-context",
        "POST",
        "/api/extensions/muti_add",
        "/api/extensions/muti_add",
        {"extns_start": 3100, "extns_end": 3101, "context": "", "user_id": "{owner}"},
        False,
    ),
    Finding(
        "bulk-numeric-extns",
        "PUT",
        "/api/extensions",
        "/api/extensions",
        {"extns": [1001], "name": "n"},
        True,
    ),
    Finding(
        "extension-voicemail-action",
        "PUT",
        "/api/extensions/{extn_id}",
        "/api/extensions/{id}",
        {"action": {}},
        False,
    ),
    # A number was read as its digits ("-58800" a realm): a realm is text.
    Finding(
        "group-realm-number", "POST", "/api/groups", "/api/groups", {"name": "g2", "realm": -58800}, False
    ),
    Finding(
        "bulk-idle-null",  # null: not set, the type is
        "PUT",
        "/api/users",
        "/api/users/",
        {"idle_timeout": None, "type": "AGENT", "username": ["1001"]},
        True,
    ),
    Finding(
        "group-member-zero",
        "POST",
        "/api/groups/members",
        "/api/groups/members",
        [{"group_id": "{group}", "user_id": "0"}],
        False,
    ),
    Finding(
        "group-member-both-kinds",
        "POST",
        "/api/groups/{group}/member",
        "/api/groups/{id}/member",
        {"user_id": "{owner}", "extn_id": "{extn_id}"},
        False,
    ),
    # The third run.
    Finding(
        "create-numeric-extn",
        "POST",
        "/api/users/create",
        "/api/users/create",
        {
            "login": "u9",
            "name": "u9",
            "password": GOOD_PASSWORD,
            "extn": 3309,
            "extn_password": "Ext1234pw",
            "context": "default",
        },
        True,
    ),
    Finding(
        "dev-key-description-object",  # was read as "no description"
        "POST",
        "/api/users/dev_keys",
        "/api/users/dev_keys",
        {"description": {}},
        False,
    ),
    Finding(
        "muti-add-empty-context",
        "POST",
        "/api/users/muti_add",
        "/api/users/muti_add",
        {"users_start": 3000, "users_end": 3001, "password": GOOD_PASSWORD, "context": ""},
        False,
    ),
    Finding(
        "change-password-id-zero",
        "PUT",
        "/api/users/change_password",
        "/api/users/change_password",
        {"password": "New1234!pw", "id": 0},
        False,
    ),
    # The fourth run.
    Finding(
        "create-numeric-login",
        "POST",
        "/api/users/create",
        "/api/users/create",
        {"login": 3310, "name": "n", "password": GOOD_PASSWORD},
        True,
    ),
    Finding(
        "dev-key-description-null",
        "POST",
        "/api/users/dev_keys",
        "/api/users/dev_keys",
        {"description": None},
        True,
    ),
    Finding(
        "muti-add-empty-domain",
        "POST",
        "/api/users/muti_add",
        "/api/users/muti_add",
        {"users_start": 3000, "users_end": 3001, "password": GOOD_PASSWORD, "domain": ""},
        False,
    ),
    Finding(
        "change-own-password-without-old",
        "PUT",
        "/api/users/change_password",
        "/api/users/change_password",
        {"password": "New1234!pw"},
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


async def test_a_bulk_update_without_logins_answers_a_documented_406(api: Api) -> None:
    status, answer = await call(api, "PUT", "/api/users", {"type": "AGENT", "username": None})
    assert (status, answer["message"]) == (406, "Missing Args: username")
    assert "406" in DOCUMENT["paths"]["/api/users/"]["put"]["responses"]


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.name)
async def test_the_server_does_what_the_schema_says_of_each_finding(
    api: Api, conn: asyncpg.Connection, finding: Finding
) -> None:
    owner = await conn.fetchval("UPDATE users SET is_super = 1 WHERE login = 'admin' RETURNING id")
    await add_user(conn, "1001", domain=DOMAIN)  # a numeric login, for the bulk update
    ids = {
        "extn_id": await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'"),
        "owner": owner,
        "group": await conn.fetchval(
            "INSERT INTO groups (name, group_type, realm, level) VALUES ('u', 0, $1, 0) RETURNING id", DOMAIN
        ),
    }
    url, body = finding.url, json.dumps(finding.body)
    for name, value in ids.items():
        url = url.replace(f"{{{name}}}", str(value))
        body = body.replace(f'"{{{name}}}"', str(value))
    fits_schema = fits(json.loads(body), finding.path, finding.method.lower())
    assert fits_schema is (finding.valid or not finding.schema_states)
    status, answer = await call(api, finding.method, url, json.loads(body))
    assert (200 <= status < 300) if finding.valid else (400 <= status < 500), (status, answer)
    assert str(status) in DOCUMENT["paths"][finding.path][finding.method.lower()]["responses"], status


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
    status, answer = await call(api, "GET", f"/api/groups/{group}/remain_extns?perPage=1001")
    assert status == 200 and answer["rowCount"] == 3, answer
    # Beyond 32 bits: 400, and the schema's maximum says so (the fifth run found it unstated).
    assert per_page["schema"]["maximum"] == 2**31 - 1
    status, _ = await call(api, "GET", f"/api/groups/{group}/remain_extns?perPage={2**31}")
    assert status == 400


async def test_query_rules_found_are_stated(api: Api) -> None:
    parameters = DOCUMENT["paths"]["/api/users/dev_keys"]["delete"]["parameters"]
    assert [p["schema"] for p in parameters if p["name"] == "id"] == [{"type": "integer", "minimum": 1}]
    status, _ = await call(api, "DELETE", "/api/users/dev_keys?id=0")
    assert status == 406
    (user,) = DOCUMENT["paths"]["/api/guard/why"]["get"]["parameters"]
    assert not re.match(user["schema"]["pattern"], "")
    status, _ = await call(api, "GET", "/api/guard/why?user=")
    assert status == 400


async def test_hpack_takes_any_word_as_its_schema_says(api: Api) -> None:
    (hpack,) = [p for p in DOCUMENT["paths"]["/api/extensions"]["get"]["parameters"] if p["name"] == "hpack"]
    assert hpack["schema"] == {"type": "string"}
    status, answer = await call(api, "GET", "/api/extensions?hpack=null")
    assert (status, answer["hpack"]) == (200, False)


async def test_an_undeclared_method_answers_405_with_the_allowed_methods(api: Api) -> None:
    response = await api.client.request("TRACE", "/api/groups", headers=auth(api.token))
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}
    assert (await response.json())["message"] == "method not allowed"  # XUI's error shape
