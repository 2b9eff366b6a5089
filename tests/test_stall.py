"""A database that stops answering (issue 21 item 8): every API route fails in bounded time,
and shutdown finishes within http.shutdown_timeout, a bulk write in flight or not.

PostgreSQL is stalled with SIGSTOP on every process of a server the test owns (the
session's server is shared by every test), and always continued in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
import pytest
from aiohttp import web

from bridge.api.auth import API_AUTHENTICATOR, Principal
from bridge.app import create_app
from bridge.config import Config, load_config
from bridge.embedded.server import EmbeddedPostgres
from tests.api.helpers import ADMIN_PASSWORD, DOMAIN, add_admin, auth, login
from tests.factories import add_extension
from tests.support.client import Client

QUERY_TIMEOUT = 0.5
WRITE_TIMEOUT = 1.0
MARGIN = 0.2  # one request alone (issue 21: list1 within query_timeout + 0.2 s)
# Every route at once, more than the pool holds, on a loaded 2-core machine: the answers
# queue for the event loop itself, so the sweep gets a wider margin than one request.
SWEEP_MARGIN = 0.6
TIMEOUT = aiohttp.ClientTimeout(total=5)  # no answer at all shows as status 0
SHUTDOWN_TIMEOUT = 3.0
SHUTDOWN_MARGIN = 0.5  # a process's own exit (interpreter teardown) on a loaded machine
LOCK_EXTENSIONS = 0x7072_6F76  # bridge/api/writes.py _LOCK_EXTENSIONS


@contextlib.contextmanager
def stalled(server: EmbeddedPostgres) -> Iterator[None]:
    """Every process of ``server`` stopped (SIGSTOP) for the block; continued whatever happens."""
    pid = server.running_pid()
    assert pid is not None
    postmaster = psutil.Process(pid)
    processes = [postmaster, *postmaster.children(recursive=True)]
    try:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):  # a backend that just ended
                process.send_signal(signal.SIGSTOP)
        yield
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


def _config(server: EmbeddedPostgres, tmp_path: Path, **overrides: str) -> Config:
    config = load_config(
        overrides={
            "database.query_timeout": str(QUERY_TIMEOUT),
            "api.write_timeout": str(WRITE_TIMEOUT),
            "directory.warmup": "false",
            "guard.enabled": "false",
            **overrides,
        }
    )
    return replace(config, database=replace(config.database, url=server.dsn), state_dir=tmp_path / "state")


@pytest.fixture
async def seeded(private_pg: EmbeddedPostgres) -> AsyncIterator[EmbeddedPostgres]:
    conn = await asyncpg.connect(private_pg.dsn)
    try:
        admin_id = await add_admin(conn)
        for extn in ("1001", "1002"):
            await add_extension(conn, extn, DOMAIN, user_id=admin_id)
    finally:
        await conn.close()
    yield private_pg


def _api_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every admin-API route, placeholders filled with plausible values."""
    routes = []
    for resource in app.router.resources():
        sub = resource.get_info().get("app")
        if not isinstance(sub, web.Application):
            continue
        for route in sub.router.routes():
            if route.method == "HEAD":
                continue
            info = route.resource.get_info() if route.resource is not None else {}
            path = info.get("path") or info.get("formatter", "")
            path = re.sub(r"\{ip\}", "192.0.2.1", path)
            path = re.sub(r"\{[a-z_]+(:[^}]*)?\}", "1", path)
            routes.append((route.method, path))
    return routes


BODIES: dict[str, Any] = {
    "/api/sessions": {"login": "admin", "password": "wrong"},
    "/api/extensions": {"extn": "3001", "domain": DOMAIN, "password": "Secret1234pw"},
    "/api/extensions/muti_add": {"start": "4001", "end": "4100", "domain": DOMAIN, "password": "Secret12pw"},
    "/api/users": {"login": "u5001", "name": "u", "domain": DOMAIN, "password": "Secret1234pw!"},
}


