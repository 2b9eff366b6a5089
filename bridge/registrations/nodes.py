"""The command interface to FreeSWITCH nodes that other jobs use (``app[FREESWITCH]``).

    nodes = request.app[FREESWITCH]
    text = await nodes.api("fs1", "sofia_count_reg 1001@xswitch.test")
    results = await nodes.broadcast_api("xml_flush_cache id 1001 xswitch.test")
    # {"fs1": "+OK", "fs2": NodeUnavailable("fs2 ...")}

Both are safe to call from any coroutine on the app's loop, never block it, and are bounded
by ``freeswitch.command_timeout``. ``api`` returns the reply body as FreeSWITCH sent it
(``-ERR ...`` replies are returned, not raised: the command reached the node) and raises
``NodeUnavailable`` (unknown node, not connected, connection lost mid-command) or
``CommandTimeout``. ``broadcast_api`` sends to every configured node at once and never
raises: each node's entry is its reply text or the exception. A node this instance does
not follow (another instance holds its lease) is reached over a short-lived connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class NodeCommands(Protocol):
    def node_names(self) -> Sequence[str]: ...

    async def api(self, node_name: str, command: str) -> str: ...

    async def broadcast_api(self, command: str) -> dict[str, str | Exception]: ...
