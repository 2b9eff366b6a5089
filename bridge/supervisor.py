"""Process management for `bridge serve`: one serving process, or pre-forked workers.

``serve`` runs the app built by ``create_app`` until SIGTERM or SIGINT, in this process or
in ``workers`` forked ones sharing the port (SO_REUSEPORT). ``announced`` is called once
the port accepts connections, never before. ``check_listen`` is run before anything
starts, so a port that is taken or a host that is not this machine's is refused first.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from bridge import http_server
from bridge.app import create_app
from bridge.config import Config
from bridge.embedded.supervisor import Supervisor as EmbeddedSupervisor
from bridge.errors import ConfigError

log = logging.getLogger(__name__)

# How often, and for how long, the port is probed for "serving" after start-up.
_PROBE_EVERY = 0.02
_PROBE_FOR = 60.0

Announce = Callable[[], None]


def check_listen(host: str, port: int) -> int:
    """The port to serve on (a free one chosen once for port 0), after binding every address
    ``host`` resolves to as aiohttp will (SO_REUSEADDR); a ConfigError naming the setting."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"http.host {host!r} is not an address of this machine: {exc}") from exc
    chosen = port
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind((address[0], chosen, *address[2:]))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(f"http.port {port} is taken on {host}: set another (--port)") from exc
                raise ConfigError(f"http.host {host!r} cannot be listened on: {exc.strerror}") from exc
            chosen = probe.getsockname()[1]
    return chosen


def _accepts(host: str, port: int) -> bool:
    connect_to = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        with socket.create_connection((connect_to, port), timeout=1):
            return True
    except OSError:
        return False


def _announce_ctx(host: str, port: int, announced: Announce) -> Callable[..., AsyncIterator[None]]:
    """A cleanup_ctx entry, the app's last: once start-up is done, probe the port until it
    accepts (the runner binds it after start-up) and then call ``announced``."""

    async def probe() -> None:
        deadline = time.monotonic() + _PROBE_FOR
        while not await asyncio.to_thread(_accepts, host, port):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(_PROBE_EVERY)
        announced()

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(probe())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def _app(config: Config, status_path: Path | None) -> web.Application:
    return create_app(config, embedded_status=status_path, serving=True)


def serve(
    config: Config,
    *,
    workers: int,
    embedded: EmbeddedSupervisor | None,
    announced: Announce,
) -> None:
    """Serve until SIGTERM/SIGINT: in this process (``workers`` 1) or in forked workers.

    SIGTERM/SIGINT: stop accepting, wait up to http.drain_timeout for requests in flight
    (their database statements are cut then: bridge/operations.py), then the cleanup_ctx
    exits in reverse (ESL threads joined, pending writes flushed, pool closed), all within
    http.shutdown_timeout. ``embedded`` (the embedded PostgreSQL's supervisor, when this
    process owns one) is polled from a thread here, or from the parent's loop with workers.
    """
    status_path = embedded.server.status_path if embedded is not None else None
    if workers > 1:
        _serve_workers(config, workers, embedded, status_path, announced)
        return
    if embedded is not None:
        embedded.start_thread()
    app = _app(config, status_path)
    app.cleanup_ctx.append(_announce_ctx(config.http.host, config.http.port, announced))
    http = config.http
    http_server.run(app, host=http.host, port=http.port, shutdown_timeout=http.drain_timeout)


def _serve_workers(
    config: Config,
    workers: int,
    embedded: EmbeddedSupervisor | None,
    status_path: Path | None,
    announced: Announce,
) -> None:
    """Fork ``workers`` processes that each serve their own app on one port (SO_REUSEPORT).

    The parent only supervises: the database is already prepared (and the embedded
    PostgreSQL started) once, by the caller. Each worker has its own pool, cache and change
    listener, so the LISTEN/NOTIFY invalidations keep every worker's cache coherent.
    SIGTERM or SIGINT to the parent stops every worker gracefully; a worker that dies
    on its own is replaced. The parent alone owns the embedded PostgreSQL (its state_dir
    lock, inherited but never taken by the workers) and supervises it from this loop: no
    thread runs in a process that forks.
    """
    port = config.http.port  # the caller chose one for port 0: every worker binds the same

    def spawn() -> int:
        pid = os.fork()
        if pid:
            return pid
        # A worker: its own process group, so a terminal's Ctrl-C reaches only the parent,
        # which then stops every worker exactly once with SIGTERM.
        os.setpgrp()
        code = 0
        try:
            http_server.run(
                _app(config, status_path),
                host=config.http.host,
                port=port,
                reuse_port=True,
                shutdown_timeout=config.http.drain_timeout,
            )
        except BaseException:
            log.exception("worker failed pid=%d", os.getpid())
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    children = {spawn() for _ in range(workers)}
    log.info("bridge workers started count=%d port=%d pids=%s", workers, port, sorted(children))
    stopping = False
    waiting = True  # for the port to accept, then ``announced``
    deadline = time.monotonic() + _PROBE_FOR

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG if embedded is not None or waiting else 0)
        if pid == 0:  # no worker exited: time to look at the port and the embedded server
            if waiting and not stopping and (_accepts(config.http.host, port) or time.monotonic() > deadline):
                waiting = False
                if time.monotonic() <= deadline:
                    announced()
            if not stopping and embedded is not None:
                embedded.poll()
            time.sleep(_PROBE_EVERY if waiting else 0.1)
            continue
        children.discard(pid)
        if not stopping:
            log.warning("worker exited pid=%d status=%d: starting another", pid, status)
            time.sleep(0.5)
            children.add(spawn())