async def _timed(client: Client, method: str, path: str, token: str) -> tuple[int, float]:
    started = time.monotonic()
    body = BODIES.get(path, {})
    params = {"user": "1001@xswitch.test"} if path == "/api/guard/why" else None
    try:
        async with client.request(
            method, path, headers=auth(token), params=params, json=body or None, timeout=TIMEOUT
        ) as response:
            if response.content_type == "text/event-stream":
                await response.content.readline()  # a stream answers with its first message
            else:
                await response.read()
            return response.status, time.monotonic() - started
    except TimeoutError:
        return 0, time.monotonic() - started


def _bound(method: str, path: str, margin: float = MARGIN) -> float:
    """What each route may take with the database stalled (README, "Configuration"): a
    provisioning write, or the CSV download, api.write_timeout; anything else (logins and
    dev keys included) database.query_timeout; plus the test's margin."""
    long = path == "/api/extensions/download" or (
        method in ("POST", "PUT", "DELETE") and path not in ("/api/sessions", "/api/users/dev_keys")
    )
    return (WRITE_TIMEOUT if long else QUERY_TIMEOUT) + margin


async def test_given_the_database_stalled_then_every_api_route_fails_within_its_timeout(
    seeded: EmbeddedPostgres, aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await aiohttp_client(create_app(_config(seeded, tmp_path)))
    token = await login(client)
    routes = _api_routes(client.app)
    assert ("GET", "/api/users/list1") in routes and ("POST", "/api/extensions") in routes
    for method, path in routes:  # warm: the pool open, the extension catalog loaded
        if method == "GET":
            await _timed(client, method, path, token)
    api = next(r.get_info()["app"] for r in client.app.router.resources() if "app" in r.get_info())
    authenticator = api[API_AUTHENTICATOR]
    principal: Principal | None = await authenticator.resolve(token)
    assert principal is not None

    async def every_route(label: str) -> list[str]:
        """Every route at once (more than the pool holds): those slower than their bound."""
        answers = await asyncio.gather(*(_timed(client, method, path, token) for method, path in routes))
        return [
            f"{method} {path}{label}: {status} after {took:.2f}s"
            for (method, path), (status, took) in zip(routes, answers, strict=True)
            if took > _bound(method, path, SWEEP_MARGIN) or status == 0
        ]

    async def known(_token: str) -> Principal:
        return principal

    with stalled(seeded):
        # As a client meets it: the token's check is the first statement to wait.
        slow = await every_route("")
        # Each route's own statements: the token was checked before the stall.
        monkeypatch.setattr(authenticator, "resolve", known)
        slow += await every_route(" (token known)")
        # One request alone, as issue 21 measured it: list1 within query_timeout + 0.2 s.
        status, took = await _timed(client, "GET", "/api/users/list1", token)
        if took > _bound("GET", "/api/users/list1") or status != 503:
            slow.append(f"GET /api/users/list1 alone: {status} after {took:.2f}s")
    assert slow == []
    # And all is well again once PostgreSQL continues.
    status, _ = await _timed(client, "GET", "/api/users/list1", token)
    assert status == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


async def _hold_domain_lock(dsn: str) -> threading.Event:
    """A thread holding the domain's provisioning lock until the returned event is set."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        async def run() -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", LOCK_EXTENSIONS, DOMAIN)
                held.set()
                await asyncio.to_thread(release.wait)
            finally:
                await conn.close()

        asyncio.run(run())

    threading.Thread(target=hold, daemon=True).start()
    await asyncio.to_thread(held.wait, 30)
    return release


async def _waiting_on_lock(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return bool(await conn.fetchval(query))
    finally:
        await conn.close()


def _serve(server: EmbeddedPostgres, tmp_path: Path, port: int, log: Path) -> Any:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("BRIDGE_")}
    env.update(
        DATABASE_URL=server.dsn,
        BRIDGE_STATE_DIR=str(tmp_path / "state"),
        BRIDGE_HTTP_PORT=str(port),
        BRIDGE_HTTP_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
        BRIDGE_API_WRITE_TIMEOUT="30",
        BRIDGE_DATABASE_QUERY_TIMEOUT=str(QUERY_TIMEOUT),
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _login(port: int) -> str:
    import urllib.request

    body = f"login=admin&password={ADMIN_PASSWORD}".encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sessions", data=body, timeout=10) as response:
        token: str = json.load(response)["token"]
        return token


def _until_serving(port: int, proc: Any, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)


def _request_in_background(port: int, method: str, path: str, token: str, body: bytes) -> threading.Thread:
    import urllib.request

    def send() -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=body or None,
            method=method,
            headers={"X-XTRA-AUTH-ID": token, "Content-Type": "application/json"},
        )
        with contextlib.suppress(OSError):
            urllib.request.urlopen(request, timeout=60).read()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _stop(proc: Any) -> float:
    """SIGTERM, then the seconds until the process has exited."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.monotonic() - started


def _bulk(dsn: str) -> bytes:
    """A muti_add of 1,000 extensions (5000..5999) for the admin."""

    async def admin_id() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("SELECT id FROM users WHERE login = 'admin'"))
        finally:
            await conn.close()

    fields = {"extns_start": "5000", "extns_end": "5999", "password": "Secret12pw"}
    fields["user_id"] = asyncio.run(admin_id())
    return json.dumps(fields).encode()


