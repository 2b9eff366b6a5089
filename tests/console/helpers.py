"""Shared pieces of the console tests: reading the event stream, bindings made from the captures."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import orjson
from aiohttp import ClientResponse

from bridge.registrations.events import Registered, parse_snapshot
from bridge.registrations.model import Registration
from tests.api.helpers import captured_snapshot_body


async def next_message(stream: ClientResponse, timeout: float = 10.0) -> dict[str, object]:
    """The next SSE message (keep-alive comments skipped), with its id as "id"."""
    while True:
        frame = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), timeout)
        fields = {}
        for line in frame.strip().split(b"\n"):
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b": ")
            fields[name.decode()] = value
        if "data" in fields:
            return {"id": fields.get("id", b"").decode(), **orjson.loads(fields["data"])}


def captured_binding(node: str = "fs1", **changes: str) -> Registration:
    """1001's binding from the captured ``show registrations``, with ``changes``."""
    snapshot = parse_snapshot(node, captured_snapshot_body())
    first = next(r for r in snapshot.registrations if r.reg_user == "1001")
    return replace(first, **changes)


def registered(node: str = "fs1", **changes: str) -> Registered:
    return Registered(node, captured_binding(node, **changes))
