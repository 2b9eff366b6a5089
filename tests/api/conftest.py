"""The admin API under test: the real app, a real database, a registration state fed real captures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pytest

from bridge.app import create_app
from bridge.config import Config
from bridge.registrations.keys import REGISTRATIONS
from bridge.registrations.state import RegistrationState
from tests.api.helpers import DOMAIN, add_admin, feed_captured, login
from tests.factories import add_extension
from tests.support.client import Client


@dataclass
class Api:
    client: Client
    state: RegistrationState
    token: str


StartApi = Callable[..., Awaitable[Client]]


@pytest.fixture
def start_api(
    aiohttp_client: Callable[..., Awaitable[Client]], make_config: Callable[..., Config]
) -> StartApi:
    """An app on the test database fed the capture: ``await start_api(api__token_ttl="5")``."""

    async def start(**overrides: str) -> Client:
        client = await aiohttp_client(create_app(make_config(**overrides)))
        assert client.app is not None
        feed_captured(client.app[REGISTRATIONS])
        return client

    return start


@pytest.fixture
async def api(conn: asyncpg.Connection, start_api: StartApi) -> Api:
    """Admin of xswitch.test logged in; extensions 1001, 1002 (registered in the capture), 1003,
    and 2001 in another domain."""
    admin_id = await add_admin(conn)
    for extn in ("1001", "1002", "1003"):
        await add_extension(conn, extn, DOMAIN, user_id=admin_id)
    await add_extension(conn, "2001", "other.test")
    client = await start_api()
    assert client.app is not None
    state = client.app[REGISTRATIONS]
    assert isinstance(state, RegistrationState)
    return Api(client, state, await login(client))
