"""Callers waiting for one read, each on a future of its own (pure asyncio, no I/O).

A caller that gives up (its timeout, its own cancellation) cancels only its own future,
never the read the others wait for; the read answers or fails every future still waiting.
(One future per caller, rather than one shared future behind ``asyncio.shield``, also
saves the shield's extra task step on the lookup path.) Used by the cache's flights
(cache.py) and the batcher's keys (batch.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_own(waiters: list[asyncio.Future[T]]) -> T:
    """Join ``waiters`` with a future of this caller's and wait for it; leave when giving up."""
    waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        return await waiter
    finally:
        if waiter.cancelled():
            waiters.remove(waiter)
        elif waiter.done():
            waiter.exception()  # answered as it was cancelled: mark the outcome read


def answer_all(waiters: list[asyncio.Future[T]], value: T) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(value)


def fail_all(waiters: list[asyncio.Future[T]], error: Callable[[], BaseException]) -> None:
    """Fail every future still waiting, each with an exception of its own (re-raising a
    shared one would grow its traceback with each caller)."""
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error())
