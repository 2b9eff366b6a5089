"""Logs: one line per event, plain or JSON, with a request id, and never a secret."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, quote

import asyncpg
import pytest

from bridge.config import LogConfig
from bridge.hashes import ha1, ha1b, login_sha1
from bridge.logs import redact, request_id, setup_logging
from tests.conftest import AppClient, fixture_bytes
from tests.factories import add_extension, add_user

EXTENSION_PASSWORD = "Test1234pw"  # what the captured digest response was computed with
ADMIN_PASSWORD = "Adm1n-S3cret-logpass"
DIRECTORY_PASSWORD = "gw-S3cret-dirpass"
SALT = "$1$saltForLogs"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Route every log record, at DEBUG, through bridge's own handler into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("aiohttp.access").level)
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("aiohttp.access").setLevel(saved[2])


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param("password=Hunter22&user=1001", "Hunter22", id="form-field"),
        pytest.param('{"password": "two words"}', "two words", id="json-quoted-with-space"),
        pytest.param("{'ha1b': 'abcdef0123'}", "abcdef0123", id="python-repr"),
        pytest.param("sip_auth_nonce=n0nce-1&sip_auth_cnonce=cn0nce", "n0nce-1", id="nonce"),
        pytest.param("sip_auth_nonce=n0nce-1&sip_auth_cnonce=cn0nce", "cn0nce", id="cnonce"),
        pytest.param("Authorization: Basic ZnM6c2VjcmV0", "ZnM6c2VjcmV0", id="basic-header"),
        pytest.param("X-XTRA-AUTH-ID: tok-123456", "tok-123456", id="xui-token-header"),
        pytest.param("cookie: freeswitch_xtra_session_id=sess-9", "sess-9", id="session-cookie"),
    ],
)
def test_redact_hides_the_value_and_keeps_the_name(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert "<redacted>" in out


def test_redact_leaves_identifiers_operators_grep_for() -> None:
    line = "lookup found action=sip_auth user=1001 domain=xswitch.test node=fs1 request_id=ab12"
    assert redact(line) == line


async def test_json_logs_carry_the_callers_request_id(app_client: AppClient, captured: io.StringIO) -> None:
    setup_logging(LogConfig(level="DEBUG", json=True), stream=captured)
    client = await app_client()
    resp = await client.post(
        "/api/sessions",
        data={"login": "nobody", "password": "x-pass-1"},
        headers={"X-Request-Id": "req-4242"},
    )
    await resp.read()
    entries = [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    assert entries, "nothing was logged"
    assert {"time", "level", "logger", "request_id", "message"} <= set(entries[0])
    mine = [e for e in entries if e["request_id"] == "req-4242"]
    assert mine, entries
    assert all(e["logger"].startswith("bridge") for e in mine)


async def test_plain_logs_are_one_line_with_request_id(app_client: AppClient, captured: io.StringIO) -> None:
    setup_logging(LogConfig(level="DEBUG", json=False), stream=captured)
    client = await app_client()
    resp = await client.post(
        "/api/sessions",
        data={"login": "nobody", "password": "x-pass-1"},
        headers={"X-Request-Id": "req-plain-7"},
    )
    await resp.read()
    lines = [line for line in captured.getvalue().splitlines() if "request_id=req-plain-7" in line]
    assert lines
    for line in lines:
        assert " bridge." in line


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
async def test_no_secret_reaches_the_log_at_debug(
    app_client: AppClient, conn: asyncpg.Connection, captured: io.StringIO, as_json: bool
) -> None:
    setup_logging(LogConfig(level="DEBUG", json=as_json), stream=captured)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logging.getLogger().addHandler(Keep())
    await add_extension(conn, "1001", password=EXTENSION_PASSWORD)
    await add_user(conn, "admin", password_plain=ADMIN_PASSWORD, salt=SALT)
    client = await app_client(directory__username="freeswitch", directory__password=DIRECTORY_PASSWORD)

    form = fixture_bytes("xml_curl", "register_1001.form")
    fields = {k: v[0] for k, v in parse_qs(form.decode()).items()}
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **_basic("freeswitch", DIRECTORY_PASSWORD),
    }
    resp = await client.post("/directory", data=form, headers=headers)
    assert resp.status == 200
    assert "a1-hash" in await resp.text()
    # The wrong gateway password too: it must not be echoed into the log either.
    resp = await client.post(
        "/directory", data=form, headers={**headers, **_basic("freeswitch", "wr0ng-gw-pass")}
    )
    assert resp.status == 401

    resp = await client.post("/api/sessions", data={"login": "admin", "password": ADMIN_PASSWORD})
    token = (await resp.json())["token"]
    assert token
    await (await client.get("/api/users", headers={"X-XTRA-AUTH-ID": token})).read()
    await (await client.post("/api/sessions", data={"login": "admin", "password": "wr0ng-admin-pass"})).read()

    secrets = {
        "extension password": EXTENSION_PASSWORD,
        "ha1": ha1("1001", "xswitch.test", EXTENSION_PASSWORD),
        "ha1b": ha1b("1001", "xswitch.test", EXTENSION_PASSWORD),
        "admin password": ADMIN_PASSWORD,
        "admin sha1": login_sha1("admin", ADMIN_PASSWORD, SALT).hex(),
        "wrong admin password": "wr0ng-admin-pass",
        "directory password": DIRECTORY_PASSWORD,
        "wrong directory password": "wr0ng-gw-pass",
        "api token": token,
        "nonce": fields["sip_auth_nonce"],
        "cnonce": fields["sip_auth_cnonce"],
        "digest response": fields["sip_auth_response"],
        # A whole form would show up as its event headers.
        "whole form": "Event-Calling-Function=",
    }
    output = captured.getvalue()
    assert "request_id" in output and output.count("\n") >= 2, "the requests were not logged"
    for what, secret in secrets.items():
        assert secret not in output, f"{what} reached the log output"
        # And not just hidden by the last-resort filter: not in any message as logged.
        for record in records:
            assert secret not in record.getMessage(), f"{what} logged by {record.name}"


# A line an attacker would like to see in the log: a plain record of its own.
FORGED = "2026-11-23 00:23:41,560 INFO bridge.api.sessions request_id=1 login user=admin"
_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+ request_id=")


def _plain_records(output: str) -> list[str]:
    """Every line of plain output, checked to be a record or a marked traceback line."""
    lines = output.splitlines()
    for line in lines:
        assert _RECORD_START.match(line) or line.startswith("  | "), f"not a record: {line!r}"
    return lines


@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize(
    "breaker", ["\n", "\r\n", "\r", "\x85", "\u2028"], ids=["lf", "crlf", "cr", "nel", "ls"]
)
async def test_a_newline_in_a_login_name_cannot_forge_a_log_line(
    app_client: AppClient, conn: asyncpg.Connection, captured: io.StringIO, as_json: bool, breaker: str
) -> None:
    setup_logging(LogConfig(level="DEBUG", json=as_json), stream=captured)
    # A known account (its name is logged) whose login carries the forged line.
    name = "mallory" + breaker + FORGED
    await add_user(conn, name, password_plain="whatever-1", salt=SALT)
    client = await app_client()
    response = await client.post("/api/sessions", data={"login": name, "password": "wrong-1"})
    assert response.status == 403
    output = captured.getvalue()
    assert "login failed user=mallory" in output
    if as_json:
        entries = [json.loads(line) for line in output.splitlines()]
        assert all("\n" not in e["message"] and breaker not in e["message"] for e in entries)
    else:
        lines = _plain_records(output)
        assert not any(line.startswith(FORGED) for line in lines)
        # Only the newlines that end records remain: no CR, NEL or separator anywhere.
        assert output.count("\n") == len(lines)
        assert breaker == "\n" or breaker.replace("\n", "") not in output


async def test_a_newline_in_a_directory_user_cannot_forge_a_log_line(
    app_client: AppClient, conn: asyncpg.Connection, captured: io.StringIO
) -> None:
    setup_logging(LogConfig(level="DEBUG"), stream=captured)
    await add_extension(conn, "1001", password=EXTENSION_PASSWORD)
    client = await app_client()
    # The captured REGISTER with its user (and the digest username) carrying a forged record.
    form = fixture_bytes("xml_curl", "register_1001.form").decode()
    forged = quote("1001\n" + FORGED + " action=sip_auth")
    body = form.replace("user=1001&", f"user={forged}&").replace(
        "sip_auth_username=1001&", f"sip_auth_username={forged}&"
    )
    assert body != form
    response = await client.post(
        "/directory", data=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    await response.read()
    # A control character in a value is refused before any lookup (docs/directory-hardening.md);
    # the refusal is logged, and nothing the form carried starts a record of its own.
    assert response.status == 400
    output = captured.getvalue()
    assert "directory request refused status=400 code=bad_value" in output
    assert not any(line.startswith(FORGED) for line in _plain_records(output))


async def test_a_password_typed_into_the_login_field_is_not_logged(
    app_client: AppClient, conn: asyncpg.Connection, captured: io.StringIO
) -> None:
    setup_logging(LogConfig(level="DEBUG"), stream=captured)
    await add_user(conn, "admin", password_plain=ADMIN_PASSWORD, salt=SALT)
    client = await app_client()
    response = await client.post("/api/sessions", data={"login": ADMIN_PASSWORD, "password": "admin"})
    assert response.status == 403
    output = captured.getvalue()
    assert "login failed user=<unknown>" in output
    assert ADMIN_PASSWORD not in output


def test_control_characters_are_escaped_in_every_module_and_in_tracebacks(captured: io.StringIO) -> None:
    setup_logging(LogConfig(level="DEBUG"), stream=captured)
    token = request_id.set("id\n" + FORGED)
    try:
        logging.getLogger("aiohttp.server").warning("peer %s", "x\x1b[2J\r" + FORGED)
        try:
            raise ValueError("bad value\n" + FORGED)
        except ValueError:
            logging.getLogger("bridge.anything").exception("failed user=%s", "a\x00b")
    finally:
        request_id.reset(token)
    output = captured.getvalue()
    lines = _plain_records(output)
    assert not any(line.startswith(FORGED) for line in lines)
    assert "\x1b" not in output and "\r" not in output and "\x00" not in output
    assert "peer x\\x1b[2J\\r" + FORGED in output and "failed user=a\\x00b" in output
    assert "request_id=id\\n" + FORGED in output
    assert any(line.startswith("  | ValueError: bad value") for line in lines)
