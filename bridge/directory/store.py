"""Where the directory gets its extensions: the seam between the lookup path and PostgreSQL.

The handler only ever calls a ``DirectoryStore``. ``DatabaseStore`` asks PostgreSQL every
time (one indexed statement, shared by the lookups of different users that miss at the
same moment: batch.py); the cache in ``cache.py`` puts memory in front of it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from bridge.db import Database
from bridge.directory import sql
from bridge.directory.batch import Batcher
from bridge.directory.extension import Extension


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
        self.batcher = Batcher(
            functools.partial(sql.fetch_extensions, db),
            timeout=db.config.query_timeout,
            # Half the pool at most: the admin API and registration writes share it.
            max_in_flight=max(1, db.config.pool_max // 2),
        )

    async def get(self, domain: str, extn: str) -> Extension | None:
        return await self.batcher.get((domain, extn))

    async def domain(self, domain: str) -> Sequence[Extension]:
        return await sql.fetch_domain(self._db, domain)

    async def domains(self) -> Sequence[str]:
        return await sql.fetch_domains(self._db)

    async def close(self) -> None:
        """Stop the reads still pending or running; call before the pool closes."""
        await self.batcher.close()
