"""The operator console under load: 100,000 bindings, 200 changes/s, a real headless chromium.

    .venv/bin/python bench/console_bench.py [--bindings 100000] [--rate 200] [--seconds 10]
                                            [--stream-clients 50]

bridge runs in its own process (``--serve``, started by this script) on an embedded
PostgreSQL: node fs1 up with ``--bindings`` bindings, then ``--rate`` changes per second
applied to the registration state (half unregisters, half registers with a new Call-ID, of
the 50 users the console's first page shows; the ESL parsing before the state is measured
by bench/esl_events.py, not here). Each registration carries its apply time in its user
agent, so the browser measures event-to-screen itself (same clock).

Prints: time to first render (login click to the first page of registrations drawn),
event-to-screen delay p50/p99 (apply -> row in the DOM), bridge CPU with no console and with
one connected console (the difference per console), bridge memory per stream client
(``--stream-clients`` raw SSE readers, RSS before/after). A short run: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import asyncpg

from bridge import db
from bridge.embedded.server import EmbeddedPostgres
from bridge.hashes import login_sha1

DOMAIN = "bench.test"
PASSWORD = "Bench-pw-1"
FIRST_PAGE = 50


# -- the server process ----------------------------------------------------------------------


def _registration(i: int, expires: int, token: str, agent: str) -> object:
    from bridge.registrations.model import Registration

    return Registration(
        url=f"sofia/internal/sip:u{i:06d}@10.0.{i // 250 % 250}.{i % 250}:5060",
        expires=str(expires),
        token=token,
        reg_user=f"u{i:06d}",
        network_proto="udp",
        metadata="",
        hostname="fs1",
        network_port="5060",
        realm=DOMAIN,
        network_ip=f"10.0.{i // 250 % 250}.{i % 250}",
        node="fs1",
        profile="internal",
        user_agent=agent,
        status="Registered(UDP)",
        contact=f"sip:u{i:06d}@10.0.{i // 250 % 250}.{i % 250}:5060",
    )


async def serve(port: int, dsn: str, bindings: int, rate: float) -> None:
    from aiohttp import web

    from bridge.app import create_app
    from bridge.config import load_config
    from bridge.http_server import serving_runner
    from bridge.registrations.events import NodeChanged, Registered, Snapshot, Unregistered
    from bridge.registrations.keys import REGISTRATIONS
    from bridge.registrations.model import NodeState, Registration
    from bridge.registrations.state import RegistrationState

    config = load_config(overrides={"database.url": dsn, "directory.warmup": "false"})
    app = create_app(config)
    runner = serving_runner(app, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state = app[REGISTRATIONS]
    assert isinstance(state, RegistrationState)
    expires = int(time.time()) + 3600
    state.apply(NodeChanged("fs1", NodeState.UP, at=time.time()))
    regs = tuple(_registration(i, expires, f"call-{i}", "bench") for i in range(bindings))
    state.apply(Snapshot("fs1", regs))  # type: ignore[arg-type]
    print("ready", flush=True)
    n = 0
    start = time.monotonic()
    while True:
        # Each tick applies what is due: rate changes per second, evenly.
        due = int((time.monotonic() - start) * rate)
        while n < due:
            i = (n // 2) % FIRST_PAGE
            if n % 2 == 0:
                state.apply(Unregistered("fs1", "unregister", "internal", f"u{i:06d}", DOMAIN, ""))
            else:
                reg = _registration(i, expires, f"c{n}", f"bench t={time.time():.6f}")
                assert isinstance(reg, Registration)
                state.apply(Registered("fs1", reg))
            n += 1
        await asyncio.sleep(0.005)


# -- the measuring process -------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_share(pid: int, seconds: float) -> float:
    before, wall = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - wall)


async def seed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await db.upgrade(conn)
        await conn.execute(
            "INSERT INTO users (login, domain, salt, sha1, is_admin) VALUES ('bench', $1, 's', $2, true)",
            DOMAIN,
            login_sha1("bench", PASSWORD, "s"),
        )
    finally:
        await conn.close()


def browser_run(base: str, seconds: float, pid: int, profile: Path) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    from tests.console.browser import start_chromium

    driver = start_chromium(profile)
    try:
        driver.get(base + "/console/")
        driver.find_element(By.ID, "login-name").send_keys("bench")
        driver.find_element(By.ID, "login-password").send_keys(PASSWORD)
        started = time.monotonic()
        driver.find_element(By.ID, "login-submit").click()
        while not driver.execute_script(
            "return document.querySelectorAll('#registrations tbody tr').length >= 50"
            " && document.getElementById('count-online').textContent !== '–'"
        ):
            time.sleep(0.01)
        first_render = time.monotonic() - started
        driver.execute_script(
            """
            window.__delays = [];
            const seen = new Set();
            const body = document.querySelector('#registrations tbody');
            new MutationObserver(() => {
                const now = Date.now() / 1000;
                for (const cell of body.querySelectorAll('td.agent')) {
                    const token = cell.parentNode.dataset.token;
                    if (seen.has(token) || !cell.textContent.startsWith('bench t=')) continue;
                    seen.add(token);
                    window.__delays.push(now - parseFloat(cell.textContent.slice(8)));
                }
            }).observe(body, {childList: true, subtree: true});
            """
        )
        with_console = cpu_share(pid, seconds)
        delays = sorted(driver.execute_script("return window.__delays"))
        driver.save_screenshot(str(profile.parent / "console-bench.png"))
    finally:
        driver.quit()
    return {
        "first_render": first_render,
        "cpu_console": with_console,
        "p50": statistics.median(delays) if delays else float("nan"),
        "p90": delays[int(len(delays) * 0.9)] if delays else float("nan"),
        "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else float("nan"),
        "over_1s": float(sum(1 for d in delays if d > 1.0)),
        "shown": float(len(delays)),
    }


async def stream_memory(base: str, pid: int, clients: int) -> float:
    async with aiohttp.ClientSession() as session:
        login = await session.post(base + "/api/sessions", data={"login": "bench", "password": PASSWORD})
        token = (await login.json())["token"]
        await asyncio.sleep(2)
        before = rss(pid)
        streams = [
            await session.get(base + "/api/events", headers={"X-XTRA-AUTH-ID": token}) for _ in range(clients)
        ]

        async def drain(stream: aiohttp.ClientResponse) -> None:
            async for _ in stream.content.iter_any():
                pass

        readers = [asyncio.create_task(drain(s)) for s in streams]
        await asyncio.sleep(5)
        after = rss(pid)
        for task in readers:
            task.cancel()
        for stream in streams:
            stream.close()
    return (after - before) / clients


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bindings", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stream-clients", type=int, default=50)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DSN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(int(args.serve[0]), args.serve[1], args.bindings, args.rate))
        return
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        pg.start()
        server = None
        try:
            asyncio.run(seed(pg.dsn))
            port = 18000 + os.getpid() % 1000
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(port), pg.dsn, "--bindings", str(args.bindings),
                 "--rate", str(args.rate)],
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            assert server.stdout is not None
            assert server.stdout.readline().strip() == "ready"
            base = f"http://127.0.0.1:{port}"
            time.sleep(2)
            idle = cpu_share(server.pid, args.seconds)
            figures = browser_run(base, args.seconds, server.pid, Path(tmp) / "chromium")
            memory = asyncio.run(stream_memory(base, server.pid, args.stream_clients))
            shot = Path(tmp) / "console-bench.png"
            if shot.exists():
                kept = Path(tempfile.gettempdir()) / "console-bench.png"
                kept.write_bytes(shot.read_bytes())
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
            pg.remove()
    print(f"bindings {args.bindings}, {args.rate:g} changes/s, {args.seconds:g} s windows")
    print(f"time to first render (login click -> first page and counters): {figures['first_render']:.2f} s")
    print(
        f"event-to-screen delay: p50 {figures['p50'] * 1000:.0f} ms, p90 {figures['p90'] * 1000:.0f} ms,"
        f" p99 {figures['p99'] * 1000:.0f} ms ({figures['shown']:.0f} registrations seen drawn,"
        f" {figures['over_1s']:.0f} after more than 1 s)"
    )
    busy = figures["cpu_console"]
    print(
        f"bridge CPU: {idle * 100:.1f} % of a core with no console, {busy * 100:.1f} % with one:"
        f" {(busy - idle) * 100:.1f} % per console"
    )
    print(f"bridge memory per stream client ({args.stream_clients} clients): {memory / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
