"""Login attempt accounting: per source address, and per account *and* source
(docs/admin-api-security.md, schema sql/065).

An attempt is decided after its password was checked, in one call to
``bridge_login_attempt()`` that takes its locks in one order (the source's row, the
account's row, the account's row for this source), so concurrent attempts are decided one
after another: whatever their number, at most ``api.max_login_attempts`` failures of one
source precede any success it is given, a right password is never answered "wrong", and
only failures are charged (to the source, and a checked one to the account for that
source). A source that reached the limit is refused that account (``source_locked``); the
account is locked for everyone (``users.is_locked``) only once ``api.lock_sources``
distinct sources did, so one address cannot keep the owner out. Locks and counts lapse
``api.lock_seconds`` after the last counted failure; ``users.is_locked`` is read in both
XUI spellings (boolean or 0/1 integer).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bridge.addresses import address_of
from bridge.config import ApiConfig
from bridge.db import Database


def source_key(remote: str | None) -> str:
    """The address attempts are counted by: IPv4 as is, IPv6 by its /64 (one host's share)."""
    address = address_of(remote or "")
    if address is None:
        return remote or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# The account a login names (a known and an unknown login both make this one read).
_ACCOUNT = """
SELECT id, sha1, salt, disabled::text AS disabled FROM users
WHERE login = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1
"""

_DECIDE = "SELECT * FROM bridge_login_attempt($1, $2, $3, $4, $5, $6, $7, $8, $9)"

# Windows that are over; rows another attempt holds are left for the next prune.
_PRUNE = """
DELETE FROM bridge_login_sources WHERE source IN (
    SELECT source FROM bridge_login_sources
    WHERE window_started <= now() - make_interval(secs => $1)
    FOR UPDATE SKIP LOCKED)
"""


@dataclass(frozen=True, slots=True)
class Account:
    """What a password is checked against (read before the attempt is decided)."""

    user_id: int
    sha1: bytes
    salt: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """One decided attempt. ``outcome``: ok, wrong, unknown, source_locked, account_locked or
    source_limited; ``lock_started``: "", "source" or "account"."""

    outcome: str
    failures: int = 0  # this source's failures on the account, this one counted
    lock_started: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Attempts:
    """The counters of one database, with the limits of ``api.*``."""

    def __init__(self, db: Database, config: ApiConfig) -> None:
        self.db = db
        self.config = config

    async def account(self, login: str) -> Account | None:
        row = await self.db.fetchrow(_ACCOUNT, login)
        if row is None:
            return None
        return Account(
            user_id=row["id"],
            sha1=bytes(row["sha1"] or b""),
            salt=row["salt"] or "",
            disabled=row["disabled"] not in (None, "0", "false", ""),
        )

    async def decide(
        self, user_id: int | None, source: str, *, matches: bool, sha1: bytes | None = None
    ) -> Decision:
        """Decide an attempt whose password check gave ``matches`` (against ``sha1``, the
        account's hash as read; a change since makes it a failure). Without an account
        (``user_id`` None) only the source is charged, and only when ``matches`` is false."""
        c = self.config
        row = await self.db.fetchrow(
            _DECIDE,
            user_id,
            source,
            matches,
            sha1,
            c.source_window,
            c.max_source_failures,
            c.max_login_attempts,
            c.lock_seconds,
            c.lock_sources,
        )
        assert row is not None  # the function always returns one row
        if row["outcome"] != "ok" and row["source_failures"] == 1:
            # A source starting a window: drop the windows that are over, so addresses that
            # tried once and left (an IPv6 sweep) do not pile up.
            await self.prune()
        return Decision(row["outcome"], row["failures"], row["lock_started"])

    async def prune(self) -> None:
        await self.db.execute(_PRUNE, self.config.source_window)
