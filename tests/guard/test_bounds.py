"""Bans are bounded and compared canonical; IPv6 bans widen to the prefix; a flood from one
source cannot keep another's attempts from being judged; each poll reads only what changed."""

from __future__ import annotations

import time
from urllib.parse import quote

import asyncpg
import pytest
from lxml import etree

from bridge.directory.form import read_fields, request_of
from bridge.guard.address import canonical, prefix_of
from bridge.guard.store import BanStore
from bridge.keys import DATABASE, METRICS
from tests.api.helpers import auth, login
from tests.directory.helpers import is_not_found, post
from tests.guard.conftest import Client, StartGuarded, guard_of
from tests.guard.helpers import derive, form, unknown_user
from tests.support.poll import eventually

SCAN_AGENT = "friendly-scanner"


def scanner(ip: str, n: int = 0) -> bytes:
    return derive(unknown_user(ip, n), sip_user_agent=SCAN_AGENT)


async def answered_not_found(client: Client, body: bytes) -> bool:
    status, answer = await post(client, body)
    assert status == 200
    return is_not_found(etree.fromstring(answer))


@pytest.mark.parametrize(
    ("banned", "asked"),
    [
        ("198.51.100.241", "::ffff:198.51.100.241"),
        ("198.51.100.241", "::FFFF:c633:64f1"),
        ("2001:DB8::241", "2001:db8::241"),
        ("2001:db8::241", "2001:DB8:0:0:0:0:0:241"),
        ("2001:db8::241", "2001:db8::241%eth0"),
    ],
    ids=["v4-mapped", "v4-mapped-hex", "upper-case-ban", "expanded", "zone"],
)
async def test_given_a_ban_when_the_same_address_is_written_another_way_then_refused(
    start_guarded: StartGuarded, extensions: dict[str, int], banned: str, asked: str
) -> None:
    client = await start_guarded()
    await post(client, scanner(banned))
    guard = guard_of(client)
    await eventually(lambda: [b.ip for b in guard.bans()] == [canonical(banned)], what="banned canonical")
    assert await answered_not_found(client, derive(form("register_1001"), ip=asked))
    assert not await answered_not_found(client, derive(form("register_1001"), ip="192.0.2.99"))


async def test_given_20000_ipv6_scanners_in_one_64_then_few_rows_and_a_new_address_refused(
    start_guarded: StartGuarded, extensions: dict[str, int], conn: asyncpg.Connection
) -> None:
    """Each scanner's lookup goes the way the directory endpoint sends it (after the gate):
    ``refused`` first, ``observe`` when not refused; the guard judges as it runs."""
    client = await start_guarded()
    guard = guard_of(client)
    base = scanner("2001:db8:21:64::1")
    for n in range(20_000):
        body = base.replace(
            b"&ip=2001%3Adb8%3A21%3A64%3A%3A1", b"&ip=" + quote(f"2001:db8:21:64::{n:x}:1").encode()
        )
        fields = read_fields(body, guard.fields)
        request = request_of(fields)
        if guard.refused(fields, request) is None:
            guard.observe(fields, request, "unknown", "")
        if n % 50 == 0:  # the guard's own task judges (one consumer, in order, as in service)
            await eventually(lambda: guard.queue_depth() == 0)
    await eventually(lambda: guard.queue_depth() == 0)
    prefix = "2001:db8:21:64::/64"
    await eventually(lambda: (prefix, "") in {(b.ip, b.key) for b in guard.bans()}, what="the /64 banned")
    rows = await conn.fetch("SELECT ip FROM guard_bans ORDER BY banned_at")
    widen = guard.config.ipv6_widen_after
    assert len(rows) == widen + 1, rows
    assert rows[-1]["ip"] == prefix
    assert await answered_not_found(client, derive(form("register_1001"), ip="2001:db8:21:64:ffff::7"))
    assert not await answered_not_found(client, derive(form("register_1001"), ip="2001:db8:21:65::7"))
    text = await (await client.get("/metrics")).text()
    assert 'bridge_guard_bans_total{rule="ipv6_prefix",scope="source"} 1.0' in text
    # The admin lifts the prefix by its own path.
    token = await login(client)
    response = await client.delete("/api/guard/bans/2001:db8:21:64::/64", headers=auth(token))
    assert response.status == 200, await response.text()
    assert not await answered_not_found(client, derive(form("register_1001"), ip="2001:db8:21:64:ffff::7"))


