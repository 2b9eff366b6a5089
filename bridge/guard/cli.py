"""`bridge why USER@DOMAIN`: the last attempts and the verdict, read through the admin API.

The history lives in the serving bridge's memory, so the command asks it over HTTP
(GET /api/guard/why) with an admin token: ``--token`` or ``BRIDGE_API_TOKEN`` (a login
session or a developer key, POST /api/users/dev_keys). ``--url`` defaults to http.host:port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from bridge.config import Config
from bridge.logs import escape


def add_parser(commands: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    why = commands.add_parser(
        "why", parents=parents, help="why USER@DOMAIN cannot register: its last attempts, in words"
    )
    why.add_argument("user", metavar="USER@DOMAIN")
    why.add_argument("--url", help="bridge's base URL (default: http://http.host:http.port)")
    why.add_argument("--token", help="admin token (default: $BRIDGE_API_TOKEN)")
    why.add_argument("--last", type=int, default=10, help="attempts shown (default 10)")


def _text(value: Any) -> str:
    """A value from the network (a user agent, an address, a node name) for the terminal:
    control characters escaped as the logs do (bridge/logs.py), so no escape sequence, carriage
    return or newline from a REGISTER can clear the screen or forge a line of this report."""
    return escape(str(value))


def render(document: Mapping[str, Any], last: int = 10) -> str:
    """The report as text: the verdict first, then the newest attempts."""
    verdict = document["verdict"]
    lines = [("OK: " if verdict["ok"] else "FAILING: ") + _text(verdict["says"])]
    if not verdict["ok"]:
        lines.append(f"What to change: {_text(verdict['change'])}")
    attempts = [
        {k: _text(v) for k, v in a.items()} for a in list(document.get("attempts", []))[: max(0, last)]
    ]
    if attempts:
        lines.append("")
        lines.append("Last attempts (newest first):")
    for a in attempts:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(a["at"])))
        where = f"{a['ip']}:{a['port']}" if a["port"] else a["ip"]
        fs = f" [FreeSWITCH: {a['freeswitch']}]" if a["freeswitch"] else ""
        detail = f" ({a['detail']})" if a["detail"] else ""
        if a.get("repeats", "0") != "0":
            last_at = time.strftime("%H:%M:%S", time.gmtime(float(a["last_at"])))
            detail += f" ({a['repeats']} more until {last_at})"
        lines.append(
            f"  {when}  {a['method'] or '-':9} {where:22} {a['username']:>20}  {a['outcome']}{detail}{fs}"
            f"  node={a['node'] or '-'} agent={a['user_agent'] or '-'}"
        )
    return "\n".join(lines)


async def fetch(url: str, token: str, user: str) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(
            f"{url.rstrip('/')}/api/guard/why", params={"user": user}, headers={"X-XTRA-AUTH-ID": token}
        ) as response,
    ):
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = {"message": (await response.text())[:200]}
        return response.status, body


def run(args: argparse.Namespace, config: Config) -> int:
    token = args.token or os.environ.get("BRIDGE_API_TOKEN", "")
    if not token:
        print("bridge why: an admin token is needed (--token or BRIDGE_API_TOKEN)")
        return 2
    url = args.url or f"http://{config.http.host}:{config.http.port}"
    try:
        status, body = asyncio.run(fetch(url, token, args.user))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        print(f"bridge why: cannot reach bridge at {_text(url)}: {type(exc).__name__}: {_text(exc)}")
        return 1
    if status != 200:
        message = body.get("message") or body.get("reason") or body if isinstance(body, dict) else body
        print(f"bridge why: {status}: {_text(message)}")
        return 1
    print(render(body, args.last))
    return 0 if body["verdict"]["ok"] else 3
