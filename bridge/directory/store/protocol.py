"""Where the directory gets its extensions: the seam between the lookup path and PostgreSQL (pure).

The handler only ever calls a ``DirectoryStore``. ``DatabaseStore`` (database_store.py)
asks PostgreSQL every time; the cache in ``cache.py`` puts memory in front of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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

    async def group_extension_ids(self, domain: str, group: str) -> frozenset[int]:
        """The ids of the extensions the XUI group ``group`` of ``domain`` rings (groups.py)."""
        ...
