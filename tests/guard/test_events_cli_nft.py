"""What FreeSWITCH decided (captured ESL bytes), `bridge why`, the nftables sets, the bounded queue."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bridge import cli
from bridge.config import GuardConfig
from bridge.directory.form import read_fields, request_of
from bridge.guard.engine import Guard
from bridge.guard.history import key_of
from bridge.guard.metrics import GuardMetrics
from bridge.guard.nft import NftSet
from bridge.guard.outcome import Reason
from bridge.metrics import Metrics
from bridge.registrations.events import Observed, Registered, parse_event_body, to_change
from bridge.registrations.model import Delta
from tests.api.helpers import login
from tests.directory.helpers import post
from tests.fakes.esl_server import SNAPSHOT_NONE, FakeEslServer, event_frames, frame_body
from tests.guard.conftest import StartGuarded, guard_of
from tests.guard.helpers import DOMAIN
from tests.support.captures import form
from tests.support.poll import eventually


@pytest.fixture
async def fake() -> AsyncIterator[FakeEslServer]:
    server = await FakeEslServer(snapshot=SNAPSHOT_NONE).start()
    yield server
    await server.close()


@pytest.mark.parametrize("encoding", ["plain", "json"])
def test_register_attempt_events_say_who_from_where_and_what_freeswitch_decided(encoding: str) -> None:
    (frame,) = event_frames(f"register_failure_wrong_password.{encoding}.raw", "sofia::register_attempt")
    content_type = "text/event-json" if encoding == "json" else "text/event-plain"
    change = to_change("fs1", parse_event_body(content_type, frame_body(frame)), now=0.0)
    assert isinstance(change, Observed) and change.auth is not None
    seen = change.auth
    assert (seen.user, seen.domain, seen.ip, seen.port, seen.refused) == (
        "1001",
        DOMAIN,
        "127.0.0.1",
        "5091",
        True,
    )
    assert seen.user_agent == "baresip v1.0.0 (x86_64/linux)"
    (frame,) = event_frames(
        f"register_user_at_domain_username_forcematch.{encoding}.raw", "sofia::register_attempt"
    )
    change = to_change("fs1", parse_event_body(content_type, frame_body(frame)), now=0.0)
    assert isinstance(change, Observed) and change.auth is not None
    assert (change.auth.user, change.auth.refused) == ("1001", True)  # username "unknown": the To user


async def test_freeswitch_refusing_without_asking_and_confirming_lookups_is_recorded(
    start_guarded: StartGuarded, extensions: dict[str, int], fake: FakeEslServer
) -> None:
    client = await start_guarded(freeswitch__nodes=fake.url("fs1"), freeswitch__sync_interval="0.05")
    await fake.wait_subscribed()
    guard = guard_of(client)
    key = key_of("1001", DOMAIN)
    # Refused before any lookup (inbound-reg-force-matching-username): only the events tell.
    await fake.push(*event_frames("register_user_at_domain_username_forcematch.json.raw"))
    await eventually(lambda: [a.reason for a in guard.history.of(key)] == [Reason.REFUSED_BY_FREESWITCH])
    assert guard.history.of(key)[0].source == "event"
    # A wrong password: bridge's lookup record, then FreeSWITCH's 403 annotates it (no second record).
    await post(client, form("register_1001_wrong_password"))
    await eventually(lambda: len(guard.history.of(key)) == 2)
    await fake.push(*event_frames("register_failure_wrong_password.json.raw"))
    await eventually(lambda: guard.history.of(key)[-1].freeswitch == "refused")
    assert [a.reason for a in guard.history.of(key)] == [Reason.REFUSED_BY_FREESWITCH, Reason.WRONG_PASSWORD]
    # A good REGISTER: the lookup's "registered" confirmed by sofia::register.
    await post(client, form("register_1001"))
    await eventually(lambda: len(guard.history.of(key)) == 3)
    await fake.push(*event_frames("register_1001.json.raw"))
    await eventually(lambda: guard.history.of(key)[-1].freeswitch in ("accepted", "registered"))
    assert len(guard.history.of(key)) == 3
    # The source is now trusted: it is never banned.
    assert guard.rules.is_trusted("127.0.0.1", guard._clock())


async def test_bridge_why_prints_the_verdict(start_guarded: StartGuarded, extensions: dict[str, int]) -> None:
    client = await start_guarded()
    await post(client, form("register_1001"))
    await post(client, form("register_1001_wrong_password"))
    await post(client, form("register_1001_wrong_password"))
    guard = guard_of(client)
    await eventually(lambda: len(guard.history.of(key_of("1001", DOMAIN))) == 3)
    token = await login(client)
    url = str(client.make_url("/"))

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["why", *args, "--url", url])
        return code, out.getvalue()

    code, text = await asyncio.to_thread(run, "1001@xswitch.test", "--token", token)
    assert code == 3, text
    lines = text.splitlines()
    assert lines[0].startswith("FAILING: 1001@xswitch.test: wrong password")
    assert "2 attempts in a row" in lines[0] and "127.0.0.1:5091 (baresip v1.0.0 (x86_64/linux))" in lines[0]
    assert lines[1].startswith("What to change: set the phone's SIP password")
    outcomes = [next(o for o in ("wrong_password", "registered") if f" {o}" in line) for line in lines[4:]]
    assert outcomes == ["wrong_password", "wrong_password", "registered"]
    await post(client, form("register_1001"))
    await eventually(lambda: len(guard.history.of(key_of("1001", DOMAIN))) == 4)
    code, text = await asyncio.to_thread(run, "1001@xswitch.test", "--token", token)
    assert code == 0 and text.startswith("OK: 1001@xswitch.test: registered")
    await post(client, form("register_1001"))  # the same phone again: counted onto that attempt
    await eventually(lambda: guard.history.of(key_of("1001", DOMAIN))[-1].repeats == 1)
    code, text = await asyncio.to_thread(run, "1001@xswitch.test", "--token", token)
    assert code == 0 and "2 attempts in a row" in text.splitlines()[0]
    assert " registered (1 more until " in text.splitlines()[3]
    code, text = await asyncio.to_thread(run, "1001@xswitch.test", "--token", "wrong")
    assert code == 1 and "401" in text


def test_the_queue_is_bounded_and_drops_are_counted() -> None:
    metrics = Metrics()
    guard = Guard(GuardConfig(queue_size=3), GuardMetrics(metrics.registry))
    fields = read_fields(form("register_1001"), guard.fields)
    request = request_of(fields)
    for _ in range(5):
        guard.observe(fields, request, "found", "")
    assert guard.queue_depth() == 3
    assert b"bridge_guard_queue_dropped_total 2.0" in metrics.exposition()


class Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    async def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        self.commands.append(list(argv))
        return 0, ""


async def test_nft_commands_follow_the_bans() -> None:
    recorder = Recorder()
    nft = NftSet("inet bridge_guard banned", runner=recorder)
    await nft.setup([("203.0.113.7", 599.6)])
    await nft.add("2001:db8::66", 600)
    await nft.delete("203.0.113.7")
    await nft.add("2001:db8:21:64::/64", 600)  # a widened IPv6 ban
    assert recorder.commands == [
        ["nft", "add", "table", "inet", "bridge_guard"],
        ["nft", "add", "set", "inet", "bridge_guard", "banned", "{ type ipv4_addr; flags timeout; }"],
        [
            "nft",
            "add",
            "set",
            "inet",
            "bridge_guard",
            "banned6",
            "{ type ipv6_addr; flags interval, timeout; }",
        ],
        ["nft", "flush", "set", "inet", "bridge_guard", "banned"],
        ["nft", "flush", "set", "inet", "bridge_guard", "banned6"],
        ["nft", "add", "element", "inet", "bridge_guard", "banned", "{ 203.0.113.7 timeout 599s }"],
        ["nft", "add", "element", "inet", "bridge_guard", "banned6", "{ 2001:db8::66 timeout 600s }"],
        ["nft", "delete", "element", "inet", "bridge_guard", "banned", "{ 203.0.113.7 }"],
        ["nft", "add", "element", "inet", "bridge_guard", "banned6", "{ 2001:db8:21:64::/64 timeout 600s }"],
    ]


SHIPPED_NFT = Path(__file__).resolve().parents[2] / "deploy" / "nftables" / "bridge-guard.nft"


def _netns_nft() -> str | None:
    """A network namespace of this test's own, with nft usable in it; None where that cannot be."""
    if shutil.which("nft") is None or shutil.which("ip") is None or os.geteuid() != 0:
        return None
    name = f"bridge-guard-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False).returncode != 0:
        return None
    return name


