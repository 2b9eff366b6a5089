"""Nobody keeps someone else out: locks per account *and* source, right passwords never
refused for a race (issue 21 items 2 and 3; docs/admin-api-security.md). Each source is a
real TCP peer: the client binds its socket to its own loopback address (127.0.0.0/8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest

from bridge.keys import METRICS
from tests.api.conftest import StartApi
from tests.api.helpers import ADMIN_PASSWORD, add_admin
from tests.support.client import Client

Post = Callable[[str, str], Awaitable[int]]
Sources = Callable[[Client], Awaitable[Callable[[str, str, str], Awaitable[int]]]]


@pytest.fixture
async def sources() -> AsyncIterator[Sources]:
    """``post = await sources(client)``; ``await post("127.0.0.2", login, password)`` logs in
    from that address (one connection pool per address, closed at the end)."""
    sessions: dict[str, aiohttp.ClientSession] = {}

    async def bind(client: Client) -> Callable[[str, str, str], Awaitable[int]]:
        async def post(address: str, login: str, password: str) -> int:
            if address not in sessions:
                connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=0)
                sessions[address] = aiohttp.ClientSession(connector=connector)
            url = client.make_url("/api/sessions")
            async with sessions[address].post(url, data={"login": login, "password": password}) as response:
                await response.read()
                return response.status

        return post

    yield bind
    for session in sessions.values():
        await session.close()


def metric(client: Client, name: str, **labels: str) -> float:
    assert client.app is not None
    return client.app[METRICS].registry.get_sample_value(name, labels) or 0.0


async def test_given_one_source_failing_repeatedly_then_the_right_password_from_another_gets_in_every_time(
    conn: asyncpg.Connection, start_api: StartApi, sources: Sources
) -> None:
    await add_admin(conn)
    client = await start_api()
    post = await sources(client)
    for round_ in range(12):  # well past api.max_login_attempts (5) from the attacker
        assert await post("127.0.0.2", "admin", f"guess-{round_}") == 403
        assert await post("127.0.0.3", "admin", ADMIN_PASSWORD) == 200, round_
    # The attacker's source is locked for real: even the right password is refused to it.
    assert await post("127.0.0.2", "admin", ADMIN_PASSWORD) == 403
    assert await conn.fetchval("SELECT is_locked FROM users WHERE login = 'admin'") is False
    assert metric(client, "bridge_api_login_refusals_total", reason="bad_credentials") == 5
    assert metric(client, "bridge_api_login_refusals_total", reason="source_locked") == 8


async def test_given_lock_sources_sources_each_locked_then_the_account_is_locked_for_everyone(
    conn: asyncpg.Connection, start_api: StartApi, sources: Sources
) -> None:
    await add_admin(conn)
    client = await start_api(api__max_login_attempts="2", api__lock_sources="3")
    post = await sources(client)
    for address in ("127.0.0.2", "127.0.0.3"):
        for _ in range(2):
            assert await post(address, "admin", "wrong") == 403
    assert await post("127.0.0.9", "admin", ADMIN_PASSWORD) == 200  # two sources: not yet
    for _ in range(2):
        assert await post("127.0.0.4", "admin", "wrong") == 403
    assert await conn.fetchval("SELECT is_locked FROM users WHERE login = 'admin'") is True
    assert await post("127.0.0.9", "admin", ADMIN_PASSWORD) == 403
    assert metric(client, "bridge_api_accounts_locked_total") == 1
    assert metric(client, "bridge_api_login_refusals_total", reason="account_locked") == 1
    # The account lock lapses lock_seconds after the attempt that set it.
    await conn.execute("UPDATE users SET last_login_attempt_at = now() - interval '901 seconds'")
    assert await post("127.0.0.9", "admin", ADMIN_PASSWORD) == 200


async def test_given_lock_sources_zero_then_no_number_of_sources_locks_the_owner_out(
    conn: asyncpg.Connection, start_api: StartApi, sources: Sources
) -> None:
    await add_admin(conn)
    client = await start_api(api__max_login_attempts="1", api__lock_sources="0")
    post = await sources(client)
    for last in range(2, 12):
        assert await post(f"127.0.0.{last}", "admin", "wrong") == 403
    assert await post("127.0.1.1", "admin", ADMIN_PASSWORD) == 200


@pytest.mark.parametrize(
    "limits",
    [{}, {"api__max_login_attempts": "100", "api__max_source_failures": "1000"}],
    ids=["default-limits", "raised-limits"],
)
async def test_given_30_concurrent_right_logins_from_one_address_then_all_are_200(
    conn: asyncpg.Connection, start_api: StartApi, limits: dict[str, str], sources: Sources
) -> None:
    await add_admin(conn)
    # The 5 s query timeout only keeps a loaded test machine from answering 503.
    client = await start_api(database__query_timeout="5", **limits)
    post = await sources(client)
    statuses = await asyncio.gather(*(post("127.0.0.2", "admin", ADMIN_PASSWORD) for _ in range(30)))
    assert statuses == [200] * 30
    # Nothing was charged: the address may still fail its whole budget.
    assert await conn.fetchval("SELECT failures FROM bridge_login_sources") == 0
    assert await post("127.0.0.2", "admin", ADMIN_PASSWORD) == 200


async def test_given_200_right_logins_from_200_addresses_at_once_then_all_are_200(
    conn: asyncpg.Connection, start_api: StartApi, sources: Sources
) -> None:
    await add_admin(conn)
    client = await start_api(database__pool_max="20", database__query_timeout="5")
    post = await sources(client)
    addresses = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(200)]
    statuses = await asyncio.gather(*(post(address, "admin", ADMIN_PASSWORD) for address in addresses))
    assert statuses == [200] * 200
    assert await conn.fetchval("SELECT count(*) FROM bridge_login_failures") == 0


async def test_given_concurrent_wrong_guesses_from_one_address_then_right_logins_from_another_are_200(
    conn: asyncpg.Connection, start_api: StartApi, sources: Sources
) -> None:
    await add_admin(conn)
    client = await start_api(
        database__pool_max="20", database__query_timeout="5", api__max_source_failures="1000"
    )
    post = await sources(client)
    guesses = [post("127.0.0.2", "admin", f"guess-{i}") for i in range(100)]
    rights = [post("127.0.0.3", "admin", ADMIN_PASSWORD) for _ in range(30)]
    statuses = await asyncio.gather(*guesses, *rights)
    assert set(statuses[:100]) == {403}
    assert statuses[100:] == [200] * 30


async def test_given_an_operator_lifts_the_accounts_lock_then_every_source_may_try_again(
    conn: asyncpg.Connection, start_api: StartApi, sources: Sources
) -> None:
    await add_admin(conn)
    client = await start_api(api__max_login_attempts="2", api__lock_sources="2")
    post = await sources(client)
    for address in ("127.0.0.2", "127.0.0.3"):
        for _ in range(2):
            assert await post(address, "admin", "wrong") == 403
    assert await conn.fetchval("SELECT is_locked FROM users WHERE login = 'admin'") is True
    await conn.execute("UPDATE users SET is_locked = false WHERE login = 'admin'")
    assert await post("127.0.0.2", "admin", ADMIN_PASSWORD) == 200
    assert await post("127.0.0.3", "admin", ADMIN_PASSWORD) == 200


async def test_given_a_source_lock_that_lapsed_then_it_does_not_count_toward_locking_the_account(
    conn: asyncpg.Connection, start_api: StartApi, sources: Sources
) -> None:
    await add_admin(conn)
    client = await start_api(api__max_login_attempts="2", api__lock_sources="2")
    post = await sources(client)
    for _ in range(2):
        assert await post("127.0.0.2", "admin", "wrong") == 403
    await conn.execute("UPDATE bridge_login_failures SET last_failure_at = now() - interval '901 seconds'")
    for _ in range(2):
        assert await post("127.0.0.3", "admin", "wrong") == 403
    assert await conn.fetchval("SELECT is_locked FROM users WHERE login = 'admin'") is False
    assert await post("127.0.0.4", "admin", ADMIN_PASSWORD) == 200
