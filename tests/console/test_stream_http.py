"""The console over real HTTP: its page's headers, /api/events (auth, scope, resume, slow
clients), the reads, and CSRF for cookie-authenticated clicks."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiohttp import ClientResponse

from bridge.console.keys import CONSOLE_HUB
from bridge.console.setup import CSP
from bridge.registrations.events import NodeChanged
from bridge.registrations.keys import REGISTRATIONS
from bridge.registrations.model import NodeState
from bridge.registrations.state import RegistrationState
from tests.api.helpers import add_admin, auth, login
from tests.conftest import AppClient
from tests.console.helpers import next_message, registered
from tests.support.metrics import app_sample
from tests.support.poll import eventually


def state_of(client: object) -> RegistrationState:
    state = client.server.app[REGISTRATIONS]  # type: ignore[attr-defined]
    assert isinstance(state, RegistrationState)
    state.apply(NodeChanged("fs1", NodeState.UP, at=time.time()))
    return state


async def test_the_page_is_served_as_files_with_a_strict_csp_and_no_framing(app_client: AppClient) -> None:
    client = await app_client()
    page = await client.get("/console/")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == CSP
    assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe" not in CSP
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    html = await page.text()
    assert "<script>" not in html and " style=" not in html and "http" not in html.split("<body>")[1]
    script = await client.get("/console/static/console.js")
    assert script.status == 200 and script.content_type in ("text/javascript", "application/javascript")
    assert "innerHTML" not in await script.text()
    assert (await client.get("/console", allow_redirects=False)).headers["Location"] == "/console/"
    assert (await client.get("/console/static/../../bridge/config.py")).status in (403, 404)
    # Its errors carry the headers too: a file that is not there, a path no route takes.
    for missing in ("/console/static/nothing.js", "/console/nothing"):
        answer = await client.get(missing)
        assert answer.status == 404 and answer.headers["Content-Security-Policy"] == CSP, missing


async def test_the_stream_and_reads_need_an_administrator(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client()
    await add_admin(conn, "user", is_admin=False)
    for path in ("/api/events", "/api/console/registrations", "/api/console/summary", "/api/console/me"):
        assert (await client.get(path)).status == 401, path
    token = await login(client, "user")
    client.session.cookie_jar.clear()
    for path in ("/api/events", "/api/console/registrations", "/api/console/bans", "/api/console/attempts"):
        assert (await client.get(path, headers=auth(token))).status == 403, path
    me = await (await client.get("/api/console/me", headers=auth(token))).json()
    assert me["console"] is False and me["csrf_token"] == ""  # the header needs no CSRF token


async def _next_registration(stream: ClientResponse) -> dict[str, object]:
    """The next registration message: each REGISTER also reaches the guard through the
    state's Deltas, whose "registered" attempt is streamed too, in no fixed order."""
    while True:
        message = await next_message(stream)
        if message["type"] == "registration":
            return message


