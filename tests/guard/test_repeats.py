"""A right digest repeating its extension's newest attempt is counted onto it, not judged again;
everything else (a wrong digest first of all) is judged as ever, and bans at the same thresholds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import pytest

from bridge.guard.engine import GuardEvent, Judged
from bridge.guard.history import key_of
from bridge.guard.outcome import Reason
from tests.api.helpers import auth, login
from tests.directory.helpers import digest_response, fields, post
from tests.guard.conftest import StartGuarded, guard_of
from tests.guard.helpers import DOMAIN, derive, from_ip, wrong_password
from tests.support.captures import PASSWORD, form, md5
from tests.support.client import Client
from tests.support.metrics import app_sample
from tests.support.poll import eventually

KEY = key_of("1001", DOMAIN)
OFFICE = "198.51.100.20"
SCANNER = "203.0.113.7"


def fresh_challenge(nonce: str = "0f1e2d3c-aaaa-bbbb-cccc-000000000001", nc: str = "00000002") -> bytes:
    """register_1001 answering another challenge: a new nonce and count, the right response."""
    f = {**fields("register_1001"), "sip_auth_nonce": nonce, "sip_auth_nc": nc}
    response = digest_response(md5(f"1001:{DOMAIN}:{PASSWORD}"), f)
    return derive(form("register_1001"), sip_auth_nonce=nonce, sip_auth_nc=nc, sip_auth_response=response)


async def first_recorded(client: Client, body: bytes) -> None:
    """Post ``body`` and wait until the guard's task has recorded it (the repeats need it)."""
    await post(client, body)
    guard = guard_of(client)
    await eventually(lambda: len(guard.history.of(KEY)) >= 1 and guard.queue_depth() == 0)


async def recorded_and_repeated(client: Client, body: bytes) -> None:
    """``body`` recorded, then posted again and counted onto it as a repeat."""
    await first_recorded(client, body)
    await post(client, body)
    await eventually(lambda: attempts(client) == [(Reason.REGISTERED, 1)])


def attempts(client: Client) -> list[tuple[Reason, int]]:
    return [(a.reason, a.repeats) for a in guard_of(client).history.of(KEY)]


async def test_given_a_phone_re_registering_then_its_right_digests_are_one_attempt_with_a_count(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded()
    judged: list[GuardEvent] = []
    guard_of(client).subscribe(judged.append)
    await first_recorded(client, form("register_1001"))
    started = time.time()
    await post(client, form("register_1001"))
    await post(client, fresh_challenge())  # a real phone's next REGISTER: a new nonce
    await eventually(lambda: attempts(client) == [(Reason.REGISTERED, 2)])
    # The console got the attempt once; the metrics count every lookup; the source is trusted.
    assert len([e for e in judged if isinstance(e, Judged)]) == 1
    counted = app_sample(client.server.app, "bridge_guard_attempts_total", reason="registered")
    assert counted == 3
    assert guard_of(client).rules.is_trusted("127.0.0.1", time.time())
    # The why answers with the count and the latest time.
    token = await login(client)
    why = await (await client.get("/api/guard/why", params={"user": KEY}, headers=auth(token))).json()
    newest = why["attempts"][0]
    assert (newest["outcome"], newest["repeats"]) == ("registered", 2)
    assert newest["last_at"] >= started >= newest["at"]
    assert why["verdict"]["ok"] is True and "3 attempts in a row" in why["verdict"]["says"]


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(lambda: from_ip(form("register_1001"), "127.0.0.1", "5999"), id="another-port"),
        pytest.param(lambda: from_ip(form("register_1001"), "192.0.2.50", "5071"), id="another-address"),
        pytest.param(
            lambda: derive(form("register_1001"), sip_user_agent="Yealink SIP-T46S"), id="another-agent"
        ),
        pytest.param(lambda: derive(form("register_1001"), hostname="fs2"), id="another-node"),
    ],
)
async def test_given_the_same_digest_from_elsewhere_then_it_is_an_attempt_of_its_own(
    start_guarded: StartGuarded, extensions: dict[str, int], second: Callable[[], bytes]
) -> None:
    client = await start_guarded()
    await first_recorded(client, form("register_1001"))
    await post(client, second())
    await eventually(lambda: attempts(client) == [(Reason.REGISTERED, 0), (Reason.REGISTERED, 0)])


