"""Poll an assertion with a deadline instead of sleeping a guessed interval."""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``check`` (an assertion or a predicate) until it holds; at the deadline raise its last failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result is None or result:
                return
            error: Exception = AssertionError(what or f"condition not met within {timeout}s")
        except AssertionError as exc:
            error = exc
        if time.monotonic() > deadline:
            raise error
        await asyncio.sleep(0.005)


async def eventually_async(
    check: Callable[[], Awaitable[bool]], timeout: float = 5.0, what: str = ""
) -> None:
    """``eventually`` for a coroutine predicate (a database query)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(what or f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def eventually_value(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 3.0
) -> T:
    """Await ``probe`` until ``check`` holds for its value and return it; fail with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.02)


def until(probe: Callable[[], T], check: Callable[[T | Exception], bool], timeout: float) -> T | Exception:
    """``eventually_value`` for code outside an event loop (a subprocess, a socket): call
    ``probe`` until ``check`` holds for its value (or the OSError or HTTPException it raised)."""
    deadline = time.monotonic() + timeout
    while True:
        value: T | Exception
        try:
            value = probe()
        except (OSError, http.client.HTTPException) as exc:
            value = exc
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s; last: {value!r}")
        time.sleep(0.05)  # poll interval