async def test_given_max_bans_when_more_sources_are_banned_then_the_soonest_ending_are_evicted_and_counted(
    start_guarded: StartGuarded, extensions: dict[str, int], conn: asyncpg.Connection
) -> None:
    client = await start_guarded(guard__max_bans="20")
    guard = guard_of(client)
    for n in range(60):
        await post(client, scanner(f"203.0.113.{n + 1}"))
    await eventually(lambda: guard.queue_depth() == 0 and "203.0.113.60" in {b.ip for b in guard.bans()})
    registry = client.server.app[METRICS].registry
    await eventually(lambda: registry.get_sample_value("bridge_guard_bans_evicted_total") == 40.0)
    await eventually(lambda: len(guard.bans()) == 20, what="20 bans in force")
    assert {b.ip for b in guard.bans()} == {f"203.0.113.{n}" for n in range(41, 61)}  # the newest kept
    active = await conn.fetchval("SELECT count(*) FROM guard_bans WHERE until > now()")
    assert active == 20
    text = await (await client.get("/metrics")).text()
    assert "bridge_guard_bans_evicted_total 40.0" in text
    # Paged and bounded: a page of the 20, the total beside it; a page too large is refused.
    token = await login(client)
    page = await (await client.get("/api/guard/bans?limit=5&offset=10", headers=auth(token))).json()
    assert page["row_count"] == 20 and len(page["rows"]) == 5
    assert (await client.get("/api/guard/bans?limit=100000", headers=auth(token))).status == 400


async def test_given_a_flood_from_one_source_then_another_sources_scan_is_still_judged(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded()
    guard = guard_of(client)
    flood_fields = read_fields(derive(form("register_1001_wrong_password"), ip="192.0.2.200"), guard.fields)
    flood = request_of(flood_fields)
    attacker = "203.0.113.99"
    # 30,000 lookups from one source with the attacker's 15 unknown users among them, all
    # queued before the guard's task runs once (the worst case for the queue).
    for n in range(30_000):
        guard.observe(flood_fields, flood, "found", "")
        if n % 2000 == 0 and n // 2000 < 15:
            fields = read_fields(unknown_user(attacker, n // 2000), guard.fields)
            guard.observe(fields, request_of(fields), "unknown", "")
    assert guard.queue_depth() == guard.config.queue_per_source + 15
    await eventually(lambda: attacker in {b.ip for b in guard.bans()}, what="the attacker's scan judged")
    text = await (await client.get("/metrics")).text()
    dropped = 30_000 - guard.config.queue_per_source
    assert f"bridge_guard_queue_dropped_total {float(dropped)}" in text


async def test_each_poll_reads_only_the_rows_changed_since_the_last(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded()
    store = BanStore(
        client.server.app[DATABASE], base=600, growth=4, longest=7 * 86400, forget=86400, instance="t"
    )
    for n in range(50):
        await store.ban(f"198.51.100.{n}", "", "failures")
    first, read_at = await store.changed(None)
    assert len(first) == 50 and abs(read_at - time.time()) < 60
    again, later = await store.changed(read_at)
    assert again == [] and later >= read_at
    await store.lift("198.51.100.7", "admin")
    (lifted,), _ = await store.changed(later)
    assert (lifted.ip, lifted.lifted_by) == ("198.51.100.7", "admin") and lifted.until <= time.time() + 1
    # Another instance's lift reaches this one's memory through the incremental poll.
    guard = guard_of(client)
    await eventually(lambda: "198.51.100.9" in {b.ip for b in guard.bans()}, what="learned")
    await store.lift("198.51.100.9", "admin")
    await eventually(lambda: "198.51.100.9" not in {b.ip for b in guard.bans()}, what="forgotten")


def test_prefix_of_an_ipv6_address_and_none_for_ipv4() -> None:
    assert prefix_of("2001:db8:1:2:3::4", 64) == "2001:db8:1:2::/64"
    assert prefix_of("2001:db8:1:2:3::4", 48) == "2001:db8:1::/48"
    assert prefix_of("198.51.100.1", 64) is None
    assert canonical("not an address") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("::FFFF:198.51.100.241", "198.51.100.241"),
        ("2001:DB8::241%eth0", "2001:db8::241"),
        ("198.51.100.1", "198.51.100.1"),
        ("1" * 100_000, None),  # too long to be remembered, still refused
        ("198.51.100.1" + " " * 80, None),
    ],
    ids=["mapped", "zone", "ipv4", "huge", "padded"],
)
def test_canonical_gives_the_same_answer_the_first_time_and_from_memory(
    text: str, expected: str | None
) -> None:
    assert canonical(text) == expected
    assert canonical(text) == expected


async def test_given_an_allowed_address_in_a_prefix_then_the_prefix_is_never_banned_whole(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded(guard__allow="2001:db8:77:1::99/128")
    guard = guard_of(client)
    for n in range(1, 6):
        await post(client, scanner(f"2001:db8:77:1::{n}"))
    await eventually(lambda: len(guard.bans()) == 5 and guard.queue_depth() == 0, what="five address bans")
    assert all("/" not in b.ip for b in guard.bans())
    assert not await answered_not_found(client, derive(form("register_1001"), ip="2001:db8:77:1::99"))
