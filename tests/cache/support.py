"""Helpers for the cache tests: a store that counts its queries."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.directory.extension import Extension
from bridge.directory.store.protocol import DirectoryStore


class CountingStore:
    """A real store (the database one) that counts the queries made through it."""

    def __init__(self, inner: DirectoryStore) -> None:
        self.inner = inner
        self.gets = 0

    async def get(self, domain: str, extn: str) -> Extension | None:
        self.gets += 1
        return await self.inner.get(domain, extn)

    async def domain(self, domain: str) -> Sequence[Extension]:
        return await self.inner.domain(domain)

    async def domains(self) -> Sequence[str]:
        return await self.inner.domains()

    async def group_extension_ids(self, domain: str, group: str) -> frozenset[int]:
        return await self.inner.group_extension_ids(domain, group)
