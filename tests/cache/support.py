"""Helpers for the cache tests: polling with a deadline, a store that counts its queries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bridge.directory.extension import Extension
from bridge.directory.store import DirectoryStore

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 3.0
) -> T:
    """Call ``probe`` until ``check`` holds for its value; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.02)


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
