"""Malformed input on the endpoints reachable without a token: a 400 in the XUI error shape,
one log line at most and never a traceback, and the request counted against its source
(issue 21 item 4; docs/admin-api-security.md "Hostile input on the admin API")."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from tests.api.conftest import Api, StartApi
from tests.api.helpers import add_admin

FORM = "application/x-www-form-urlencoded"
BOUNDARY = "b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(*parts: bytes) -> bytes:
    body = b"".join(b"--" + BOUNDARY.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + BOUNDARY.encode() + b"--\r\n"


def field(name: str, value: bytes, extra: bytes = b"") -> bytes:
    return b'Content-Disposition: form-data; name="' + name.encode() + b'"\r\n' + extra + b"\r\n" + value


# (content type, body); each is sent to /api/sessions with login/password fields and to
# /api/users/dev_keys with username/password/domain fields (the names do not matter: the
# body is refused before any field is read).
CASES = {
    "raw-ff-byte-in-a-form": (FORM, b"login=\xff&password=x&username=\xff&domain=d"),
    "percent-ff-in-a-form": (FORM, b"login=%FF&password=x&username=%FF&domain=d"),
    "unknown-form-charset": (f"{FORM}; charset=nope", b"login=a&password=x&username=a&domain=d"),
    "multipart-broken-part-header": (
        MULTIPART,
        multipart(b"Content-Disposition form-data no colon\r\n\r\nx", field("password", b"x")),
    ),
    "multipart-part-with-unknown-charset": (
        MULTIPART,
        multipart(
            field("login", b"a", b"Content-Type: text/plain; charset=nope\r\n"), field("password", b"x")
        ),
    ),
    "multipart-part-not-utf8": (MULTIPART, multipart(field("login", b"\xff\xfe"), field("password", b"x"))),
    "json-not-utf8": ("application/json", b'{"login": "\xff", "password": "x"}'),
}


def lines_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What bridge and aiohttp's server logged (the access log is a separate, optional stream;
    the directory warm-up of the app's start-up may finish during the request on a loaded machine)."""
    noise = ("aiohttp.access", "bridge.directory.warmup")
    return [r for r in caplog.records if not r.name.startswith(noise)]


@pytest.mark.parametrize("path", ["/api/sessions", "/api/users/dev_keys"])
@pytest.mark.parametrize("case", list(CASES))
async def test_given_a_malformed_body_on_an_anonymous_endpoint_then_400_one_line_no_traceback_and_counted(
    api: Api, conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture, path: str, case: str
) -> None:
    content_type, body = CASES[case]
    api.client.session.cookie_jar.clear()
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    before = await conn.fetchval("SELECT coalesce(sum(failures), 0) FROM bridge_login_sources")
    response = await api.client.post(path, data=body, headers={"Content-Type": content_type})
    answer = await response.json()
    assert (response.status, answer["code"]) == (400, 400), answer
    assert isinstance(answer["text"], str)
    assert "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
    assert len(lines_logged(caplog)) <= 1, [r.getMessage() for r in lines_logged(caplog)]
    after = await conn.fetchval("SELECT coalesce(sum(failures), 0) FROM bridge_login_sources")
    assert after == before + 1


async def test_given_a_body_over_max_body_bytes_then_413_and_counted(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn)
    client = await start_api(http__max_body_bytes="1024")
    body = b"login=" + b"a" * 4096
    response = await client.post("/api/sessions", data=body, headers={"Content-Type": FORM})
    assert (response.status, (await response.json())["code"]) == (413, 413)
    assert await conn.fetchval("SELECT failures FROM bridge_login_sources") == 1


async def test_given_malformed_bodies_past_the_source_limit_then_429(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn)
    client = await start_api(api__max_source_failures="3")
    statuses = []
    for _ in range(5):
        response = await client.post("/api/sessions", data=b"login=\xff", headers={"Content-Type": FORM})
        statuses.append(response.status)
    assert statuses == [400, 400, 400, 429, 429]
