"""The directory's reads of ``extensions`` joined to ``users``: one indexed query per key."""

from __future__ import annotations

from bridge.db import Database
from bridge.records import Extension

# users.is_locked/disabled are compared as text so both XUI spellings (int, boolean) work.
_SELECT = """
SELECT e.*,
       u.login AS user_login,
       u.disabled::text AS user_disabled,
       u.is_locked::text AS user_locked,
       u.deleted_at AS user_deleted_at
FROM extensions e
LEFT JOIN users u ON u.id = e.user_id
"""

# A deleted row and a live one may share (domain, extn): the live one wins, then the newest.
EXTENSION_BY_KEY = (
    _SELECT
    + """
WHERE e.domain = $1 AND e.extn = $2
ORDER BY (e.deleted_at IS NULL) DESC, e.id DESC
LIMIT 1
"""
)

EXTENSIONS_OF_DOMAIN = (
    _SELECT
    + """
WHERE e.domain = $1 AND e.deleted_at IS NULL
ORDER BY e.extn
"""
)

DOMAINS = "SELECT DISTINCT domain FROM extensions WHERE deleted_at IS NULL AND domain <> '' ORDER BY 1"


async def fetch_extension(db: Database, domain: str, extn: str) -> Extension | None:
    row = await db.fetchrow(EXTENSION_BY_KEY, domain, extn)
    return None if row is None else Extension.from_row(row)


async def fetch_domain(db: Database, domain: str) -> list[Extension]:
    return [Extension.from_row(row) for row in await db.fetch(EXTENSIONS_OF_DOMAIN, domain)]


async def fetch_domains(db: Database) -> list[str]:
    return [row[0] for row in await db.fetch(DOMAINS)]
