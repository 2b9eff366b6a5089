"""`bridge serve`, `bridge db upgrade`, `bridge why`: parse, build the Config, set up logging, run.

Process management (one serving process or pre-forked workers) is bridge/supervisor.py;
what serves is bridge/app.py's create_app. A bad flag or setting ends here with one line
naming it and exit code 2, before anything is started.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import asyncpg

from bridge import __version__, db, supervisor
from bridge.config import Config, load_config
from bridge.demo import DEMO_ADMIN_LOGIN, DEMO_ADMIN_PASSWORD, DEMO_DOMAIN, seed_demo
from bridge.embedded.server import EmbeddedPostgres
from bridge.embedded.supervisor import Supervisor as EmbeddedSupervisor
from bridge.errors import BridgeError, ConfigError
from bridge.guard import cli as guard_cli
from bridge.logs import setup_logging

log = logging.getLogger(__name__)

FORM = "tests/fixtures/freeswitch/xml_curl/register_1001.form"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _common() -> _Parser:
    """--config and --set, accepted before the command and after it (`bridge serve --config X`).

    After the command they have their own dests: a subparser's default would overwrite what
    the main parser collected; and none at all (SUPPRESS), or `db upgrade`'s parser would
    overwrite what `db --config X` collected.
    """
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--config", dest="sub_config", type=Path, metavar="FILE", help="TOML configuration file"
    )
    common.add_argument(
        "--set",
        dest="sub_overrides",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override one setting (highest precedence); repeatable",
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bridge", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting (highest precedence); repeatable",
    )
    common = _common()
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser("serve", parents=[common], help="serve the directory, the API and /metrics")
    serve.add_argument("--host", help="listen address (http.host)")
    serve.add_argument("--port", type=int, help="listen port (http.port)")
    serve.add_argument("--demo", action="store_true", help="seed the demo tenant first")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes sharing the port (SO_REUSEPORT), each with its own directory cache",
    )
    dbp = commands.add_parser("db", parents=[common], help="database commands")
    db_commands = dbp.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("upgrade", parents=[common], help="apply sql/ migrations to DATABASE_URL")
    db_commands.add_parser("status", parents=[common], help="list migrations not yet applied")
    guard_cli.add_parser(commands, parents=[common])  # bridge why USER@DOMAIN
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, str] = {}
    for item in [*args.overrides, *getattr(args, "sub_overrides", [])]:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set wants SECTION.KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    if getattr(args, "host", None) is not None:
        overrides["http.host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["http.port"] = str(args.port)
    if getattr(args, "workers", 1) < 1:
        raise ConfigError(f"--workers must be at least 1: {args.workers}")
    config_path = getattr(args, "sub_config", None) or args.config
    if config_path is None and os.environ.get("BRIDGE_CONFIG"):
        config_path = Path(os.environ["BRIDGE_CONFIG"])
    return load_config(toml_path=config_path, environ=os.environ, overrides=overrides)


def _embedded(config: Config) -> EmbeddedPostgres:
    return EmbeddedPostgres(config.state_dir / "pgdata", port=config.database.embedded_port)


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
    return replace(config, database=replace(config.database, url=url))


def _announcer(base: str, demo: bool) -> supervisor.Announce:
    def announced() -> None:
        log.info("bridge serving listen=%s", base)
        if demo:
            print(
                f"\nbridge is serving on {base}\n"
                f"  try:  curl -s -d @{FORM} {base}/directory\n"
                f"        curl -s -d 'login={DEMO_ADMIN_LOGIN}&password={DEMO_ADMIN_PASSWORD}'"
                f" {base}/api/sessions\n"
                f"        curl -s {base}/metrics | head\n"
                "  Ctrl-C stops bridge and its embedded PostgreSQL.\n",
                flush=True,
            )

    return announced


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    # Before anything starts: a taken port or a host not of this machine is refused (exit 2).
    port = supervisor.check_listen(config.http.host, config.http.port)
    config = replace(config, http=replace(config.http, port=port))
    embedded = None
    embedded_supervisor = None
    # Until http_server.run installs its own handlers, SIGTERM interrupts start-up like Ctrl-C
    # does, so the finally below still stops the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if config.database.url is None:
            embedded = _embedded(config)
            # StateDirBusy when another bridge owns it: refused before anything is touched.
            config = _with_url(config, embedded.start())
            embedded_supervisor = EmbeddedSupervisor(
                embedded,
                check_interval=config.database.embedded_check_interval,
                max_backoff=config.database.embedded_restart_backoff_max,
            )
            upgrade = True
        else:
            upgrade = config.database.auto_upgrade
        assert config.database.url is not None
        asyncio.run(_prepare_database(config.database.url, upgrade=upgrade, demo=args.demo))
        base = f"http://{config.http.host}:{config.http.port}"
        log.info(
            "bridge starting version=%s listen=%s database=%s",
            __version__,
            base,
            "embedded" if embedded is not None else "external",
        )
        supervisor.serve(
            config, workers=args.workers, embedded=embedded_supervisor, announced=_announcer(base, args.demo)
        )
        log.info("bridge stopped")
        return 0
    except KeyboardInterrupt:
        log.info("bridge stopped during start-up")
        return 0
    finally:
        if embedded_supervisor is not None:
            embedded_supervisor.stop()  # no restart of the server stopped next
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
