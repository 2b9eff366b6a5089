"""Bans in PostgreSQL (table guard_bans, sql/050_guard_bans.sql), shared by every instance.

Each instance writes the bans it makes and reads back, every ``guard.poll_seconds``, only the
rows changed since its previous read (``changed``: new, extended, lifted, evicted; the
``changed_at`` column, sql/075_guard_bans_changed.sql) into memory, where the lookup path
checks them with one dict probe. A ban made on one instance is so enforced by every other
within a poll. At most ``guard.max_bans`` are in force: ``evict`` ends the soonest-ending. The
duration grows with the source's offences in the database (every instance's), not in one
process: ``base * growth**(offences-1)``, at most ``ban_max_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.db import Database


@dataclass(frozen=True, slots=True)
class Ban:
    ip: str
    key: str  # "" for the whole source, else the extension (extn@domain) limited from it
    rule: str
    offences: int
    banned_at: float  # epoch seconds
    until: float
    lifted_by: str = ""  # who ended it early (an admin's login, "evicted"); "" otherwise

    def as_json(self) -> dict[str, object]:
        return {
            "ip": self.ip,
            "extension": self.key,
            "scope": "source" if not self.key else "extension",
            "rule": self.rule,
            "offences": self.offences,
            "banned_at": self.banned_at,
            "until": self.until,
        }


_COLUMNS = (
    "ip, key, rule, offences, extract(epoch FROM banned_at)::float8 AS banned_at,"
    " extract(epoch FROM until)::float8 AS until, lifted_by"
)
# A write takes at most its 5 s timeout: a poll re-reads this far before its previous one, so
# a row written early but committed after that poll is still seen (re-reading is harmless).
CHANGE_MARGIN = 10.0

_BAN = f"""
INSERT INTO guard_bans AS b (ip, key, rule, offences, banned_at, until, instance)
VALUES ($1, $2, $3, 1, now(), now() + make_interval(secs => LEAST($4::float8, $6::float8)), $7)
ON CONFLICT (ip, key) DO UPDATE SET
    rule = EXCLUDED.rule,
    offences = b.offences + 1,
    banned_at = now(),
    until = now() + make_interval(secs => LEAST($6::float8, $4::float8 * power($5::float8, b.offences))),
    lifted_by = '',
    instance = EXCLUDED.instance,
    changed_at = clock_timestamp()
WHERE b.until <= now()
RETURNING {_COLUMNS}
"""


class BanStore:
    def __init__(
        self, db: Database, *, base: float, growth: float, longest: float, forget: float, instance: str
    ) -> None:
        self._db = db
        self._base = base
        self._growth = growth
        self._longest = longest
        self._forget = forget
        self._instance = instance

    async def ban(self, ip: str, key: str, rule: str) -> Ban | None:
        """Ban (ip, key); None when it is banned already (by this or another instance)."""
        row = await self._db.fetchrow(
            _BAN, ip, key, rule, self._base, self._growth, self._longest, self._instance, timeout=5.0
        )
        return None if row is None else _ban(row)

    async def active(self) -> list[Ban]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM guard_bans WHERE until > now() ORDER BY banned_at", timeout=5.0
        )
        return [_ban(row) for row in rows]

    async def changed(self, since: float | None) -> tuple[list[Ban], float]:
        """The rows changed after ``since`` (epoch seconds; None: every active ban) and the
        database's clock when read, which the next call passes back (less CHANGE_MARGIN)."""
        args: tuple[float, ...] = ()
        if since is None:
            where = "until > now()"
        else:
            where, args = "changed_at > to_timestamp($1::float8)", (since,)
        # One statement, one row at least: the clock, beside each changed row (if any).
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS}, extract(epoch FROM clock.now)::float8 AS read_at"
            f" FROM (SELECT now() AS now) AS clock LEFT JOIN guard_bans ON {where} ORDER BY changed_at",
            *args,
            timeout=5.0,
        )
        bans = [_ban(row) for row in rows if row["ip"] is not None]
        return bans, float(rows[0]["read_at"])

    async def evict(self, keep: int) -> list[Ban]:
        """End early every active ban beyond the ``keep`` ending last: the soonest-ending go."""
        rows = await self._db.fetch(
            "UPDATE guard_bans AS b SET until = now(), lifted_by = 'evicted', changed_at = clock_timestamp()"
            " FROM (SELECT ip, key FROM guard_bans WHERE until > now()"
            "       ORDER BY until DESC, banned_at DESC OFFSET $1) AS over"
            # Re-checked on a row another eviction just ended (READ COMMITTED): not counted twice.
            " WHERE b.ip = over.ip AND b.key = over.key AND b.until > clock_timestamp()"
            " RETURNING b.ip, b.key, b.rule, b.offences,"
            " extract(epoch FROM b.banned_at)::float8 AS banned_at,"
            " extract(epoch FROM b.until)::float8 AS until, b.lifted_by",
            keep,
            timeout=5.0,
        )
        return [_ban(row) for row in rows]

    async def lift(self, ip: str, by: str) -> list[Ban]:
        """End every active ban of ``ip`` (the source and its limited extensions) now."""
        rows = await self._db.fetch(
            "UPDATE guard_bans SET until = now(), lifted_by = $2, changed_at = clock_timestamp()"
            f" WHERE ip = $1 AND until > now()"
            f" RETURNING {_COLUMNS}",
            ip,
            by,
            timeout=5.0,
        )
        return [_ban(row) for row in rows]

    async def forget_old(self) -> int:
        """Drop rows whose ban ended more than ``forget`` seconds ago (their offences with them)."""
        status = await self._db.execute(
            "DELETE FROM guard_bans WHERE until < now() - make_interval(secs => $1::float8)",
            self._forget,
            timeout=5.0,
        )
        return int(status.rpartition(" ")[2] or 0)


def _ban(row: Mapping[str, Any]) -> Ban:
    return Ban(
        row["ip"], row["key"], row["rule"], row["offences"], row["banned_at"], row["until"], row["lifted_by"]
    )
