"""A site ten times bigger (issue 25): 50 FreeSWITCH nodes, 500,000 bindings, 3 instances.

    .venv/bin/python bench/scale_registrations.py [--nodes 50] [--bindings 500000]
        [--instances 3] [--rates 1000,4000] [--seconds 15] [--probes 20] [--reconnects 3]
        [--set section.key=value ...]   # extra settings for every instance

``--nodes`` fake Event Sockets (tests/fakes/esl_server.py) in this process, each answering
``show registrations as json`` and sofia's listing (``sofia xmlstatus profile internal
reg``) with its share of ``--bindings``, every row cut from the captured ones
(tests/fixtures/freeswitch/api/registrations_live) with its own user, realm (100 domains),
Call-ID, contact, address and an expiry an hour ahead. ``--instances`` real ``bridge
serve`` processes (bench/failover.py's Instance) on one PostgreSQL (DATABASE_URL, or an
embedded one in a temporary directory). Prints, with the load average at each step:

1. start: the time until every node is followed by exactly one instance and every
   instance answers every binding (its own nodes and the mirrored ones), then each
   instance's RSS against an instance with no node (memory per binding it holds), and the
   size of bridge_registrations in PostgreSQL per binding.
2. events: at each of ``--rates`` events/s for ``--seconds``, the captured sofia::register
   frame spliced to refresh the bindings, spread over every node; among them ``--probes``
   per second register a new user of domain probe.test; a poller per instance asks
   ``/api/users/list1`` as probe.test's administrator every 20 ms. Prints the events/s the
   instances applied (bridge_registration_events_total), the delay from an event written to
   its socket until list1 shows it (p50/p99/max) on the node's follower and on the other
   instances (which see it through PostgreSQL, ``freeswitch.sync_interval``), and each
   instance's CPU.
3. reconnects: ``--reconnects`` times, a node drops every connection (a FreeSWITCH restart
   seen from the socket); the time until it is followed again with its snapshot loaded, and
   until its reconcile with sofia's listing is done (``freeswitch.reconcile_delay`` = 1 s
   after the snapshot, included).
4. a new instance: the time until its /readyz answers, until it is ready (200) and answers
   every binding, and until the nodes are spread again over one more instance.

Everything started here (fake nodes, bridge processes, PostgreSQL) is stopped on the way
out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import failover  # noqa: E402
from failover import load_average  # noqa: E402

from bridge.hashes import login_sha1  # noqa: E402
from tests.fakes.esl_server import (  # noqa: E402
    LISTING_LIVE,
    SNAPSHOT_LIVE,
    FakeEslServer,
    frame_body,
)
from tests.registrations.frames import REGISTER_1001  # noqa: E402

DOMAINS = 100  # the bindings' realms: d0.site.test ... d99.site.test
PROBE_DOMAIN = "probe.test"
PROBE_ADMIN, PROBE_PASSWORD = "probe-admin", "Bench-pw-1"
POLL_EVERY = 0.02
RECONCILE_DELAY = 1.0
LOG = Path(tempfile.gettempdir()) / "bridge-scale-registrations.log"



def reframed(frame: bytes, body: bytes) -> bytes:
    """A captured frame's header block with ``body`` and its Content-Length."""
    head = frame.split(b"\n\n", 1)[0]
    lines = [
        b"Content-Length: %d" % len(body) if line.startswith(b"Content-Length: ") else line
        for line in head.split(b"\n")
    ]
    return b"\n".join(lines) + b"\n\n" + body