async def test_given_repeat_seconds_0_then_every_lookup_is_an_attempt(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded(guard__repeat_seconds="0")
    await first_recorded(client, form("register_1001"))
    await post(client, form("register_1001"))
    await eventually(lambda: attempts(client) == [(Reason.REGISTERED, 0)] * 2)


async def test_given_repeats_then_wrong_digests_from_that_source_are_each_judged_and_limit_at_the_threshold(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded(guard__extension_max_failures="5")
    guard = guard_of(client)
    right = from_ip(form("register_1001"), OFFICE, "5071")
    await recorded_and_repeated(client, right)
    for n in range(5):  # the same phone, a wrong password, then right again: each judged
        await post(client, wrong_password(OFFICE, port="5071"))
        await post(client, right)
        await eventually(
            lambda n=n: (
                [r for r, _ in attempts(client)].count(Reason.WRONG_PASSWORD) == n + 1
                and guard.queue_depth() == 0
            )
        )
    assert not guard.bans()  # 5 failures: at extension_max_failures, not beyond it
    assert attempts(client)[-1] == (Reason.REGISTERED, 0)  # the right one after a failure: recorded
    await post(client, wrong_password(OFFICE, port="5071"))
    await eventually(lambda: [b.key for b in guard.bans()] == [KEY], what="1001 limited from the office")
    wrong = app_sample(client.server.app, "bridge_guard_attempts_total", reason="wrong_password")
    assert wrong == 6


async def test_given_repeats_then_a_source_that_is_no_longer_trusted_is_banned_at_the_threshold(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded(guard__trusted_seconds="0.5")
    guard = guard_of(client)
    right = from_ip(form("register_1001"), SCANNER, "5071")
    await recorded_and_repeated(client, right)
    await eventually(lambda: not guard.rules.is_trusted(SCANNER, time.time()), what="trust ended")
    for _ in range(30):  # guard.max_failures: a ban needs more
        await post(client, wrong_password(SCANNER, user="1002"))
    app = client.server.app
    await eventually(lambda: app_sample(app, "bridge_guard_attempts_total", reason="wrong_password") == 30)
    assert not guard.bans()
    await post(client, wrong_password(SCANNER, user="1002"))
    await eventually(lambda: [(b.ip, b.rule) for b in guard.bans()] == [(SCANNER, "failures")])


async def test_given_a_changed_password_then_the_repeated_digest_is_judged_wrong(
    start_guarded: StartGuarded, extensions: dict[str, int], conn: asyncpg.Connection
) -> None:
    client = await start_guarded()
    await first_recorded(client, form("register_1001"))
    await conn.execute(
        "UPDATE extensions SET password = 'another-secret', ha1 = '', ha1b = '' WHERE extn = '1001'"
    )

    async def judged_wrong() -> bool:
        await post(client, form("register_1001"))  # the cache hears of the change by NOTIFY
        return attempts(client)[-1][0] is Reason.WRONG_PASSWORD

    deadline = time.monotonic() + 10
    while not await judged_wrong():
        assert time.monotonic() < deadline, attempts(client)
        await eventually(lambda: guard_of(client).queue_depth() == 0)


async def test_given_a_run_of_repeats_then_their_source_stays_trusted_past_trusted_seconds(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    # Trust is renewed at most every min(60 s, trusted_seconds / 4) in a run of repeats.
    client = await start_guarded(guard__trusted_seconds="1")
    guard = guard_of(client)
    right = from_ip(form("register_1001"), OFFICE, "5071")
    await first_recorded(client, right)
    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        await post(client, right)
        await eventually(lambda: guard.queue_depth() == 0)
        assert guard.rules.is_trusted(OFFICE, time.time()), attempts(client)
        await asyncio.sleep(0.1)
    assert attempts(client)[0][0] is Reason.REGISTERED and len(attempts(client)) == 1
    assert attempts(client)[0][1] >= 10

