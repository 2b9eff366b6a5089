"""The served OpenAPI document states the rules the server enforces (issue 22): the document's
example bodies fit it, and a value outside a column's range, choices or pattern, or a key the
server refuses, breaks both the schema and the request."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from bridge.xui import columns
from tests.api.conftest import Api
from tests.api.helpers import document_examples, request_schema, validate
from tests.api.provision.test_provision import call

PUT_EXTENSION = ("/api/extensions/{id}", "put")


def fits(value: Any, path: str, method: str) -> bool:
    try:
        validate(value, request_schema(path, method))
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize(
    ("title", "path", "method"),
    [
        ("创建分机", "/api/extensions", "post"),
        ("创建用户同时创建用户分机", "/api/users", "post"),
        ("更新指定用户信息", "/api/users/{id}", "put"),
        ("修改用户信息", "/api/users/{id}", "put"),
        ("修改指定分机号用户信息", "/api/extensions/{id}", "put"),
    ],
    ids=str,
)
def test_the_documents_accepted_example_bodies_fit_the_schema(title: str, path: str, method: str) -> None:
    body = json.loads(document_examples(title, 1)[0])
    validate(body, request_schema(path, method))


def test_the_bulk_example_breaks_the_schema_only_by_its_dods() -> None:
    body = json.loads(document_examples("批量设置分机", 1)[0])
    assert not fits(body, "/api/extensions", "put")
    del body["dods"]
    assert fits(body, "/api/extensions", "put")


def _out_of_rule() -> list[Any]:
    cases: list[Any] = []
    for column in columns.SETTABLE:
        if column.answered_as == "int":
            cases.append(
                pytest.param(column.name, column.high, column.high + 1, id=f"{column.name}>{column.high}")
            )
            cases.append(
                pytest.param(column.name, str(column.low), column.low - 1, id=f"{column.name}<{column.low}")
            )
        elif column.choices:
            cases.append(pytest.param(column.name, column.choices[-1], "BOGUS", id=f"{column.name}-choice"))
    cases += [
        pytest.param("mac_address", "00:1A:2B:3C:4D:5E", "00:1A", id="mac_address"),
        pytest.param("context", "context-2", "two words", id="context"),
        pytest.param("extn_cidr", "10.0.0.0/8, 192.168.1.0/24", "0", id="extn_cidr"),
        pytest.param("extn_cidr", "", "10.0.0.0/8 192.168.1.0/24", id="extn_cidr-separator"),
        pytest.param("password", "Good1234pw", "short1A", id="password-length"),
        pytest.param("password", "Good1234pw", "nouppercase1", id="password-classes"),
        pytest.param("name", "ok", "a\x00b", id="name-control"),
        pytest.param("name", "x" * 255, "x" * 256, id="name-length"),
        pytest.param("boss_extn", True, "maybe", id="boss_extn"),
        pytest.param("Password", None, "Good1234pw", id="case-variant-key"),
    ]
    return cases


@pytest.mark.parametrize(("column", "good", "bad"), _out_of_rule())
async def test_a_value_the_schema_refuses_the_server_refuses_too(
    api: Api, conn: asyncpg.Connection, column: str, good: Any, bad: Any
) -> None:
    ext_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    url = f"/api/extensions/{ext_id}"
    if good is not None:
        assert fits({column: good}, *PUT_EXTENSION)
        status, answer = await call(api, "PUT", url, {column: good})
        assert status == 200, answer
    assert not fits({column: bad}, *PUT_EXTENSION)
    status, answer = await call(api, "PUT", url, {column: bad})
    assert status == 400, answer
    assert answer["message"].startswith(f"{column}: ")
