"""The directory's reads of ``extensions`` joined to ``users``: by key (one or many), by domain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg

from bridge.db import Database
from bridge.directory.extension import Extension, Key

# users.is_locked/disabled are compared as text so both XUI spellings (int, boolean) work.
_COLUMNS = """
       e.*,
       u.login AS user_login,
       u.disabled::text AS user_disabled,
       u.is_locked::text AS user_locked,
       u.deleted_at AS user_deleted_at
"""
_USER = "LEFT JOIN users u ON u.id = e.user_id"

_SELECT = f"SELECT {_COLUMNS} FROM extensions e {_USER}"

# A deleted row and a live one may share (domain, extn): the live one wins, then the newest.
EXTENSION_BY_KEY = (
    _SELECT
    + """
WHERE e.domain = $1 AND e.extn = $2
ORDER BY (e.deleted_at IS NULL) DESC, e.id DESC
LIMIT 1
"""
)

# EXTENSION_BY_KEY for many keys in one statement: one index scan per key (a nested loop
# over the unnested arrays), and DISTINCT ON keeps each key's first row in the same order.
EXTENSIONS_BY_KEYS = f"""
SELECT DISTINCT ON (e.domain, e.extn) {_COLUMNS}
FROM unnest($1::text[], $2::text[]) AS k(domain, extn)
JOIN extensions e ON e.domain = k.domain AND e.extn = k.extn
{_USER}
ORDER BY e.domain, e.extn, (e.deleted_at IS NULL) DESC, e.id DESC
"""

# The warm-up's pages: every key once, in key order after the last key of the previous
# page (keyset paging on the (domain, extn) index), each key's row chosen as above.
EXTENSIONS_PAGE = f"""
SELECT DISTINCT ON (e.domain, e.extn) {_COLUMNS}
FROM extensions e {_USER}
WHERE (e.domain, e.extn) > ($1, $2)
ORDER BY e.domain, e.extn, (e.deleted_at IS NULL) DESC, e.id DESC
LIMIT $3
"""

EXTENSIONS_OF_DOMAIN = (
    _SELECT
    + """
WHERE e.domain = $1 AND e.deleted_at IS NULL
ORDER BY e.extn
"""
)

DOMAINS = "SELECT DISTINCT domain FROM extensions WHERE deleted_at IS NULL AND domain <> '' ORDER BY 1"


class Reader(Protocol):
    """Where a read runs: the pool (``Database``) or the lookup path's ``HeldConnections``."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...


async def fetch_extension(db: Reader, domain: str, extn: str) -> Extension | None:
    rows = await db.fetch(EXTENSION_BY_KEY, domain, extn)
    return Extension.from_row(rows[0]) if rows else None


async def fetch_extensions(db: Reader, keys: Sequence[Key]) -> dict[Key, Extension]:
    """What ``fetch_extension`` answers for each key, in one statement; unknown keys are absent.

    A lone key (FreeSWITCH's one sofia thread asks one at a time) uses the single-key
    statement: PostgreSQL keeps a generic plan for it, whereas the array statement is
    planned afresh on every execution (its generic plan guesses 100 keys), which cost
    ~0.3 ms of a ~0.4 ms read measured by bench/freeswitch_shaped.py.
    """
    unique = list(dict.fromkeys(keys))
    if len(unique) == 1:
        found = await fetch_extension(db, *unique[0])
        return {} if found is None else {unique[0]: found}
    rows = await db.fetch(EXTENSIONS_BY_KEYS, [d for d, _ in unique], [e for _, e in unique])
    return {(row["domain"], row["extn"]): Extension.from_row(row) for row in rows}


async def fetch_domain(db: Database, domain: str) -> list[Extension]:
    rows = await db.fetch(EXTENSIONS_OF_DOMAIN, domain)
    extensions: list[Extension] = []
    # A few µs a row: a domain of thousands would hold the event loop for tens of ms, so
    # the loop gets a turn (sip_auth lookups) between slices of rows.
    for start in range(0, len(rows), _ROWS_PER_TURN):
        if start:
            await asyncio.sleep(0)
        extensions.extend(Extension.from_row(row) for row in rows[start : start + _ROWS_PER_TURN])
    return extensions


_ROWS_PER_TURN = 256


async def fetch_domains(db: Database) -> list[str]:
    return [row[0] for row in await db.fetch(DOMAINS)]


async def fetch_page(db: Database, after: Key, limit: int) -> list[tuple[Key, Extension]]:
    """Up to ``limit`` keys after ``after`` in key order, each with what ``fetch_extension`` answers."""
    rows = await db.fetch(EXTENSIONS_PAGE, after[0], after[1], limit)
    return [((row["domain"], row["extn"]), Extension.from_row(row)) for row in rows]
