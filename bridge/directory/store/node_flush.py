"""Clear FreeSWITCH's own user cache on the nodes this instance follows when users change.

With ``directory.fs_cacheable_ms`` > 0 the directory marks users ``cacheable``, and
FreeSWITCH keeps the merged user XML under the key ``"id" + user + domain``, where
``user`` is exactly what it looked up: ``1001``, or ``1001@xswitch.test`` for the
digest-username form (src/switch_xml.c, switch_xml_locate_user_merged /
switch_xml_user_cache). The API ``xml_flush_cache <key> <user> <domain>`` drops one such
entry and ``xml_flush_cache`` with no argument drops all (mod_commands.c); so every
change sends both spellings, and whenever changes may have been missed the node's whole
cache goes:

* the node (re)connects: this covers a bridge restart (its first connection) and a node
  followed anew after another instance let its lease go;
* the NOTIFY connection to PostgreSQL resynced (bridge heard nothing meanwhile).

Who sends: the instance that follows a node (holds its lease: bridge/registrations), over
that node's Event Socket connection. Every instance and every ``--workers`` process hears
every change, but each node has one follower, so each flush is sent once. Sending is
decoupled from the notification: keys pile up and a background task drains them, so a
burst of changes cannot stall the listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import Counter

from bridge.directory.extension import Key

log = logging.getLogger(__name__)


# Past this many pending keys one "flush everything" is cheaper than 2 commands per key.
FLUSH_ALL_THRESHOLD = 500
FLUSH_ALL = "xml_flush_cache"


class NodeApi(Protocol):
    async def api(self, node_name: str, command: str) -> str:
        """Send ``api <command>`` to one node; raises when it cannot be reached."""
        ...


def flush_commands(key: Key) -> list[str] | None:
    """The two xml_flush_cache commands for one extension; None if it cannot be spelt."""
    domain, extn = key
    if not domain or not extn or any(ch.isspace() for ch in domain + extn):
        return None  # FreeSWITCH splits the arguments on spaces
    return [f"xml_flush_cache id {extn} {domain}", f"xml_flush_cache id {extn}@{domain} {domain}"]


class FreeSwitchFlusher:
    def __init__(self, nodes: Callable[[], NodeApi | None], flushes: Counter) -> None:
        self._nodes = nodes
        self._flushes = flushes
        # Nodes this instance follows and has connected: the ones it flushes.
        self._up: set[str] = set()
        self._pending: set[Key] = set()
        self._whole: set[str] = set()  # nodes owed a whole-cache flush
        self._wake = asyncio.Event()

    def node_up(self, name: str) -> None:
        """The node (re)connected: whatever it cached meanwhile may be stale."""
        self._up.add(name)
        self._whole.add(name)
        self._wake.set()

    def node_down(self, name: str) -> None:
        self._up.discard(name)
        self._whole.discard(name)

    def flush(self, keys: Iterable[Key]) -> None:
        self._pending.update(keys)
        self._wake.set()

    def flush_all(self) -> None:
        self._whole |= self._up
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            whole, keys = self._whole, self._pending
            self._whole, self._pending = set(), set()
            per_key: list[str] = []
            for key in sorted(keys):
                spelt = flush_commands(key)
                if spelt is None or len(keys) > FLUSH_ALL_THRESHOLD:
                    per_key = []
                    whole = set(self._up)
                    break
                per_key.extend(spelt)
            targets = sorted(self._up)
            await asyncio.gather(
                *(self._send_all(node, [FLUSH_ALL] if node in whole else per_key) for node in targets)
            )

    async def _send_all(self, node: str, commands: list[str]) -> None:
        for command in commands:
            await self._send(node, command)

    async def _send(self, node: str, command: str) -> None:
        nodes = self._nodes()
        if nodes is None:
            log.debug("no node manager: FreeSWITCH cache flush skipped command=%s", command)
            return
        try:
            reply = await nodes.api(node, command)
        except Exception as exc:
            log.warning("freeswitch cache flush failed node=%s command=%r error=%s", node, command, exc)
            self._flushes.labels(node=node, result="error").inc()
            return
        ok = reply.startswith("+OK")
        self._flushes.labels(node=node, result="ok" if ok else "error").inc()
        if not ok:
            log.warning(
                "freeswitch cache flush refused node=%s command=%r reply=%.200s", node, command, reply
            )
