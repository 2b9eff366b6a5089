"""Where the directory gets its extensions: the seam between the lookup path and PostgreSQL.

The handler only ever calls a ``DirectoryStore``. ``DatabaseStore`` asks PostgreSQL every
time (one indexed query); the cache in ``cache.py`` puts memory in front of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bridge import extensions
from bridge.db import Database
from bridge.records import Extension


class DirectoryStore(Protocol):
    async def get(self, domain: str, extn: str) -> Extension | None:
        """The extension (possibly disabled: the caller decides), or None if unknown.

        Raises DatabaseUnavailable when the answer is not known and cannot be fetched in time.
        """
        ...

    async def domain(self, domain: str) -> Sequence[Extension]:
        """Every live extension of a domain (list_users, network-list, group_call)."""
        ...

    async def domains(self) -> Sequence[str]:
        """Every domain with a live extension (purpose=gateways)."""
        ...


class DatabaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, domain: str, extn: str) -> Extension | None:
        return await extensions.fetch_extension(self._db, domain, extn)

    async def domain(self, domain: str) -> Sequence[Extension]:
        return await extensions.fetch_domain(self._db, domain)

    async def domains(self) -> Sequence[str]:
        return await extensions.fetch_domains(self._db)
