"""The guard under test: the real app on a real database, posting captured (and derived) forms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from bridge.app import create_app
from bridge.config import Config
from bridge.guard.engine import Guard
from bridge.guard.setup import GUARD
from tests.api.helpers import add_admin
from tests.factories import add_extension
from tests.guard.helpers import DOMAIN
from tests.support.client import Client

StartGuarded = Callable[..., Awaitable[Client]]
FAST = {"guard__poll_seconds": "0.05"}


@pytest.fixture
def start_guarded(
    make_config: Callable[..., Config], aiohttp_client: Callable[..., Awaitable[Client]]
) -> StartGuarded:
    """Apps on the test database (set up before, so torn down after, every app)."""

    async def start(**overrides: str) -> Client:
        return await aiohttp_client(create_app(make_config(**{**FAST, **overrides})))

    return start


@pytest.fixture
async def extensions(conn: asyncpg.Connection) -> dict[str, int]:
    """1001 and 1002 of xswitch.test with the captures' password, owned by the domain's admin."""
    admin_id = await add_admin(conn)
    return {extn: await add_extension(conn, extn, DOMAIN, user_id=admin_id) for extn in ("1001", "1002")}


def guard_of(client: Client) -> Guard:
    return client.server.app[GUARD]
