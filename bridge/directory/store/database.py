"""The uncached DirectoryStore: PostgreSQL every time, one indexed statement per batch of misses.

Lookups of different users that miss at the same moment share one statement (batch.py),
run on connections held between statements (``HeldConnections`` in bridge/db.py) rather
than taken from the pool and handed back each time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from bridge.db import Database
from bridge.directory import groups
from bridge.directory.extension import Extension
from bridge.directory.store import sql
from bridge.directory.store.batch import Batcher


class DatabaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Half the pool at most: the admin API and registration writes share it.
        most = max(1, db.config.pool_max // 2)
        self._held = db.held(most)
        self.batcher = Batcher(
            functools.partial(sql.fetch_extensions, self._held),
            timeout=db.config.query_timeout,
            max_in_flight=most,
        )

    async def get(self, domain: str, extn: str) -> Extension | None:
        return await self.batcher.get((domain, extn))

    async def domain(self, domain: str) -> Sequence[Extension]:
        return await sql.fetch_domain(self._db, domain)

    async def domains(self) -> Sequence[str]:
        return await sql.fetch_domains(self._db)

    async def group_extension_ids(self, domain: str, group: str) -> frozenset[int]:
        return await groups.fetch_group_extension_ids(self._db, domain, group)

    async def close(self) -> None:
        """Stop the reads still pending or running, then hand the held connections back; call
        before the pool closes."""
        await self.batcher.close()
        await self._held.close()
