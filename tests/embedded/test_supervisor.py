"""The supervisor's restart schedule and the status every serving process reads from it.

The schedule is driven by a clock the test moves, against a server that cannot start (a
data directory that is not one): real restart attempts, no waiting. The real death and
restart of a postmaster is in test_serve.py.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

from bridge.embedded import readiness
from bridge.embedded.supervisor import Supervisor, SupervisorStatus, backoff
from bridge.errors import BridgeError


class _NeverStarts:
    """A server that is not running and whose every start fails, as a broken data dir does."""

    def __init__(self, tmp: Path) -> None:
        self.status_path = tmp / "pgdata.status"
        self.attempts = 0

    def running_pid(self) -> int | None:
        return None

    def start(self, timeout: float = 60.0) -> str:
        self.attempts += 1
        raise BridgeError("pg_ctl start failed")


def test_backoff_doubles_up_to_its_ceiling() -> None:
    assert [backoff(n, 5.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_server_that_keeps_failing_is_retried_with_backoff_and_reported(tmp_path: Path) -> None:
    now = [100.0]
    server = _NeverStarts(tmp_path)
    supervisor = Supervisor(server, check_interval=0.1, max_backoff=4.0, clock=lambda: now[0])
    attempts_at: list[float] = []
    for tick in range(120):  # 12 s in checks of 0.1 s
        now[0] = 100.0 + tick / 10
        before = server.attempts
        supervisor.poll()
        if server.attempts != before:
            attempts_at.append(now[0] - 100.0)
    # Immediately, then after 0.5, 1, 2, 4, 4 ... seconds (each at the next check due).
    gaps = [b - a for a, b in itertools.pairwise(attempts_at)]
    assert attempts_at[0] == 0.0
    for gap, wanted in zip(gaps, [0.5, 1.0, 2.0, 4.0, 4.0], strict=False):
        assert wanted - 1e-9 <= gap <= wanted + 0.1 + 1e-9, gaps
    assert len(gaps) >= 5

    status = SupervisorStatus.read(server.status_path)
    assert status is not None and status.state == "restarting" and status.restarts == 0
    assert status.last_error == "restart failed"
    report = readiness.component_status(server.status_path)
    assert report.status == "down" and report.details["state"] == "restarting"


def test_a_status_whose_supervisor_is_gone_is_not_trusted(tmp_path: Path) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()  # its PID names no process now
    path = tmp_path / "pgdata.status"
    SupervisorStatus("running", 123, 0, 0.0, finished.pid).write(path)
    report = readiness.component_status(path)
    assert report.status == "down"
    assert report.details["error"] == "the supervising bridge process is gone"

    SupervisorStatus("running", 123, 2, 0.0, os.getpid()).write(path)
    report = readiness.component_status(path)
    assert report.status == "up" and report.details["restarts"] == 2
    assert readiness.component_status(tmp_path / "missing").status == "down"
