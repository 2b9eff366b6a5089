"""Which extensions an XUI group rings: the directory's read of ``groups`` (sql/070_xui_groups.sql).

``group_call NAME@DOMAIN`` rings the enabled extensions of DOMAIN that are in group NAME
either way (docs/directory.md, "Groups"):

* their ``extensions.group_name`` (comma-separated) lists NAME, as before XUI groups;
* or a live XUI group named NAME of realm DOMAIN (or of no realm) has them as extension
  members (``group_extns``) or has their owner as a user member (``group_members``).
"""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

# One statement: the extension ids of every live group of that name in that realm.
GROUP_EXTENSION_IDS = """
SELECT DISTINCT x.extn_id
FROM groups g
JOIN bridge_group_extension_ids x ON x.group_id = g.id
WHERE g.name = $2 AND g.deleted_at IS NULL AND (g.realm = $1 OR coalesce(g.realm, '') = '')
"""


class Reader(Protocol):
    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...


async def fetch_group_extension_ids(db: Reader, domain: str, group: str) -> frozenset[int]:
    rows = await db.fetch(GROUP_EXTENSION_IDS, domain, group)
    return frozenset(int(row[0]) for row in rows)
