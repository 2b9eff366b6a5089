"""SIGTERM (and Ctrl-C) stop a real `python -m bridge serve` cleanly, embedded PostgreSQL included."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(env_extra: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("BRIDGE_")}
    env.update(
        BRIDGE_STATE_DIR=str(tmp_path / "state"),
        BRIDGE_HTTP_PORT=str(port),
        BRIDGE_LOG_LEVEL="INFO",
        **env_extra,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a service or a terminal job
    )
    return process, port


def _wait_healthy(process: subprocess.Popen[str], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bridge exited early: {process.communicate()[0]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)  # poll interval, not a guess at readiness
    process.kill()
    raise AssertionError(f"bridge not healthy within {timeout}s: {process.communicate()[0]}")


def _stop(process: subprocess.Popen[str], sig: signal.Signals, *, group: bool) -> tuple[int, str, float]:
    started = time.monotonic()
    if group:
        os.killpg(process.pid, sig)  # what a terminal's Ctrl-C does
    else:
        process.send_signal(sig)  # what systemd (KillMode=mixed) and container runtimes do
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"bridge ignored {sig.name}: {process.communicate()[0]}") from None
    return process.returncode, output, time.monotonic() - started


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state


def test_sigterm_with_external_database_exits_zero_promptly(database_url: str, tmp_path: Path) -> None:
    process, port = _start({"DATABASE_URL": database_url}, tmp_path)
    _wait_healthy(process, port, timeout=30)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        exposition = resp.read().decode()
    code, output, took = _stop(process, signal.SIGTERM, group=False)
    # The serving process tuned its collector at start-up (bridge.gc_tuning): that full
    # collection is the first the pause histogram saw.
    full = re.search(r'^bridge_gc_pause_seconds_count\{generation="2"\} (\S+)$', exposition, re.M)
    assert full is not None and float(full.group(1)) >= 1, exposition
    assert code == 0, output
    assert took < 10, f"took {took:.1f}s\n{output}"
    assert "bridge stopped" in output
    assert "Traceback" not in output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "group"),
    [
        pytest.param(signal.SIGTERM, False, id="sigterm"),
        pytest.param(signal.SIGINT, True, id="ctrl-c-to-the-process-group"),
    ],
)
def test_embedded_serve_stops_its_own_postgresql(tmp_path: Path, sig: signal.Signals, group: bool) -> None:
    process, port = _start({}, tmp_path)
    _wait_healthy(process, port, timeout=120)
    pid_file = tmp_path / "state" / "pgdata" / "postmaster.pid"
    postgres_pid = int(pid_file.read_text().splitlines()[0])
    assert _alive(postgres_pid)

    code, output, took = _stop(process, sig, group=group)

    assert code == 0, output
    assert took < 20, f"took {took:.1f}s\n{output}"
    assert not _alive(postgres_pid), f"embedded PostgreSQL {postgres_pid} still running\n{output}"
    assert not pid_file.exists()
    assert "embedded postgresql stopped" in output
