"""The uncached DirectoryStore: PostgreSQL every time, one indexed statement per batch of misses.

Lookups of different users that miss at the same moment share one statement (batch.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from bridge.db import Database
from bridge.directory import sql
from bridge.directory.batch import Batcher
from bridge.directory.extension import Extension


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
