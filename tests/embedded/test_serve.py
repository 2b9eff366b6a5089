"""Real `bridge serve` processes on one state_dir: one owner, a supervised embedded server.

Each scenario runs against a single process and with ``--workers 2`` (where the parent owns
and supervises the server and the workers serve).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
import psutil
import pytest

from bridge.embedded.server import EmbeddedPostgres
from tests.conftest import fixture_bytes
from tests.factories import add_extension
from tests.support.poll import until

ROOT = Path(__file__).resolve().parents[2]
FORM = fixture_bytes("xml_curl", "register_1001.form")
# The same lookup for the demo's other user: not in any cache until asked.
FORM_1002 = FORM.replace(b"1001", b"1002")

pytestmark = pytest.mark.slow
T = TypeVar("T")


@dataclass
class Bridge:
    process: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(state_dir: Path, port: int, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("BRIDGE_")}
    env.update(
        BRIDGE_STATE_DIR=str(state_dir),
        BRIDGE_HTTP_PORT=str(port),
        BRIDGE_LOG_LEVEL="INFO",
        BRIDGE_HTTP_SHUTDOWN_TIMEOUT="2",
        BRIDGE_DATABASE_EMBEDDED_CHECK_INTERVAL="0.1",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _lookup(port: int, form: bytes) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "POST", "/directory", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = conn.getresponse()
        return f"{response.status} {response.read().decode()}"
    finally:
        conn.close()


def _postmaster(state_dir: Path) -> int:
    return int((state_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _database(state_dir: Path, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``work`` on a connection made with the owner's DSN (its password file included)."""

    async def run() -> T:
        conn = await asyncpg.connect(EmbeddedPostgres(state_dir / "pgdata").dsn, timeout=5)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


async def _count_extensions(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM extensions"))


@pytest.fixture(scope="module", params=["1", "2"], ids=["one-process", "two-workers"])
def owner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    tmp = tmp_path_factory.mktemp("owner")
    state_dir = tmp / "state"
    bridge = Bridge(process=None, port=_free_port(), state_dir=state_dir, log=tmp / "owner.log")  # type: ignore[arg-type]
    bridge.process = _serve(state_dir, bridge.port, bridge.log, "--demo", "--workers", request.param)
    try:
        until(
            lambda: bridge.process.poll() is None and _get(bridge.port, "/readyz")[0],
            lambda status: status == 200 or bridge.process.poll() is not None,
            120,
        )
        assert bridge.process.poll() is None, bridge.output()
        yield bridge
    finally:
        bridge.process.send_signal(signal.SIGTERM)
        try:
            bridge.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(bridge.process.pid, signal.SIGKILL)
            bridge.process.wait()
    assert bridge.process.returncode == 0, bridge.output()
    assert not (state_dir / "pgdata" / "postmaster.pid").exists(), bridge.output()


@pytest.mark.parametrize("same_http_port", [True, False], ids=["port-taken", "own-port"])
def test_a_second_serve_on_the_same_state_dir_refuses_and_the_first_keeps_serving(
    owner: Bridge, tmp_path: Path, same_http_port: bool
) -> None:
    postmaster = _postmaster(owner.state_dir)
    assert '<user id="1001"' in _lookup(owner.port, FORM)
    log = tmp_path / "second.log"
    second = _serve(owner.state_dir, owner.port if same_http_port else _free_port(), log)
    try:
        code = second.wait(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    output = log.read_text()
    if same_http_port:  # refused first, before the state_dir is looked at (issue 20)
        assert code == 2, output
        assert f"http.port {owner.port} is taken on 127.0.0.1" in output, output
    else:
        assert code == 1, output
        assert f"{owner.state_dir} is in use by another bridge (pid {owner.process.pid}" in output, output
    assert "Traceback" not in output

    # The first one's database was never stopped: the same postmaster answers, through it too.
    assert _alive(postmaster) and _postmaster(owner.state_dir) == postmaster
    assert _database(owner.state_dir, _count_extensions) >= 2
    assert '<user id="1002"' in _lookup(owner.port, FORM_1002)
    assert _get(owner.port, "/readyz")[0] == 200
    assert owner.process.poll() is None


def test_a_killed_postmaster_is_restarted_and_lookups_recover(owner: Bridge) -> None:
    assert '<user id="1001"' in _lookup(owner.port, FORM)  # the pool has live connections
    before = json.loads(_get(owner.port, "/readyz")[1])["components"]["embedded_postgres"]["restarts"]
    postmaster = _postmaster(owner.state_dir)

    os.kill(postmaster, signal.SIGKILL)

    def report() -> dict[str, object]:
        components: dict[str, object] = json.loads(_get(owner.port, "/readyz")[1])["components"]
        return components

    ready = until(
        report,
        lambda c: isinstance(c, dict)
        and c["embedded_postgres"]["restarts"] == before + 1  # type: ignore[index]
        and c["embedded_postgres"]["status"] == "up"  # type: ignore[index]
        and c["database"]["status"] == "up",  # type: ignore[index]
        60,
    )
    assert ready["embedded_postgres"]["state"] == "running"  # type: ignore[index]
    restarted = _postmaster(owner.state_dir)
    assert restarted != postmaster and _alive(restarted) and not _alive(postmaster)

    # A user added after the restart: only the restarted server, through the pool, knows it.
    extn = f"19{restarted % 100:02d}"
    _database(owner.state_dir, lambda conn: add_extension(conn, extn))
    form = FORM.replace(b"1001", extn.encode())
    answer = until(lambda: _lookup(owner.port, form), lambda a: f'<user id="{extn}"' in str(a), 30)
    assert str(answer).startswith("200 ")
    metrics = _get(owner.port, "/metrics")[1]
    assert f"bridge_embedded_postgres_restarts_total {float(before + 1)}" in metrics
    assert "bridge_embedded_postgres_up 1.0" in metrics
    output = owner.output()
    assert f"embedded postgresql died pid={postmaster}" in output
    assert "embedded postgresql restarted" in output
