"""`bridge serve --workers 2`: both workers answer, their caches stay coherent, SIGTERM stops all.

Which worker answered a request is read from the kernel, not from anything bridge says:
the connection is kept open and the worker process holding its server end is found
with psutil (SO_REUSEPORT spreads fresh connections over the workers' sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

from tests.conftest import fixture_bytes
from tests.factories import add_extension

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 2
FORM = fixture_bytes("xml_curl", "register_1001.form")


@dataclass(frozen=True)
class Answer:
    pid: int  # the worker process that served the connection
    found: bool  # the directory answered with the user (not the not-found document)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _workers(parent: int) -> list[int]:
    return [child.pid for child in psutil.Process(parent).children()]


def _server_end(workers: list[int], port: int, client: tuple[str, int]) -> int:
    """The worker holding the accepted socket whose peer is our client address."""
    for pid in workers:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        for conn in connections:
            if conn.laddr and conn.laddr.port == port and conn.raddr and tuple(conn.raddr) == client:
                return pid
    raise AssertionError(f"no worker of {workers} holds the connection from {client}")


def _lookup(port: int, workers: list[int]) -> Answer:
    """One directory lookup over a fresh connection, and which worker answered it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "POST", "/directory", body=FORM, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, body
        # Still open (keep-alive): the server end of this socket is in exactly one worker.
        assert conn.sock is not None
        pid = _server_end(workers, port, conn.sock.getsockname()[:2])
    finally:
        conn.close()
    return Answer(pid, '<user id="1001"' in body)


def _until_every_worker_answered(port: int, workers: list[int], timeout: float) -> dict[int, Answer]:
    deadline = time.monotonic() + timeout
    seen: dict[int, Answer] = {}
    while time.monotonic() < deadline:
        try:
            answer = _lookup(port, workers)
        except (ConnectionError, http.client.HTTPException):
            continue  # a worker still binding: the next fresh connection tries again
        seen[answer.pid] = answer
        if set(seen) == set(workers):
            return seen
    raise AssertionError(f"only workers {sorted(seen)} of {workers} answered within {timeout}s")


def _until_all_refuse(port: int, workers: list[int], run: int, timeout: float) -> list[Answer]:
    """Lookups until ``run`` in a row are refused, served by every worker between them."""
    deadline = time.monotonic() + timeout
    answers: list[Answer] = []
    while time.monotonic() < deadline:
        answers.append(_lookup(port, workers))
        tail = answers[-run:]
        if len(tail) == run and not any(a.found for a in tail) and {a.pid for a in tail} == set(workers):
            return answers
    raise AssertionError(f"workers still answer the disabled user after {timeout}s: {answers[-run:]}")


def _start(database_url: str, port: int, tmp_path: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("BRIDGE_")}
    env.update(
        DATABASE_URL=database_url,
        BRIDGE_STATE_DIR=str(tmp_path / "state"),
        BRIDGE_HTTP_PORT=str(port),
        BRIDGE_LOG_LEVEL="INFO",
        BRIDGE_HTTP_SHUTDOWN_TIMEOUT="2",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--workers", str(WORKERS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_workers(process: subprocess.Popen[str], count: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bridge exited early: {process.communicate()[0]}")
        workers = _workers(process.pid)
        if len(workers) == count:
            return workers
        time.sleep(0.02)  # poll interval
    raise AssertionError(f"{count} workers not started within {timeout}s")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_given_two_workers_then_both_answer_caches_stay_coherent_and_sigterm_stops_all(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await add_extension(conn, "1001")
    port = _free_port()
    process = _start(database_url, port, tmp_path)
    workers: list[int] = []
    try:
        workers = await asyncio.to_thread(_wait_for_workers, process, WORKERS, 30)
        assert process.pid not in workers

        # Every worker answers, and has the user in its own cache now.
        first = await asyncio.to_thread(_until_every_worker_answered, port, workers, 30)
        assert all(answer.found for answer in first.values()), first

        await conn.execute("UPDATE extensions SET disabled = 1 WHERE extn = '1001'")
        # Each worker hears the NOTIFY on its own LISTEN connection and drops the entry.
        answers = await asyncio.to_thread(_until_all_refuse, port, workers, 20, 5)
        assert {a.pid for a in answers} == set(workers)
        assert _workers(process.pid) == workers  # no worker died and was replaced

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=20)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:  # the test failed: leave nothing running behind it
            for pid in [*workers, process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.communicate()

    assert process.returncode == 0, output
    assert took < 10, f"took {took:.1f}s\n{output}"
    # The parent reaps its workers before it exits: none is left running, orphaned.
    assert [pid for pid in workers if _alive(pid)] == [], output
    assert "Traceback" not in output, output
    assert "bridge stopped" in output, output
