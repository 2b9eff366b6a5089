"""Shared pieces of the admin API tests: the app with a real registration state, logins, schema checks."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import asyncpg

from bridge.api.openapi.document import DOCUMENT
from bridge.registrations.events import NodeChanged, parse_snapshot
from bridge.registrations.model import NodeState, RegistrationView
from bridge.registrations.state import RegistrationState
from tests.conftest import REFERENCE, fixture_bytes
from tests.factories import add_user
from tests.support.client import Client

DOMAIN = "xswitch.test"  # the realm of the captured registrations
ADMIN_PASSWORD = "123!@#QWEqwe"


def captured_snapshot_body() -> str:
    """The body of the real ``show registrations as json`` reply (1001 and 1002 registered)."""
    raw = fixture_bytes("api", "registrations_live", "show_registrations_as_json.raw")
    _, _, body = raw.partition(b"\n\n")
    return body.decode()


def feed_captured(view: RegistrationView, node: str = "fs1") -> RegistrationState:
    """Feed the app's registration state the captured snapshot, its node up."""
    assert isinstance(view, RegistrationState)
    view.apply(NodeChanged(node, NodeState.UP, at=1_700_000_000.0))
    view.apply(parse_snapshot(node, captured_snapshot_body()))
    return view


async def add_admin(
    conn: asyncpg.Connection, login: str = "admin", domain: str = DOMAIN, **values: Any
) -> int:
    values.setdefault("is_admin", True)
    return await add_user(conn, login, domain=domain, password_plain=ADMIN_PASSWORD, **values)


async def login(client: Client, login: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    response = await client.post("/api/sessions", data={"login": login, "password": password})
    body = await response.json()
    assert response.status == 200, body
    token: str = body["token"]
    return token


def auth(token: str) -> dict[str, str]:
    return {"X-XTRA-AUTH-ID": token}


def document_example(title: str, occurrence: int = 0) -> str:
    """The JSON text following the ``occurrence``-th line equal to ``title`` in the REST document."""
    text = (REFERENCE / "xui-rest-api.zh.txt").read_text()
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if line.strip() == title]
    start = hits[occurrence] + 1
    while not lines[start].lstrip().startswith(("{", "[")):
        start += 1
    opener = lines[start].lstrip()[0]
    closer = "}" if opener == "{" else "]"
    end = start
    while lines[end].rstrip() != closer:
        end += 1
    return "\n".join(lines[start : end + 1])


def document_examples(title: str, count: int) -> list[str]:
    """The first ``count`` JSON texts after the line equal to ``title`` (a body, then its answer)."""
    lines = (REFERENCE / "xui-rest-api.zh.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == title) + 1
    found: list[str] = []
    while len(found) < count:
        while not lines[start].lstrip().startswith(("{", "[")):
            start += 1
        end = start
        while True:  # the shortest run of lines that is one JSON value
            text = "\n".join(lines[start : end + 1])
            try:
                json.loads(text)
                break
            except ValueError:
                end += 1
        found.append(text)
        start = end + 1
    return found


# -- a validator for the subset of JSON Schema the served OpenAPI document uses ----------


def validate(value: Any, schema: Mapping[str, Any], where: str = "$") -> None:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        validate(value, DOCUMENT["components"]["schemas"][name], where)
        return
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                validate(value, option, where)
            except AssertionError as exc:
                errors.append(str(exc))
        assert len(errors) == len(schema["oneOf"]) - 1, f"{where}: matches not exactly one: {errors}"
        return
    kind = schema.get("type")
    if value is None and schema.get("nullable"):
        return
    if "anyOf" in schema:  # at least one, beside the schema's other keywords
        failures = []
        for option in schema["anyOf"]:
            try:
                validate(value, option, where)
            except AssertionError as exc:
                failures.append(str(exc))
        assert len(failures) < len(schema["anyOf"]), f"{where}: matches none of anyOf: {failures}"
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind is not None:
        assert checks[kind](value), f"{where}: {value!r} is not {kind}"
    if "enum" in schema:
        # JSON equality: true is not 1.
        same = [e for e in schema["enum"] if e == value and type(e) is type(value)]
        assert same, f"{where}: {value!r} not in {schema['enum']}"
    if "pattern" in schema and isinstance(value, str):
        assert re.search(schema["pattern"], value), f"{where}: {value!r} !~ {schema['pattern']}"
    if "minimum" in schema and isinstance(value, int):
        assert value >= schema["minimum"], f"{where}: {value!r} < {schema['minimum']}"
    if "maximum" in schema and isinstance(value, int):
        assert value <= schema["maximum"], f"{where}: {value!r} > {schema['maximum']}"
    if "maxLength" in schema and isinstance(value, str):
        assert len(value) <= schema["maxLength"], f"{where}: longer than {schema['maxLength']}"
    if "minLength" in schema and isinstance(value, str):
        assert len(value) >= schema["minLength"], f"{where}: shorter than {schema['minLength']}"
    if "minItems" in schema and isinstance(value, list):
        assert len(value) >= schema["minItems"], f"{where}: fewer than {schema['minItems']} items"
    if "maxItems" in schema and isinstance(value, list):
        assert len(value) <= schema["maxItems"], f"{where}: more than {schema['maxItems']} items"
    if kind == "object":
        for name in schema.get("required", ()):
            assert name in value, f"{where}: missing {name}"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(properties)
            assert not extra, f"{where}: unexpected keys {sorted(extra)}"
        for name, item in value.items():
            if name in properties:
                validate(item, properties[name], f"{where}.{name}")
    if kind == "array":
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")


def request_schema(path: str, method: str) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = DOCUMENT["paths"][path][method]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    return schema


def response_schema(path: str, method: str, status: int) -> Mapping[str, Any]:
    operation = DOCUMENT["paths"][path][method]
    schema: Mapping[str, Any] = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return schema