@dataclass(frozen=True)
class Binding:
    user: str
    realm: str
    call_id: str
    ip: str
    port: int

    @classmethod
    def of(cls, g: int) -> Binding:
        """Binding number g of the site: its own user, realm, Call-ID, address and port."""
        return cls(
            user=str(100000 + g // DOMAINS),
            realm=f"d{g % DOMAINS}.site.test",
            call_id=f"{0x6529C594651EDF87 + g:016x}",
            ip=f"10.{g >> 16 & 255}.{g >> 8 & 255}.{g & 255}",
            port=1024 + g % 60000,
        )


SNAPSHOT_ROW = json.loads(frame_body(SNAPSHOT_LIVE))["rows"][0]
LISTING_BODY = frame_body(LISTING_LIVE).decode()
LISTING_ROW = re.search(r"    <registration>.*?</registration>\n", LISTING_BODY, re.S).group(0)  # type: ignore[union-attr]
LISTING_HEAD = LISTING_BODY[: LISTING_BODY.index(LISTING_ROW)]
LISTING_TAIL = LISTING_BODY[LISTING_BODY.rindex("</registration>\n") + len("</registration>\n") :]


def snapshot(bindings: list[Binding], expires: int) -> bytes:
    """``show registrations as json`` of these bindings (the captured row, respliced)."""
    rows = []
    for b in bindings:
        row = dict(SNAPSHOT_ROW)
        row.update(
            reg_user=b.user,
            realm=b.realm,
            token=b.call_id,
            url=f"sofia/internal/sip:{b.user}-0x558fdbe8d580@{b.ip}:{b.port}",
            expires=str(expires),
            network_ip=b.ip,
            network_port=str(b.port),
        )
        rows.append(row)
    body = json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")).encode() + b"\n"
    return reframed(SNAPSHOT_LIVE, body)


def listing(bindings: list[Binding], seconds_left: int) -> bytes:
    """sofia's ``xmlstatus profile internal reg`` of these bindings (the captured row, respliced)."""
    ends = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + seconds_left))
    parts = [LISTING_HEAD]
    for b in bindings:
        # User and realm first: a number spliced in later (a port, a Call-ID) may hold "1001".
        row = (
            LISTING_ROW.replace("1001", b.user)
            .replace("xswitch.test", b.realm)
            .replace("6529c594651edf87", b.call_id)
            .replace("127.0.0.1", b.ip)
            .replace("5071", str(b.port))
        )
        row = re.sub(r"exp\([^)]*\) expsecs\(\d+\)", f"exp({ends}) expsecs({seconds_left})", row)
        parts.append(row)
    parts.append(LISTING_TAIL)
    return reframed(LISTING_LIVE, "".join(parts).encode())


STAMP = re.search(rb'"Event-Date-Timestamp":"(\d+)"', REGISTER_1001).group(1)  # type: ignore[union-attr]


def register_frame(b: Binding) -> bytes:
    """The captured sofia::register frame for this binding (a refresh: same Call-ID)."""
    # User and realm first: a number spliced in later (a port, a Call-ID) may hold "1001".
    body = (
        frame_body(REGISTER_1001)
        .replace(b"1001", b.user.encode())
        .replace(b"xswitch.test", b.realm.encode())
        .replace(b"6529c594651edf87", b.call_id.encode())
        .replace(b"@127.0.0.1:5071", f"@{b.ip}:{b.port}".encode())
        .replace(b'"network-ip":"127.0.0.1"', f'"network-ip":"{b.ip}"'.encode())
        .replace(b'"network-port":"5071"', f'"network-port":"{b.port}"'.encode())
    )
    return reframed(REGISTER_1001, body)


def stamped(frame: bytes) -> bytes:
    """The frame sent now: its Event-Date-Timestamp (same width) is this clock's, in µs."""
    return frame.replace(STAMP, b"%016d" % int(time.time() * 1e6), 1)