async def test_nft_sets_follow_the_bans_in_a_network_namespace(
    start_guarded: StartGuarded, extensions: dict[str, int]
) -> None:
    namespace = _netns_nft()
    # .ci/run installs nftables; without nft or a namespace this check would prove nothing.
    assert namespace is not None, "needs root, ip and nft (Debian's nftables; bash .ci/run installs it)"
    try:
        command = f"ip netns exec {namespace} nft"

        def elements() -> str:
            result = subprocess.run(
                ["ip", "netns", "exec", namespace, "nft", "list", "set", "inet", "bridge_guard", "banned"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            return result.stdout

        # The shipped rule file loads, and bridge keeps the sets it declares.
        loaded = await asyncio.to_thread(
            subprocess.run,
            ["ip", "netns", "exec", namespace, "nft", "-f", str(SHIPPED_NFT)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stderr
        client = await start_guarded(guard__nft_set="inet bridge_guard banned", guard__nft_command=command)
        assert "elements" not in elements()
        for n in range(11):
            await post(
                client,
                form("register_unknown_user_1009")
                .replace(b"ip=127.0.0.1", b"ip=203.0.113.7")
                .replace(b"user=1009", f"user=9{n:03d}".encode()),
            )
        await eventually(lambda: "203.0.113.7" in elements(), what="ban in the nft set")
        token = await login(client)
        await client.delete("/api/guard/bans/203.0.113.7", headers={"X-XTRA-AUTH-ID": token})
        await eventually(lambda: "203.0.113.7" not in elements(), what="unban removes it")
        text = await (await client.get("/metrics")).text()
        assert 'bridge_guard_firewall_commands_total{result="error"} 0.0' in text
    finally:
        await asyncio.to_thread(
            subprocess.run, ["ip", "netns", "delete", namespace], capture_output=True, check=False
        )


def test_bindings_read_from_another_instances_rows_are_not_judged_as_registers_seen_here() -> None:
    """The standby mirror's Deltas (mirrored) are that node's follower's to judge: queued
    here too they would count every REGISTER once per instance (and, 10,000 at a time
    after a node's reload, keep the event loop judging for seconds at scale)."""
    guard = Guard(GuardConfig(), GuardMetrics(Metrics().registry))
    [frame] = event_frames("register_1001.json.raw", "sofia::register")
    change = to_change("fs1", parse_event_body("text/event-json", frame_body(frame)), now=1795393500.0)
    assert isinstance(change, Registered)
    guard.on_delta(Delta("fs1", upserted=[change.registration], mirrored=True))
    assert guard.queue_depth() == 0
    guard.on_delta(Delta("fs1", upserted=[change.registration]))
    assert guard.queue_depth() == 1
