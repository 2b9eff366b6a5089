"""Scans are banned and enforced on every instance; offices are not; bans expire and lift."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from bridge.guard.history import key_of
from bridge.guard.outcome import Reason
from bridge.logs import _PlainFormatter
from bridge.registrations import events
from bridge.registrations.keys import REGISTRATIONS
from bridge.registrations.model import NodeState
from bridge.registrations.state import RegistrationState
from tests.api.helpers import auth, login
from tests.directory.helpers import is_not_found, post
from tests.fakes.esl_server import frame_body
from tests.guard.conftest import StartGuarded, guard_of
from tests.guard.helpers import DOMAIN, from_ip, unknown_user, wrong_password
from tests.registrations import frames
from tests.support.captures import form
from tests.support.client import Client
from tests.support.poll import eventually

SCANNER = "203.0.113.7"
OFFICE = "198.51.100.20"
FILTER = Path(__file__).resolve().parents[2] / "deploy" / "fail2ban" / "filter.d" / "bridge-guard.conf"


async def found(client: Client, body: bytes) -> bool:
    status, answer = await post(client, body)
    assert status == 200
    return not is_not_found(etree.fromstring(answer))


async def scan(client: Client, ip: str = SCANNER, users: int = 11) -> None:
    for n in range(users):
        await post(client, unknown_user(ip, n))


def banned(client: Client, ip: str) -> bool:
    return any(b.ip == ip and not b.key for b in guard_of(client).bans())


async def test_a_scan_is_banned_and_its_lookups_answered_not_found_at_once(
    start_guarded: StartGuarded, extensions: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    client = await start_guarded()
    caplog.set_level(logging.INFO, logger="bridge.guard")
    assert await found(client, from_ip(form("register_1001"), SCANNER))  # even a right digest, later
    # Judged by the guard's task before its trust is taken back.
    await eventually(lambda: len(guard_of(client).history.of(key_of("1001", DOMAIN))) == 1)
    guard_of(client).rules.forgive(SCANNER)
    guard_of(client).rules._trusted.clear()
    await scan(client)
    await eventually(lambda: banned(client, SCANNER), what="scanner banned")
    # Banned: the right password from there is not found now; other sources are unaffected.
    assert not await found(client, from_ip(form("register_1001"), SCANNER))
    assert await found(client, from_ip(form("register_1001"), "192.0.2.50"))
    # The guard's task judges the last two after their answers: wait for them.
    await eventually(lambda: len(guard_of(client).history.of(key_of("1001", DOMAIN))) == 3)
    reasons = [a.reason for a in guard_of(client).history.of(key_of("1001", DOMAIN))]
    assert reasons == [Reason.REGISTERED, Reason.BANNED, Reason.REGISTERED]
    text = await (await client.get("/metrics")).text()
    assert 'bridge_guard_bans_total{rule="unknown_users",scope="source"} 1.0' in text
    assert 'bridge_guard_bans_active{scope="source"} 1.0' in text
    assert 'bridge_guard_refused_lookups_total{scope="source"} 1.0' in text
    lines = [r for r in caplog.records if r.getMessage().startswith("guard ban ")]
    assert [r.getMessage().split(" seconds=")[0] for r in lines] == [f"guard ban ip={SCANNER}"]


async def test_a_busy_office_nat_with_one_bad_phone_is_not_banned_only_that_phone_limited(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded(guard__extension_max_failures="5")
    assert await found(client, from_ip(form("register_1001"), OFFICE, "5071"))  # a good phone
    for _ in range(40):  # the bad phone, far beyond the source rule's 30
        await post(client, wrong_password(OFFICE, user="1002", port="5081"))
    guard = guard_of(client)
    await eventually(lambda: any(b.key == key_of("1002", DOMAIN) for b in guard.bans()), what="1002 limited")
    assert not banned(client, OFFICE)
    assert await found(client, from_ip(form("register_1001"), OFFICE, "5071"))  # the office still works
    assert not await found(client, wrong_password(OFFICE, user="1002", port="5081"))  # limited
    await eventually(lambda: guard.history.of(key_of("1002", DOMAIN))[-1].reason is Reason.LIMITED)
    # The same failures from an unknown source ban it.
    for _ in range(31):
        await post(client, wrong_password(SCANNER))
    await eventually(lambda: banned(client, SCANNER))


async def test_a_ban_made_on_one_instance_is_enforced_by_another_and_unban_reaches_both(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    first = await start_guarded()
    second = await start_guarded()
    await scan(first)
    await eventually(lambda: banned(first, SCANNER))
    await eventually(lambda: banned(second, SCANNER), timeout=3, what="second instance polls the ban")
    assert not await found(second, from_ip(form("register_1001"), SCANNER))
    # Unban through the API of one: both answer again.
    token = await login(second)
    listed = await (await second.get("/api/guard/bans", headers=auth(token))).json()
    assert [(b["ip"], b["scope"], b["rule"], b["offences"]) for b in listed["rows"]] == [
        (SCANNER, "source", "unknown_users", 1)
    ]
    assert (await second.delete("/api/guard/bans/not-an-ip", headers=auth(token))).status == 400
    response = await second.delete(f"/api/guard/bans/{SCANNER}", headers=auth(token))
    assert response.status == 200
    assert (await second.delete(f"/api/guard/bans/{SCANNER}", headers=auth(token))).status == 404
    await eventually(lambda: not banned(first, SCANNER), timeout=3, what="first instance hears the lift")
    assert await found(first, from_ip(form("register_1001"), SCANNER))
    # A repeat offence gets a longer ban (offences counted in the shared table): once the
    # right digest above is judged, its trust is taken back.
    await eventually(lambda: len(guard_of(first).history.of(key_of("1001", DOMAIN))) == 1)
    guard_of(first).rules._trusted.clear()
    await scan(first)
    await eventually(lambda: banned(first, SCANNER))
    ban = next(b for b in guard_of(first).bans() if b.ip == SCANNER)
    assert ban.offences == 2 and ban.until - ban.banned_at == pytest.approx(600 * 4, abs=1)


async def test_bans_expire_on_their_own(start_guarded: StartGuarded, extensions: dict[str, int]) -> None:
    client = await start_guarded(guard__ban_seconds="1")
    await scan(client)
    await eventually(lambda: banned(client, SCANNER))
    assert not await found(client, from_ip(form("register_1001"), SCANNER))
    await eventually(lambda: not banned(client, SCANNER), timeout=5, what="ban expired")
    assert await found(client, from_ip(form("register_1001"), SCANNER))


async def test_allow_listed_sources_and_scanner_agents(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    client = await start_guarded(guard__allow="203.0.113.0/24")
    await scan(client, users=30)
    scanner_ua = b"sip_user_agent=friendly-scanner"
    await post(
        client,
        unknown_user("192.0.2.99", 1).replace(
            b"sip_user_agent=baresip%20v1.0.0%20(x86_64/linux)", scanner_ua
        ),
    )
    await eventually(lambda: banned(client, "192.0.2.99"), what="scanner agent banned at once")
    assert not banned(client, SCANNER)


def fail2ban_regex() -> re.Pattern[str]:
    """The shipped failregex, with <HOST> as fail2ban expands it (an address, captured)."""
    text = FILTER.read_text()
    line = next(row for row in text.splitlines() if row.startswith("failregex"))
    regex = line.split("=", 1)[1].strip()
    return re.compile(regex.replace("<HOST>", r"(?P<host>[0-9A-Fa-f:.]+)"))


async def test_ban_log_lines_match_the_shipped_fail2ban_filter_and_limits_do_not(
    start_guarded: StartGuarded, extensions: dict[str, int], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.guard")
    client = await start_guarded(guard__extension_max_failures="2")
    await scan(client)
    await scan(client, ip="2001:db8::66")
    assert await found(client, from_ip(form("register_1001"), OFFICE))
    for _ in range(3):
        await post(client, wrong_password(OFFICE, user="1002"))
    await eventually(lambda: banned(client, SCANNER) and banned(client, "2001:db8::66"))
    await eventually(lambda: len(guard_of(client).bans()) == 3)
    formatter = _PlainFormatter("%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s")
    lines = []
    for record in caplog.records:
        record.request_id = "-"
        lines.append(formatter.format(record))
    regex = fail2ban_regex()
    hosts = [m.group("host") for line in lines if (m := regex.search(line))]
    assert hosts == [SCANNER, "2001:db8::66"]
    assert any(
        line.endswith(
            f"guard limit extension=1002@xswitch.test ip={OFFICE} seconds=600"
            " rule=extension_failures offences=1"
        )
        for line in lines
    )
    fail2ban = shutil.which("fail2ban-regex")
    if fail2ban is None:
        return  # the regex itself was checked above with Python's re
    logfile = tmp_path / "bridge.log"
    logfile.write_text("\n".join(lines) + "\n")
    result = await asyncio.to_thread(
        subprocess.run, [fail2ban, str(logfile), str(FILTER)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"Failregex: 2 total", result.stdout), result.stdout


async def test_a_source_with_a_live_binding_is_trusted_and_a_scan_from_it_is_not_banned(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    """The registration state answers whether a failing address has a live binding (its
    per-address counts, not a walk over every binding held): a phone registered from there
    vouches for it, as a right digest would."""
    client = await start_guarded()
    state = client.server.app[REGISTRATIONS]
    assert isinstance(state, RegistrationState)
    change = events.to_change("fs1", json.loads(frame_body(frames.REGISTER_1001)), now=0.0)
    assert isinstance(change, events.Registered)
    live = replace(change.registration, network_ip=OFFICE, expires=str(int(time.time()) + 3600))
    # Mirrored (another instance follows fs1): the guard sees no REGISTER of it, only the
    # binding in the state vouches for the address.
    state.apply(events.NodeChanged("fs1", NodeState.STANDBY, time.time()))
    state.apply(events.Mirrored("fs1", (live,)))
    assert state.registered_from(OFFICE)
    await scan(client, ip=OFFICE)
    await scan(client, ip=SCANNER)  # the control: the same scan from an address without one
    await eventually(lambda: banned(client, SCANNER), what="scanner banned")
    await guard_of(client).drain()
    assert not banned(client, OFFICE)
    assert guard_of(client).rules.is_trusted(OFFICE, time.time())
