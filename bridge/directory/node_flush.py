"""Clear FreeSWITCH's own user cache on every node when a directory entry changes.

With ``directory.fs_cacheable_ms`` > 0 the directory marks users ``cacheable``, and
FreeSWITCH keeps the user XML under the key ``"id" + user + domain``, where ``user`` is
exactly what it looked up: ``1001``, or ``1001@xswitch.test`` for the digest-username
form (src/switch_xml.c, switch_xml_locate_user_merged / switch_xml_user_cache). The API
``xml_flush_cache <key> <user> <domain>`` drops one such entry and ``xml_flush_cache``
with no argument drops all (mod_commands.c, xml_flush_function); so every change sends
both spellings, and a resync (changes may have been missed) drops everything.

Every bridge instance hears every change; each sends to the nodes its node manager talks
to. Sending is decoupled from the notification: keys pile up in a set and a background
task drains it, so a burst of changes cannot stall the listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from prometheus_client import Counter

from bridge.directory.extension import Key

log = logging.getLogger(__name__)


# Past this many pending keys one "flush everything" is cheaper than 2 commands per key.
FLUSH_ALL_THRESHOLD = 500


class NodeBroadcaster(Protocol):
    async def broadcast_api(self, command: str) -> Mapping[str, str | Exception]:
        """Send ``api <command>`` to every connected node: node name -> reply or error."""
        ...


def flush_commands(key: Key) -> list[str] | None:
    """The two xml_flush_cache commands for one extension; None if it cannot be spelt."""
    domain, extn = key
    if not domain or not extn or any(ch.isspace() for ch in domain + extn):
        return None  # FreeSWITCH splits the arguments on spaces
    return [f"xml_flush_cache id {extn} {domain}", f"xml_flush_cache id {extn}@{domain} {domain}"]


class FreeSwitchFlusher:
    def __init__(self, nodes: Callable[[], NodeBroadcaster | None], flushes: Counter) -> None:
        self._nodes = nodes
        self._flushes = flushes
        self._pending: set[Key] = set()
        self._all = False
        self._wake = asyncio.Event()

    def flush(self, keys: Iterable[Key]) -> None:
        self._pending.update(keys)
        self._kick()

    def flush_all(self) -> None:
        self._all = True
        self._pending.clear()
        self._kick()

    def _kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            flush_all, keys = self._all, self._pending
            self._all, self._pending = False, set()
            commands: list[str] = []
            for key in sorted(keys):
                spelt = flush_commands(key)
                if spelt is None:
                    flush_all = True
                    break
                commands.extend(spelt)
            if flush_all or len(keys) > FLUSH_ALL_THRESHOLD:
                commands = ["xml_flush_cache"]
            for command in commands:
                await self._send(command)

    async def _send(self, command: str) -> None:
        nodes = self._nodes()
        if nodes is None:
            log.debug("no node manager: FreeSWITCH cache flush skipped command=%s", command)
            return
        try:
            replies = await nodes.broadcast_api(command)
        except Exception as exc:
            log.warning("freeswitch cache flush failed command=%r error=%s", command, exc)
            self._flushes.labels(node="", result="error").inc()
            return
        for node, reply in replies.items():
            ok = isinstance(reply, str) and reply.startswith("+OK")
            self._flushes.labels(node=node, result="ok" if ok else "error").inc()
            if not ok:
                log.warning(
                    "freeswitch cache flush refused node=%s command=%r reply=%.200s", node, command, reply
                )
