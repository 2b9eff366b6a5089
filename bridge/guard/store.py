"""Bans in PostgreSQL (table guard_bans, sql/050_guard_bans.sql), shared by every instance.

Each instance writes the bans it makes and reads the active ones back every
``guard.poll_seconds`` into memory (``Bans``), where the lookup path checks them with one
dict probe. A ban made on one instance is so enforced by every other within a poll. The
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
    " extract(epoch FROM until)::float8 AS until"
)

_BAN = f"""
INSERT INTO guard_bans AS b (ip, key, rule, offences, banned_at, until, instance)
VALUES ($1, $2, $3, 1, now(), now() + make_interval(secs => LEAST($4::float8, $6::float8)), $7)
ON CONFLICT (ip, key) DO UPDATE SET
    rule = EXCLUDED.rule,
    offences = b.offences + 1,
    banned_at = now(),
    until = now() + make_interval(secs => LEAST($6::float8, $4::float8 * power($5::float8, b.offences))),
    lifted_by = '',
    instance = EXCLUDED.instance
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

    async def lift(self, ip: str, by: str) -> list[Ban]:
        """End every active ban of ``ip`` (the source and its limited extensions) now."""
        rows = await self._db.fetch(
            f"UPDATE guard_bans SET until = now(), lifted_by = $2 WHERE ip = $1 AND until > now()"
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
    return Ban(row["ip"], row["key"], row["rule"], row["offences"], row["banned_at"], row["until"])
