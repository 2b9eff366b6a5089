"""Shared fixtures: a real PostgreSQL, a fresh migrated database per test, the real app.

The server is ``TEST_DATABASE_URL`` when set (it needs CREATE DATABASE rights), otherwise
an embedded PostgreSQL started once per session in a temporary directory and removed at
the end. Each test gets its own database cloned from a migrated template (~50 ms).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge import db
from bridge.app import create_app
from bridge.config import Config, load_config
from bridge.embedded.server import EmbeddedPostgres

# Real captures from FreeSWITCH 1.10.12 and the XUI API documents, kept in the repository
# (tests/fixtures/*/README.md say where they come from): a clone alone runs the suite.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "freeswitch"
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "xui"
TEST_QUERY_TIMEOUT = "5"  # make_config's default database.query_timeout (bridge's own is 0.5)




def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    try:
        yield server.dsn
    finally:
        server.remove()


@pytest.fixture(scope="session")
def template_name(pg_admin_url: str) -> str:
    name = f"bridge_template_{uuid.uuid4().hex[:8]}"

    async def build() -> None:
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(with_database(pg_admin_url, name))
        try:
            await db.upgrade(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    return name


@pytest.fixture
async def database_url(pg_admin_url: str, template_name: str) -> AsyncIterator[str]:
    """A fresh database with every migration applied, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    finally:
        await admin.close()
    yield with_database(pg_admin_url, name)
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def private_pg(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    """A migrated PostgreSQL of the test's own, for tests that stop and start the server."""
    server = EmbeddedPostgres(tmp_path / "pgdata")
    await asyncio.to_thread(server.start)
    try:
        conn = await asyncpg.connect(server.dsn)
        try:
            await db.upgrade(conn)
        finally:
            await conn.close()
        yield server
    finally:
        await asyncio.to_thread(server.remove)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
def make_config(database_url: str, tmp_path: Path) -> Callable[..., Config]:
    """Config for the test database; keyword "section.key" overrides as strings."""

    def build(**overrides: str) -> Config:
        # A query may take seconds on a loaded machine (several suites on two cores): tests
        # that are about query_timeout set their own; the others must not fail on it.
        settings = {"database.query_timeout": TEST_QUERY_TIMEOUT}
        settings.update({k.replace("__", "."): v for k, v in overrides.items()})
        config = load_config(overrides=settings)
        return replace(
            config,
            database=replace(config.database, url=database_url),
            state_dir=tmp_path / "state",
        )

    return build


AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def app_client(
    make_config: Callable[..., Config],
    aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]],
) -> AppClient:
    # make_config (and so the test database) is set up first and torn down last: the app
    # shuts down, flushing its writes, while its database still exists.
    """Start the real app on a real socket: ``await app_client(directory__username="fs")``."""

    async def start(
        config: Config | None = None, **overrides: str
    ) -> TestClient[web.Request, web.Application]:
        return await aiohttp_client(create_app(config or make_config(**overrides)))

    return start


def fixture_bytes(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()