async def test_a_registration_is_streamed_in_scope_and_a_reconnect_resumes_from_its_id(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client()
    await add_admin(conn, "super", is_super=1)
    await add_admin(conn, "other", domain="other.test")
    state = state_of(client)
    everyone = auth(await login(client, "super"))
    other = auth(await login(client, "other"))
    client.session.cookie_jar.clear()
    stream = await client.get("/api/events", headers=everyone)
    scoped = await client.get("/api/events", headers=other)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert (await next_message(stream))["type"] == "hello"
    assert (await next_message(scoped))["type"] == "hello"
    state.apply(registered())
    message = await next_message(stream)
    assert message["type"] == "registration" and message["op"] == "upsert"
    assert message["binding"]["user"] == "1001" and message["binding"]["domain"] == "xswitch.test"  # type: ignore[index]
    seen = str(message["id"])
    stream.close()
    await eventually(lambda: client.server.app[CONSOLE_HUB].clients() == 1)
    state.apply(registered(token="second-call-id", profile="other"))
    state.apply(registered(token="third-call-id", realm="other.test"))
    resumed = await client.get("/api/events", headers={**everyone, "Last-Event-ID": seen})
    assert (await next_message(resumed))["type"] == "hello"
    missed = [await _next_registration(resumed), await _next_registration(resumed)]
    assert [m["binding"]["token"] for m in missed] == ["second-call-id", "third-call-id"]  # type: ignore[index]
    # The domain administrator of other.test saw only its own binding.
    only = await _next_registration(scoped)
    assert only["binding"]["domain"] == "other.test"  # type: ignore[index]
    stale = await client.get("/api/events", headers={**everyone, "Last-Event-ID": "0-1"})
    assert (await next_message(stale))["type"] == "hello"
    assert (await next_message(stale))["type"] == "reload"
    app = client.server.app
    assert app_sample(app, "bridge_console_stream_joins_total", outcome="resumed") == 1
    assert app_sample(app, "bridge_console_stream_joins_total", outcome="reload") == 1


async def test_a_client_that_does_not_read_is_cut_and_counted_and_never_slows_publishing(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client(console__queue_size="20")
    await add_admin(conn)
    token = await login(client)
    hub = client.server.app[CONSOLE_HUB]
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET /api/events HTTP/1.1\r\nHost: x\r\nX-XTRA-AUTH-ID: {token}\r\n\r\n".encode())
    await writer.drain()
    await eventually(lambda: hub.clients() == 1)
    payload = {"pad": "x" * 65536}
    slowest = 0.0
    deadline = time.monotonic() + 30
    while hub.clients() and time.monotonic() < deadline:
        for _ in range(10):
            started = time.perf_counter()
            hub.publish("node", payload)
            slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.001)  # the handler writes until the socket's buffers are full
    assert hub.clients() == 0
    assert slowest < 0.05  # a publish is a queue append, whatever the client does
    assert app_sample(client.server.app, "bridge_console_stream_cut_total") == 1
    writer.close()
    del reader


async def test_cookie_clicks_need_the_csrf_header_and_xui_header_clients_do_not(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client()
    await add_admin(conn)
    response = await client.post("/api/sessions", data={"login": "admin", "password": "123!@#QWEqwe"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    token = (await response.json())["token"]
    me = await (await client.get("/api/console/me")).json()  # the cookie alone reads
    assert me["login"] == "admin" and me["scope"] == "xswitch.test"
    refused = await client.delete("/api/guard/bans/192.0.2.1")
    assert refused.status == 403 and (await refused.json())["text"] == "missing or wrong X-CSRF-Token"
    wrong = await client.delete("/api/guard/bans/192.0.2.1", headers={"X-CSRF-Token": token})
    assert wrong.status == 403
    with_csrf = await client.delete("/api/guard/bans/192.0.2.1", headers={"X-CSRF-Token": me["csrf_token"]})
    assert with_csrf.status == 404  # past authentication: no ban in force
    client.session.cookie_jar.clear()
    assert (await client.delete("/api/guard/bans/192.0.2.1", headers=auth(token))).status == 404
    assert (await client.get("/api/console/me", headers=auth(token))).status == 200


async def test_the_session_cookie_is_secure_when_configured(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client(api__cookie_secure="true")
    await add_admin(conn)
    response = await client.post("/api/sessions", data={"login": "admin", "password": "123!@#QWEqwe"})
    assert "Secure" in response.headers["Set-Cookie"]


async def test_registrations_page_filters_and_pages_in_scope(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    client = await app_client()
    await add_admin(conn, "super", is_super=1)
    state = state_of(client)
    for n in range(120):
        state.apply(registered(token=f"call-{n:03d}", reg_user=f"2{n:03d}", user_agent=f"phone {n % 3}"))
    state.apply(registered(token="elsewhere", reg_user="3000", realm="other.test"))
    headers = auth(await login(client, "super"))
    first = await (await client.get("/api/console/registrations?limit=50", headers=headers)).json()
    assert first["total"] == 121 and len(first["rows"]) == 50
    assert first["domains"] == {"xswitch.test": 120, "other.test": 1}
    assert [r["user"] for r in first["rows"][:2]] == ["3000", "2000"]  # other.test sorts first
    last = await (await client.get("/api/console/registrations?offset=100&limit=50", headers=headers)).json()
    assert [r["user"] for r in last["rows"]][-1] == "2119" and len(last["rows"]) == 21
    found = await (
        await client.get("/api/console/registrations?q=PHONE%202&domain=xswitch.test", headers=headers)
    ).json()
    assert found["total"] == 40
    assert (await client.get("/api/console/registrations?limit=100000", headers=headers)).status == 400