class Instance(failover.Instance):
    """failover.py's ``bridge serve`` process with this bench's settings and a log file."""

    def __init__(self, url: str, nodes: str, *settings: str) -> None:
        super().__init__(url, nodes)
        for item in (
            "log.level=WARNING",
            f"freeswitch.reconcile_delay={RECONCILE_DELAY}",
            "directory.warmup=false",
            # The fake nodes send no HEARTBEAT (none is captured): the quiet minutes of a long
            # run must not read as dead nodes.
            "freeswitch.heartbeat_timeout=3600",
            *settings,
        ):
            self.argv += ["--set", item]

    async def start(self) -> None:
        with LOG.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, cwd=failover.ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def readyz(self) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except (OSError, ValueError):
            return 0, {}

    def nodes(self) -> dict[str, dict[str, object]]:
        _, body = self.readyz()
        components = body.get("components", {})
        assert isinstance(components, dict)
        nodes: dict[str, dict[str, object]] = components.get("freeswitch", {}).get("nodes", {})
        return nodes

    async def held(self) -> tuple[int, dict[str, str]]:
        """(bindings answered, node -> state) as this instance reports them."""
        nodes = await asyncio.to_thread(self.nodes)
        total = sum(int(str(n.get("registrations", 0))) for n in nodes.values())
        return total, {name: str(n["state"]) for name, n in nodes.items()}

    def metric(self, name: str) -> dict[str, float]:
        """Every sample of one metric family: labels text -> value."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                labels, _, value = line.rpartition(" ")
                out[labels] = float(value)
        return out


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_for(check, what: str, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Poll ``check`` until true; the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Site:
    url: str
    fakes: list[FakeEslServer]
    names: list[str]
    per_node: list[list[Binding]]
    instances: list[Instance] = field(default_factory=list)
    probes_sent: int = 0  # probe registrations ever sent (their numbering)
    settings: list[str] = field(default_factory=list)  # extra --set for every instance

    @property
    def total(self) -> int:
        return sum(len(b) for b in self.per_node)

    @property
    def nodes_setting(self) -> str:
        return ",".join(fake.url(name) for fake, name in zip(self.fakes, self.names, strict=True))

    def instance(self, *settings: str) -> Instance:
        return Instance(self.url, self.nodes_setting, *self.settings, *settings)

    async def settled(self) -> bool:
        """Every node up on exactly one instance, standby on the others, no instance beyond its
        share of the nodes, every binding answered everywhere."""
        states = [await i.held() for i in self.instances]
        for _, nodes in states:
            if len(nodes) != len(self.names) or set(nodes.values()) - {"up", "standby"}:
                return False
        counts = {held for held, _ in states}
        if len(counts) != 1 or min(counts) < self.total:  # every instance answers the same
            return False
        if not all(sum(nodes[name] == "up" for _, nodes in states) == 1 for name in self.names):
            return False
        share = -(-len(self.names) // len(self.instances))  # freeswitch.spread: at most this each
        return all(sum(state == "up" for state in nodes.values()) <= share for _, nodes in states)

    async def follower(self, name: str) -> Instance | None:
        for instance in self.instances:
            if (await instance.held())[1].get(name) == "up":
                return instance
        return None


async def probe_token(instance: Instance) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{instance.port}/api/sessions",
            json={"login": PROBE_ADMIN, "password": PROBE_PASSWORD},
        ) as response,
    ):
        token: str = (await response.json())["token"]
        return token


async def events_phase(site: Site, rate: float, seconds: float, probes: float) -> None:
    """One sustained rate."""
    token = await probe_token(site.instances[0])
    followers = {name: await site.follower(name) for name in site.names}
    frames = [[register_frame(b) for b in bindings] for bindings in site.per_node]
    sent_at: dict[str, tuple[float, str]] = {}  # probe user -> (written, node)
    seen: list[dict[str, float]] = [{} for _ in site.instances]
    failed = [0] * len(site.instances)  # list1 requests not answered 200
    stop = asyncio.Event()
    pushing_done = asyncio.Event()  # every probe is in sent_at
    complete = asyncio.Event()  # ... and every instance showed every one

    async def poll(index: int, instance: Instance) -> None:
        url = f"http://127.0.0.1:{instance.port}/api/users/list1"
        async with aiohttp.ClientSession(headers={"X-XTRA-AUTH-ID": token}) as session:
            while not stop.is_set():
                async with session.get(url) as response:
                    raw = await response.read()
                if response.status != 200:  # e.g. 503 when its database read timed out
                    failed[index] += 1
                    await asyncio.sleep(POLL_EVERY)
                    continue
                doc = json.loads(raw)
                now = time.monotonic()
                for row in doc["reg"]["rows"]:
                    user = row.get("reg_user") or row.get("user")
                    if user in sent_at and user not in seen[index]:
                        seen[index][user] = now
                if pushing_done.is_set() and all(len(s) >= len(sent_at) for s in seen):
                    complete.set()
                await asyncio.sleep(POLL_EVERY)

    before = [i.metric("bridge_registration_events_total") for i in site.instances]
    cpu_before = [cpu_seconds(i.pid) for i in site.instances]
    pollers = [asyncio.create_task(poll(n, i)) for n, i in enumerate(site.instances)]
    started = time.monotonic()
    sent = 0
    probe_n = 0
    cursor = [0] * len(site.fakes)
    node = 0
    late = 0.0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        batch: dict[int, list[bytes]] = {}
        while sent < due:
            node = (node + 1) % len(site.fakes)
            frames_of = frames[node]
            batch.setdefault(node, []).append(stamped(frames_of[cursor[node] % len(frames_of)]))
            cursor[node] += 1
            sent += 1
        probes_due = int(elapsed * probes)
        probed: dict[int, list[str]] = {}
        while probe_n < probes_due:
            target = random.randrange(len(site.fakes))
            g = site.probes_sent + probe_n
            probe = Binding(str(900000 + g), PROBE_DOMAIN, f"probe-{g:08d}", "10.250.0.1", 5060)
            batch.setdefault(target, []).append(stamped(register_frame(probe)))
            probed.setdefault(target, []).append(probe.user)
            probe_n += 1
        for target, out in batch.items():
            written = time.monotonic()
            for user in probed.get(target, []):
                sent_at[user] = (written, site.names[target])
            await site.fakes[target].push(*out)
        late = max(late, time.monotonic() - started - elapsed)
        await asyncio.sleep(0.01)
    pushed = time.monotonic() - started
    # Let the last probes arrive (the mirror's sync_interval at most, plus a margin).
    pushing_done.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(complete.wait(), 15)
    stop.set()
    await asyncio.gather(*pollers)
    after = [i.metric("bridge_registration_events_total") for i in site.instances]
    cpu = [(cpu_seconds(i.pid) - c) / pushed * 100 for i, c in zip(site.instances, cpu_before, strict=True)]
    applied = sum(
        after[n].get(k, 0) - before[n].get(k, 0)
        for n in range(len(site.instances))
        for k in after[n]
        if 'kind="register"' in k
    )
    on_follower: list[float] = []
    on_others: list[float] = []
    missing = 0
    for user, (written, node_name) in sent_at.items():
        for index, instance in enumerate(site.instances):
            if user not in seen[index]:
                missing += 1
                continue
            delay = (seen[index][user] - written) * 1000
            (on_follower if followers[node_name] is instance else on_others).append(delay)
    print(
        f"  {rate:,.0f} events/s asked for {seconds:g} s: {sent + probe_n:,} written in {pushed:.1f} s"
        f" ({(sent + probe_n) / pushed:,.0f}/s, writer at most {late * 1000:.0f} ms behind);"
        f" registers applied {applied:,.0f} ({applied / pushed:,.0f}/s)",
        flush=True,
    )
    for label, values in (("follower", on_follower), ("other instances", on_others)):
        print(
            f"    event written -> in list1 on the {label}: p50 {pct(values, 50):6.0f} ms"
            f"  p99 {pct(values, 99):6.0f} ms  max {max(values, default=float('nan')):6.0f} ms"
            f"  (n={len(values)}, poll every {POLL_EVERY * 1000:.0f} ms)",
            flush=True,
        )
    print(
        f"    not seen within 15 s of the end: {missing}; list1 not 200: {failed}; CPU per instance"
        f" {', '.join(f'{c:.0f} %' for c in cpu)}; load {load_average()}",
        flush=True,
    )
    site.probes_sent += probe_n


def reconciles(site: Site, name: str) -> float:
    """Reconciles of node ``name`` done so far, over every instance."""
    return sum(
        value
        for instance in site.instances
        for labels, value in instance.metric("bridge_registration_reconciles_total").items()
        if f'node="{name}"' in labels and 'result="ok"' in labels
    )


async def reconnect_once(site: Site, index: int) -> tuple[float, float]:
    """Node ``index`` drops every connection; (seconds until followed again with its snapshot,
    seconds until reconciled)."""
    name, fake = site.names[index], site.fakes[index]
    size = len(site.per_node[index])
    before = await asyncio.to_thread(reconciles, site, name)
    connections = fake.connections
    await fake.drop()

    async def followed() -> bool:
        if fake.connections == connections:
            return False
        for instance in site.instances:
            detail = (await asyncio.to_thread(instance.nodes)).get(name, {})
            if detail.get("state") == "up" and int(str(detail.get("registrations", 0))) >= size:
                return True
        return False

    async def reconciled() -> bool:
        return await asyncio.to_thread(reconciles, site, name) > before

    up = await wait_for(followed, f"{name} followed again", 120)
    return up, up + await wait_for(reconciled, f"{name} reconciled", 120)


async def reconnect_phase(site: Site, count: int) -> None:
    timings: list[tuple[float, float]] = []
    for round_ in range(count):
        index = (round_ * 17 + 3) % len(site.names)
        up, done = await reconnect_once(site, index)
        timings.append((up, done))
        print(
            f"  {site.names[index]} ({len(site.per_node[index]):,} bindings) dropped: followed again with"
            f" its snapshot after {up:.2f} s, reconciled after {done:.2f} s (reconcile_delay"
            f" {RECONCILE_DELAY:g} s included); load {load_average()}",
            flush=True,
        )
    if timings:
        print(
            f"  median: snapshot {statistics.median(t[0] for t in timings):.2f} s,"
            f" reconciled {statistics.median(t[1] for t in timings):.2f} s",
            flush=True,
        )


async def new_instance_phase(site: Site) -> None:
    fresh = site.instance()
    await fresh.start()
    site.instances.append(fresh)

    async def answers() -> bool:
        return (await asyncio.to_thread(fresh.readyz))[0] != 0

    async def ready() -> bool:
        status, _ = await asyncio.to_thread(fresh.readyz)
        answered = min([(await i.held())[0] for i in site.instances if i is not fresh])
        return status == 200 and (await fresh.held())[0] >= answered

    listening = await wait_for(answers, "the new instance's /readyz", 120)
    whole = await wait_for(ready, "the new instance ready with every binding", 300)
    spread = await wait_for(site.settled, "the nodes spread again", 300)
    answered = (await fresh.held())[0]
    print(
        f"  /readyz answers after {listening:.1f} s; ready (200) and answering as many bindings as"
        f" the others ({answered:,})"
        f" after {listening + whole:.1f} s; nodes spread over {len(site.instances)} instances after"
        f" {listening + whole + spread:.1f} s; its RSS {rss_mib(fresh.pid):.0f} MiB; load {load_average()}",
        flush=True,
    )


async def add_probe_admin(target: str) -> None:
    conn = await asyncpg.connect(target)
    try:
        await conn.execute(
            "INSERT INTO users (login, domain, salt, sha1, is_admin) VALUES ($1, $2, 's', $3, true)",
            PROBE_ADMIN,
            PROBE_DOMAIN,
            login_sha1(PROBE_ADMIN, PROBE_PASSWORD, "s"),
        )
    finally:
        await conn.close()


async def table_size(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetchval("SELECT count(*) FROM bridge_registrations")
        size = await conn.fetchval("SELECT pg_total_relation_size('bridge_registrations')")
        return int(rows), int(size)
    finally:
        await conn.close()


async def run(url: str, args: argparse.Namespace) -> None:
    per = args.bindings // args.nodes
    expires = int(time.time()) + 3600
    built = time.monotonic()
    per_node = [[Binding.of(k * per + j) for j in range(per)] for k in range(args.nodes)]
    fakes = [
        await FakeEslServer(snapshot=snapshot(b, expires), listing=listing(b, 3600)).start() for b in per_node
    ]
    print(
        f"{args.nodes} fake nodes, {per:,} bindings each ({per * args.nodes:,}), built in"
        f" {time.monotonic() - built:.1f} s; load {load_average()}",
        flush=True,
    )
    site = Site(url, fakes, [f"fs{i + 1}" for i in range(args.nodes)], per_node, settings=args.settings)
    try:
        baseline = site.instance("freeswitch.nodes=")
        await baseline.start()
        site.instances.append(baseline)
        await wait_for(lambda: asyncio.to_thread(lambda: baseline.readyz()[0] != 0), "baseline", 60)
        await asyncio.sleep(2)
        base_rss = rss_mib(baseline.pid)
        await baseline.kill()
        site.instances.clear()
        print(f"an instance with no node: RSS {base_rss:.0f} MiB", flush=True)

        print(f"1. {args.instances} instances started at once:", flush=True)
        for _ in range(args.instances):
            instance = site.instance()
            await instance.start()
            site.instances.append(instance)
        took = await wait_for(site.settled, "every node followed and every binding answered", 600)
        print(
            f"  every node followed once and all {site.total:,} bindings answered by every instance"
            f" after {took:.1f} s (process start-up included); load {load_average()}",
            flush=True,
        )
        await asyncio.sleep(3)  # the writes of the last snapshots, the sweep
        rows, size = await table_size(url)
        for n, instance in enumerate(site.instances):
            held, states = await instance.held()
            rss = rss_mib(instance.pid)
            follows = sum(s == "up" for s in states.values())
            print(
                f"  instance {n + 1}: follows {follows} nodes, answers {held:,} bindings, RSS {rss:.0f} MiB:"
                f" {(rss - base_rss) * 2**20 / held:,.0f} bytes per binding over the empty instance",
                flush=True,
            )
        print(
            f"  PostgreSQL: bridge_registrations {rows:,} rows, {size / 2**20:.0f} MiB with indexes"
            f" ({size / max(rows, 1):,.0f} bytes per binding)",
            flush=True,
        )

        print("2. sustained events (refreshes of held bindings, probes among them):", flush=True)
        for rate in [float(r) for r in args.rates.split(",")]:
            await events_phase(site, rate, args.seconds, args.probes)

        print(f"3. a node reconnects ({args.reconnects} times):", flush=True)
        await reconnect_phase(site, args.reconnects)

        print("4. a new instance joins:", flush=True)
        await new_instance_phase(site)
    finally:
        for instance in site.instances:
            await instance.kill()
        for fake in fakes:
            await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--bindings", type=int, default=500_000)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--rates", default="1000,4000", help="comma-separated events/s")
    parser.add_argument("--seconds", type=float, default=15, help="seconds per rate")
    parser.add_argument("--probes", type=float, default=20, help="probe registrations per second")
    parser.add_argument("--reconnects", type=int, default=3)
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], help="extra bridge setting; repeatable"
    )
    args = parser.parse_args()
    print(f"load average at start: {load_average()}; servers' stderr: {LOG}", flush=True)
    with failover.database() as target:
        asyncio.run(add_probe_admin(target))
        asyncio.run(run(target, args))
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
