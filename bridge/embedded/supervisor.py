"""Supervise the embedded PostgreSQL: notice that it died, restart it with backoff, say so.

The process that owns the server (the one holding its state_dir lock) polls the
postmaster's PID every ``embedded_check_interval`` seconds: from a thread beside a single
serving process, from the parent's loop with ``--workers``. Every change is logged and
written to ``<state_dir>/pgdata.status`` (atomically, no secret in it), which each serving
process reads for /readyz and /metrics (bridge/embedded/readiness.py): with workers, the
owner and the processes that serve are not the same.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

from bridge.errors import BridgeError

log = logging.getLogger(__name__)

State = Literal["running", "restarting"]

# A server that stayed up this many backoff ceilings is healthy again: the backoff resets.
_STABLE_FACTOR = 2.0
_FIRST_DELAY = 0.5
RESTART_TIMEOUT = 30.0


class Server(Protocol):
    @property
    def status_path(self) -> Path: ...

    def running_pid(self) -> int | None: ...

    def start(self, timeout: float = ...) -> str: ...


@dataclass(frozen=True, slots=True)
class SupervisorStatus:
    state: State
    pid: int | None  # the postmaster
    restarts: int  # successful restarts since the owner started
    since: float  # wall-clock time of the last state change
    supervisor_pid: int  # the owner: a status whose owner is gone says nothing
    last_error: str | None = None  # a short reason, never a log tail

    def write(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".new")
        temporary.write_text(json.dumps(asdict(self)))
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> SupervisorStatus | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None


def backoff(attempt: int, ceiling: float) -> float:
    """Seconds before restart attempt ``attempt + 1`` after ``attempt`` in a row (1-based)."""
    return float(min(ceiling, _FIRST_DELAY * 2 ** max(0, attempt - 1)))


class Supervisor:
    """``poll()`` does one check when one is due; ``start_thread()`` polls in the background."""

    def __init__(
        self,
        server: Server,
        *,
        check_interval: float,
        max_backoff: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.check_interval = check_interval
        self.max_backoff = max_backoff
        self._clock = clock
        self._next_check = 0.0
        self._next_attempt = 0.0
        self._attempts = 0  # restart attempts since the server was last stable
        self._up_since = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = SupervisorStatus("running", server.running_pid(), 0, time.time(), os.getpid())
        self.status.write(server.status_path)

    def poll(self) -> None:
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + self.check_interval
        pid = self.server.running_pid()
        if pid is not None:
            if self._attempts and now - self._up_since >= _STABLE_FACTOR * self.max_backoff:
                self._attempts = 0
            return
        if self.status.state == "running":
            log.error("embedded postgresql died pid=%s: restarting", self.status.pid)
            self._set(state="restarting", pid=None, last_error="the postmaster exited")
        if now < self._next_attempt:
            return
        self._attempts += 1
        try:
            self.server.start(RESTART_TIMEOUT)
        except BridgeError as exc:
            delay = backoff(self._attempts, self.max_backoff)
            self._next_attempt = self._clock() + delay
            log.error(
                "embedded postgresql restart failed attempt=%d retry_in=%.1fs error=%s",
                self._attempts,
                delay,
                str(exc)[:300],
            )
            self._set(last_error="restart failed")
            return
        now = self._clock()
        self._up_since = now
        # Should it die again soon, the next attempt waits: a crash loop backs off.
        self._next_attempt = now + backoff(self._attempts, self.max_backoff)
        pid = self.server.running_pid()
        log.warning("embedded postgresql restarted pid=%s attempt=%d", pid, self._attempts)
        self._set(state="running", pid=pid, restarts=self.status.restarts + 1)

    def _set(self, **changes: object) -> None:
        if "state" in changes:
            changes["since"] = time.time()
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]
        self.status.write(self.server.status_path)

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="embedded-postgres-supervisor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.check_interval):
            try:
                self.poll()
            except Exception:
                log.exception("embedded postgresql supervisor check failed")

    def stop(self) -> None:
        """No restart after this returns: the owner is about to stop the server itself."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
