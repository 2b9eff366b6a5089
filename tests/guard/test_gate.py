"""Who may reach /directory, and what the guard believes: only requests that passed the gate.

The attacker is a real client on another address (a network namespace joined by a veth pair,
tests/support/netns.py); "FreeSWITCH" is this host's end of the pair. The start-up refusal
runs the real command line.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.app import create_app
from bridge.config import Config
from bridge.guard.history import key_of
from tests.directory.helpers import FORM_TYPE, post
from tests.guard.conftest import FAST, guard_of
from tests.guard.helpers import DOMAIN, derive, form
from tests.support.netns import Namespace, veth_namespace
from tests.support.poll import eventually

Client = TestClient[web.Request, web.Application]

VICTIM = "198.51.100.151"  # the address a forged scanner lookup would have banned
REPLAYED = "198.51.100.152"  # the address a replayed valid digest would have made trusted


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    with veth_namespace() as ns:
        yield ns


async def _serve_on(
    host: str,
    make_config: Callable[..., Config],
    aiohttp_client: Callable[..., Awaitable[Client]],
    **overrides: str,
) -> Client:
    # http.host stays loopback in the config (it validates); the socket is bound on the pair,
    # so the endpoint's own gate is what decides.
    app = create_app(make_config(**{**FAST, **overrides}))
    return await aiohttp_client(app, server_kwargs={"host": host})


async def _from_namespace(ns: Namespace, client: Client, body: bytes, **headers: str) -> tuple[int, str]:
    url = str(client.make_url("/directory"))
    return await asyncio.to_thread(ns.request, url, body, {"Content-Type": FORM_TYPE, **headers})


async def test_given_allow_from_when_another_address_forges_a_ban_or_trust_then_refused_unrecorded(
    namespace: Namespace,
    make_config: Callable[..., Config],
    aiohttp_client: Callable[..., Awaitable[Client]],
    extensions: dict[str, int],
) -> None:
    client = await _serve_on(
        namespace.host_address,
        make_config,
        aiohttp_client,
        directory__allow_from=f"{namespace.host_address}/32",
    )
    guard = guard_of(client)
    forged_ban = derive(form("register_1001_wrong_password"), ip=VICTIM, sip_user_agent="friendly-scanner")
    replayed_digest = derive(form("register_1001"), ip=REPLAYED)
    for body in (form("list_users"), forged_ban, replayed_digest):
        status, text = await _from_namespace(namespace, client, body)
        assert (status, text) == (403, "source address not allowed\n")
    # FreeSWITCH (this host's end, allowed) reports a scanner at REPLAYED: it is banned, so the
    # replayed digest did not make it trusted (a trusted source only ever gets a limit).
    scan = derive(form("register_unknown_user_1009"), ip=REPLAYED, sip_user_agent="friendly-scanner")
    status, _ = await post(client, scan)
    assert status == 200
    await eventually(
        lambda: any(b.ip == REPLAYED and not b.key for b in guard.bans()), what="FreeSWITCH's ban"
    )
    assert [b.ip for b in guard.bans()] == [REPLAYED]  # VICTIM never banned
    assert not guard.rules.is_trusted(REPLAYED, guard._clock())
    assert not guard.history.of(key_of("1001", DOMAIN))  # the attacker's lookups left no trace


async def test_given_defaults_when_a_non_loopback_client_asks_then_403_and_the_guard_hears_nothing(
    namespace: Namespace,
    make_config: Callable[..., Config],
    aiohttp_client: Callable[..., Awaitable[Client]],
    extensions: dict[str, int],
) -> None:
    client = await _serve_on(namespace.host_address, make_config, aiohttp_client)
    guard = guard_of(client)
    forged_ban = derive(form("register_1001_wrong_password"), ip=VICTIM, sip_user_agent="friendly-scanner")
    for body in (form("list_users"), forged_ban, form("register_1001")):
        assert await _from_namespace(namespace, client, body) == (403, "source address not allowed\n")
        # This host's own non-loopback address is refused too: loopback only.
        assert (await post(client, body))[0] == 403
    await guard.drain()
    assert guard.bans() == [] and guard.queue_depth() == 0
    assert not guard.history.of(key_of("1001", DOMAIN))


async def test_given_credentials_only_when_a_remote_client_has_them_then_answered_and_judged(
    namespace: Namespace,
    make_config: Callable[..., Config],
    aiohttp_client: Callable[..., Awaitable[Client]],
    extensions: dict[str, int],
) -> None:
    client = await _serve_on(
        namespace.host_address,
        make_config,
        aiohttp_client,
        directory__username="freeswitch",
        directory__password="s3cret-directory",
    )
    guard = guard_of(client)
    scan = derive(form("register_unknown_user_1009"), ip=VICTIM, sip_user_agent="friendly-scanner")
    status, text = await _from_namespace(namespace, client, scan)
    assert (status, text) == (401, "credentials required\n")
    basic = "Basic " + base64.b64encode(b"freeswitch:s3cret-directory").decode()
    assert (await _from_namespace(namespace, client, scan, Authorization=basic))[0] == 200
    await eventually(lambda: [b.ip for b in guard.bans()] == [VICTIM], what="the authenticated report judged")


async def test_given_an_open_allow_from_without_credentials_then_lookups_answered_but_not_evidence(
    make_config: Callable[..., Config],
    aiohttp_client: Callable[..., Awaitable[Client]],
    extensions: dict[str, int],
) -> None:
    client = await aiohttp_client(create_app(make_config(**FAST, directory__allow_from="0.0.0.0/0,::/0")))
    guard = guard_of(client)
    scan = derive(form("register_unknown_user_1009"), ip=VICTIM, sip_user_agent="friendly-scanner")
    assert (await post(client, scan))[0] == 200
    await guard.drain()
    assert guard.bans() == [] and guard.queue_depth() == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"], ids=["any-v4", "any-v6", "an-interface"])
def test_given_a_non_loopback_host_without_allow_from_or_credentials_then_serve_refuses_to_start(
    host: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "serve", "--host", host],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        env={"PATH": "/usr/bin:/bin", "BRIDGE_STATE_DIR": str(tmp_path)},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bridge: http.host="), lines
    assert "directory.allow_from" in lines[0] and "directory.username" in lines[0]
    assert list(tmp_path.iterdir()) == []  # refused before anything started (no embedded database)
