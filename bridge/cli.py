"""`bridge serve`, `bridge db upgrade`: build the Config, set up logging, run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from aiohttp import web

from bridge import __version__, db, gc_tuning, http_server
from bridge.app import create_app
from bridge.config import Config, load_config
from bridge.demo import DEMO_ADMIN_LOGIN, DEMO_ADMIN_PASSWORD, DEMO_DOMAIN, seed_demo
from bridge.embedded import readiness as embedded_readiness
from bridge.embedded.supervisor import Supervisor
from bridge.errors import BridgeError, ConfigError
from bridge.guard import cli as guard_cli
from bridge.logs import setup_logging
from bridge.pgserver import EmbeddedPostgres

log = logging.getLogger(__name__)

FORM = "tests/fixtures/freeswitch/xml_curl/register_1001.form"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting (highest precedence); repeatable",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the directory, the API and /metrics")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", help="seed the demo tenant first")
    # Also after the command (`bridge serve --set ...`, as README shows); its own dest, since
    # a subparser's default would overwrite what the main parser collected.
    serve.add_argument(
        "--set",
        dest="serve_overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting (highest precedence); repeatable",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes sharing the port (SO_REUSEPORT), each with its own directory cache",
    )
    dbp = commands.add_parser("db", help="database commands")
    db_commands = dbp.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply sql/ migrations to DATABASE_URL")
    db_commands.add_parser("status", help="list migrations not yet applied")
    guard_cli.add_parser(commands)  # bridge why USER@DOMAIN
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, str] = {}
    for item in [*args.overrides, *getattr(args, "serve_overrides", [])]:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set wants SECTION.KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    if getattr(args, "host", None):
        overrides["http.host"] = args.host
    if getattr(args, "port", None):
        overrides["http.port"] = str(args.port)
    config_path = args.config or (
        Path(os.environ["BRIDGE_CONFIG"]) if os.environ.get("BRIDGE_CONFIG") else None
    )
    return load_config(toml_path=config_path, environ=os.environ, overrides=overrides)


def _embedded(config: Config) -> EmbeddedPostgres:
    return EmbeddedPostgres(config.state_dir / "pgdata", port=config.database.embedded_port)


def _supervisor(config: Config, embedded: EmbeddedPostgres) -> Supervisor:
    return Supervisor(
        embedded,
        check_interval=config.database.embedded_check_interval,
        max_backoff=config.database.embedded_restart_backoff_max,
    )


def _app(config: Config, supervisor: Supervisor | None) -> web.Application:
    app = create_app(config)
    if supervisor is not None:  # the embedded server on /readyz and /metrics
        embedded_readiness.setup(app, supervisor.server.status_path)
    return app


async def _prepare_database(dsn: str, *, upgrade: bool, demo: bool) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        if upgrade:
            await db.upgrade(conn)
        else:
            missing = await db.pending(conn)
            if missing:
                raise ConfigError(
                    f"database schema is behind ({', '.join(missing)}): run `bridge db upgrade`"
                    " or set database.auto_upgrade"
                )
        if demo and await seed_demo(conn):
            log.info("demo tenant seeded domain=%s", DEMO_DOMAIN)
    finally:
        await conn.close()


def _with_url(config: Config, url: str) -> Config:
    from dataclasses import replace

    return replace(config, database=replace(config.database, url=url))


def _serve_workers(config: Config, workers: int, supervisor: Supervisor | None) -> None:
    """Fork ``workers`` processes that each serve their own app on one port (SO_REUSEPORT).

    The parent only supervises: the database is already prepared (and the embedded
    PostgreSQL started) once, here. Each worker has its own pool, cache and change
    listener, so the LISTEN/NOTIFY invalidations keep every worker's cache coherent.
    SIGTERM or SIGINT to the parent stops every worker gracefully; a worker that dies
    on its own is replaced. The parent alone owns the embedded PostgreSQL (its state_dir
    lock, inherited but never taken by the workers) and supervises it from this loop: no
    thread runs in a process that forks.
    """
    import socket
    import time

    port = config.http.port
    if port == 0:  # every worker must bind the same port: choose it once
        with socket.socket() as probe:
            probe.bind((config.http.host, 0))
            port = probe.getsockname()[1]

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
                gc_tuning.serving(_app(config, supervisor)),
                host=config.http.host,
                port=port,
                reuse_port=True,
                shutdown_timeout=config.http.shutdown_timeout,
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

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG if supervisor is not None else 0)
        if pid == 0:  # no worker exited: time to look at the embedded server
            if not stopping and supervisor is not None:
                supervisor.poll()
            time.sleep(0.1)
            continue
        children.discard(pid)
        if not stopping:
            log.warning("worker exited pid=%d status=%d: starting another", pid, status)
            time.sleep(0.5)
            children.add(spawn())


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    embedded = None
    supervisor = None
    # Until http_server.run installs its own handlers, SIGTERM interrupts start-up like Ctrl-C
    # does, so the finally below still stops the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if config.database.url is None:
            embedded = _embedded(config)
            # StateDirBusy when another bridge owns it: refused before anything is touched.
            config = _with_url(config, embedded.start())
            supervisor = _supervisor(config, embedded)
            upgrade = True
        else:
            upgrade = config.database.auto_upgrade
        assert config.database.url is not None
        asyncio.run(_prepare_database(config.database.url, upgrade=upgrade, demo=args.demo))
        base = f"http://{config.http.host}:{config.http.port}"
        if args.demo:
            print(
                f"\nbridge is serving on {base}\n"
                f"  try:  curl -s -d @{FORM} {base}/directory\n"
                f"        curl -s -d 'login={DEMO_ADMIN_LOGIN}&password={DEMO_ADMIN_PASSWORD}'"
                f" {base}/api/sessions\n"
                f"        curl -s {base}/metrics | head\n"
                "  Ctrl-C stops bridge and its embedded PostgreSQL.\n",
                flush=True,
            )
        log.info(
            "bridge starting version=%s listen=%s database=%s",
            __version__,
            base,
            "embedded" if embedded is not None else "external",
        )
        # SIGTERM/SIGINT: stop accepting, wait up to http.shutdown_timeout for in-flight
        # requests, then run the cleanup_ctx exits in reverse (ESL threads joined, pending
        # writes flushed, pool closed); the finally below then stops the embedded server.
        if args.workers > 1:
            _serve_workers(config, args.workers, supervisor)
        else:
            if supervisor is not None:
                supervisor.start_thread()
            http_server.run(
                gc_tuning.serving(_app(config, supervisor)),
                host=config.http.host,
                port=config.http.port,
                shutdown_timeout=config.http.shutdown_timeout,
            )
        log.info("bridge stopped")
        return 0
    except KeyboardInterrupt:
        log.info("bridge stopped during start-up")
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop()  # no restart of the server stopped next
        if embedded is not None:
            embedded.close()  # stops it only if this process owns it


def cmd_db(args: argparse.Namespace, config: Config) -> int:
    embedded = None
    try:
        url = config.database.url
        if url is None:
            embedded = _embedded(config)
            url = embedded.start()

        async def run() -> list[str]:
            conn = await asyncpg.connect(url, timeout=10)
            try:
                if args.db_command == "upgrade":
                    return await db.upgrade(conn)
                return await db.pending(conn)
            finally:
                await conn.close()

        names = asyncio.run(run())
        verb = "applied" if args.db_command == "upgrade" else "pending"
        print(f"{verb}: {', '.join(names) if names else 'nothing'}")
        return 0
    finally:
        if embedded is not None:
            embedded.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
        setup_logging(config.log)
        if args.command == "serve":
            return cmd_serve(args, config)
        if args.command == "why":
            return guard_cli.run(args, config)
        return cmd_db(args, config)
    except ConfigError as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"bridge: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