async def _count_range(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        query = "SELECT count(*) FROM extensions WHERE extn BETWEEN '5000' AND '5999'"
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


@pytest.mark.slow
def test_given_a_bulk_write_in_flight_then_shutdown_ends_within_its_timeout_and_writes_all_or_nothing(
    seeded: EmbeddedPostgres, tmp_path: Path
) -> None:
    port, log = _free_port(), tmp_path / "serve.log"
    proc = _serve(seeded, tmp_path, port, log)
    blocker = None
    try:
        _until_serving(port, proc, log)
        token = _login(port)
        # Hold the lock bridge's writers of this domain take first (writes.lock_domains): the
        # bulk write below starts its transaction and then waits, in flight, until shutdown.
        blocker = asyncio.run(_hold_domain_lock(seeded.dsn))
        _request_in_background(port, "POST", "/api/extensions/muti_add", token, _bulk(seeded.dsn))
        _until(lambda: asyncio.run(_waiting_on_lock(seeded.dsn)))
        took = _stop(proc)
    finally:
        if proc.poll() is None:
            _stop(proc)
        if blocker is not None:
            blocker.set()
    assert took <= SHUTDOWN_TIMEOUT + SHUTDOWN_MARGIN, f"{took:.2f}s\n{log.read_text()}"
    assert proc.returncode == 0, log.read_text()
    assert asyncio.run(_count_range(seeded.dsn)) in (0, 1000)


@pytest.mark.slow
def test_given_the_database_stalled_then_shutdown_ends_within_its_timeout(
    seeded: EmbeddedPostgres, tmp_path: Path
) -> None:
    port, log = _free_port(), tmp_path / "serve.log"
    proc = _serve(seeded, tmp_path, port, log)
    try:
        _until_serving(port, proc, log)
        token = _login(port)
        bulk = _bulk(seeded.dsn)
        with stalled(seeded):
            for path in ("/api/users/list1", "/api/extensions"):
                _request_in_background(port, "GET", path, token, b"")
            _request_in_background(port, "POST", "/api/extensions/muti_add", token, bulk)
            time.sleep(0.2)
            took = _stop(proc)
    finally:
        if proc.poll() is None:
            _stop(proc)
    assert took <= SHUTDOWN_TIMEOUT + SHUTDOWN_MARGIN, f"{took:.2f}s\n{log.read_text()}"
    assert proc.returncode == 0, log.read_text()
    assert asyncio.run(_count_range(seeded.dsn)) in (0, 1000)
