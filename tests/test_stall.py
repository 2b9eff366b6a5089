"""A database that stops answering (issue 21 item 8): every API route fails in bounded time,
and shutdown finishes within http.shutdown_timeout, a bulk write in flight or not.

PostgreSQL is stalled with SIGSTOP on every process of a server the test owns (the
session's server is shared by every test), and always continued in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
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
from bridge.pgserver import EmbeddedPostgres
from tests.api.helpers import DOMAIN, add_admin, auth, login
from tests.conftest import Client
from tests.factories import add_extension

QUERY_TIMEOUT = 0.5
WRITE_TIMEOUT = 1.0
MARGIN = 0.2
TIMEOUT = aiohttp.ClientTimeout(total=5)  # no answer at all shows as status 0


@contextlib.contextmanager
def stalled(server: EmbeddedPostgres) -> Iterator[None]:
    """Every process of ``server`` stopped (SIGSTOP) for the block; continued whatever happens."""
    pid = server.running_pid()
    assert pid is not None
    postmaster = psutil.Process(pid)
    processes = [postmaster, *postmaster.children(recursive=True)]
    try:
        for process in processes:
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
            await response.read()
            return response.status, time.monotonic() - started
    except TimeoutError:
        return 0, time.monotonic() - started


def _bound(method: str, path: str) -> float:
    """What each route may take with the database stalled (README, "Configuration"): a
    provisioning write, or the CSV download, api.write_timeout; anything else (logins and
    dev keys included) database.query_timeout; plus the test's margin."""
    long = path == "/api/extensions/download" or (
        method in ("POST", "PUT", "DELETE") and path not in ("/api/sessions", "/api/users/dev_keys")
    )
    return (WRITE_TIMEOUT if long else QUERY_TIMEOUT) + MARGIN


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
    authenticator = client.app._subapps[0][API_AUTHENTICATOR]  # type: ignore[attr-defined]
    principal: Principal | None = await authenticator.resolve(token)
    assert principal is not None

    async def every_route(label: str) -> list[str]:
        """Every route at once (more than the pool holds): those slower than their bound."""
        answers = await asyncio.gather(*(_timed(client, method, path, token) for method, path in routes))
        return [
            f"{method} {path}{label}: {status} after {took:.2f}s"
            for (method, path), (status, took) in zip(routes, answers, strict=True)
            if took > _bound(method, path) or status == 0
        ]

    async def known(_token: str) -> Principal:
        return principal

    with stalled(seeded):
        # As a client meets it: the token's check is the first statement to wait.
        slow = await every_route("")
        # Each route's own statements: the token was checked before the stall.
        monkeypatch.setattr(authenticator, "resolve", known)
        slow += await every_route(" (token known)")
    assert slow == []
    # And all is well again once PostgreSQL continues.
    status, _ = await _timed(client, "GET", "/api/users/list1", token)
    assert status == 200


def _serve(server: EmbeddedPostgres, tmp_path: Path, port: int, log: Path) -> Any:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("BRIDGE_")}
    env.update(
        DATABASE_URL=server.dsn,
        BRIDGE_STATE_DIR=str(tmp_path / "state"),
        BRIDGE_HTTP_PORT=str(port),
        BRIDGE_HTTP_SHUTDOWN_TIMEOUT="3",
        BRIDGE_API_WRITE_TIMEOUT="30",
        BRIDGE_DATABASE_QUERY_TIMEOUT=str(QUERY_TIMEOUT),
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
