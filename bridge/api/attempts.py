"""Login attempt accounting: per source address and per account, each attempt reserved
atomically before its password is checked (docs/admin-api-security.md).

Counting after the check let 200 concurrent guesses all be checked before the first
failure was recorded. Here every attempt first takes a numbered slot, in the same
statement that finds the account (so a known and an unknown login cost one round trip
each): the source's counter is bumped first, and only while it is within
``api.max_source_failures`` is the account's ``login_attempts`` bumped under its row lock.
Only the attempts numbered 1 .. ``api.max_login_attempts`` ever reach a password check;
the one that reaches the limit locks the account provisionally, and a success undoes it.
A lock (and a count of failures) lapses ``api.lock_seconds`` after the last counted
attempt; attempts refused while locked do not extend it. ``users.is_locked`` is read in
both XUI spellings (boolean or 0/1 integer): the literals '1' / '0' fit either.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bridge.config import ApiConfig
from bridge.db import Database


def source_key(remote: str | None) -> str:
    """The address attempts are counted by: IPv4 as is, IPv6 by its /64 (one host's share)."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _count_source(source: str, window: str) -> str:
    """Bump a source's failure counter (a new window once the old one is over)."""
    fresh = f"s.window_started <= now() - make_interval(secs => {window})"
    return f"""
INSERT INTO bridge_login_sources AS s (source, failures, window_started) VALUES ({source}, 1, now())
ON CONFLICT (source) DO UPDATE SET
    failures = CASE WHEN {fresh} THEN 1 ELSE s.failures + 1 END,
    window_started = CASE WHEN {fresh} THEN now() ELSE s.window_started END
RETURNING failures"""


_SOURCE = _count_source("$1", "$2")

# $1 login, $2 source, $3 source window, $4 max source failures, $5 max attempts, $6 lock seconds.
# stale: the last counted attempt is older than the lock time (a lock without a time, set by
# someone else, never lapses by itself).
_STALE = (
    "($6 > 0 AND last_login_attempt_at IS NOT NULL"
    " AND last_login_attempt_at <= now() - make_interval(secs => $6))"
)
_LOGIN_ATTEMPT = f"""
WITH src AS ({_count_source("$2", "$3")}),
target AS (
    SELECT id, {_STALE} AS stale,
           (is_locked::text IN ('1', 'true') AND NOT {_STALE}) AS locked
    FROM users
    WHERE login = $1 AND deleted_at IS NULL AND (SELECT failures FROM src) <= $4
    ORDER BY id LIMIT 1
    FOR UPDATE
),
reserved AS (
    UPDATE users u SET
        login_attempts = CASE WHEN t.locked THEN u.login_attempts
                              WHEN t.stale THEN 1 ELSE COALESCE(u.login_attempts, 0) + 1 END,
        is_locked = CASE WHEN t.locked THEN u.is_locked
                         WHEN (CASE WHEN t.stale THEN 1 ELSE COALESCE(u.login_attempts, 0) + 1 END) >= $5
                         THEN '1' ELSE '0' END,
        last_login_attempt_at = CASE WHEN t.locked THEN u.last_login_attempt_at ELSE now() END
    FROM target t WHERE u.id = t.id
    RETURNING u.id, u.sha1, u.salt, u.disabled::text AS disabled, t.locked, u.login_attempts
)
SELECT src.failures AS source_failures, r.* FROM src LEFT JOIN reserved r ON true
"""

_SUCCEEDED = """
WITH src AS (UPDATE bridge_login_sources SET failures = greatest(failures - 1, 0) WHERE source = $2)
UPDATE users SET login_attempts = 0, is_locked = '0', last_login_at = now(), last_login_attempt_at = now()
WHERE id = $1
"""

_SOURCE_REFUND = "UPDATE bridge_login_sources SET failures = greatest(failures - 1, 0) WHERE source = $1"

_PRUNE = "DELETE FROM bridge_login_sources WHERE window_started <= now() - make_interval(secs => $1)"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One reserved login attempt. ``user_id`` None: no such login (or the source was over
    its limit, then ``source_limited``)."""

    source_limited: bool
    user_id: int | None = None
    sha1: bytes = b""
    salt: str = ""
    disabled: bool = False
    locked: bool = False  # locked before this attempt: it must not be checked
    attempts: int = 0  # this attempt's number (counting it)


class Attempts:
    """The counters of one database, with the limits of ``api.*``."""

    def __init__(self, db: Database, config: ApiConfig) -> None:
        self.db = db
        self.config = config

    async def login(self, login: str, source: str) -> Attempt:
        c = self.config
        row = await self.db.fetchrow(
            _LOGIN_ATTEMPT,
            login,
            source,
            c.source_window,
            c.max_source_failures,
            c.max_login_attempts,
            c.lock_seconds,
        )
        assert row is not None  # the LEFT JOIN on the source's one row always gives a row
        if row["source_failures"] == 1:
            # A source starting a window: drop the windows that are over, so addresses that
            # tried once and left (an IPv6 sweep) do not pile up.
            await self.prune()
        if row["source_failures"] > c.max_source_failures:
            return Attempt(source_limited=True)
        if row["id"] is None:
            return Attempt(source_limited=False)
        return Attempt(
            source_limited=False,
            user_id=row["id"],
            sha1=bytes(row["sha1"] or b""),
            salt=row["salt"] or "",
            disabled=row["disabled"] not in (None, "0", "false", ""),
            locked=bool(row["locked"]),
            attempts=row["login_attempts"],
        )

    def locks(self, attempt: Attempt) -> bool:
        """Whether this attempt, failing, leaves the account locked (it reached the limit)."""
        return not attempt.locked and attempt.attempts >= self.config.max_login_attempts

    async def succeeded(self, user_id: int, source: str) -> None:
        await self.db.execute(_SUCCEEDED, user_id, source)

    async def source(self, source: str) -> bool:
        """Reserve an attempt of a source with no account (dev keys); False: over its limit."""
        failures = await self.db.fetchval(_SOURCE, source, self.config.source_window)
        if failures == 1:
            await self.prune()
        return bool(failures <= self.config.max_source_failures)

    async def refund(self, source: str) -> None:
        """A reserved source attempt that succeeded does not count against the source."""
        await self.db.execute(_SOURCE_REFUND, source)

    async def prune(self) -> None:
        await self.db.execute(_PRUNE, self.config.source_window)
