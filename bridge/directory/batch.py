"""Directory reads for different keys that are wanted at the same time share one statement.

A key to read joins the pending set; the first one schedules a dispatch for the next
loop iteration (``call_soon``), so a lone read goes out at once, while reads arriving in
the same iteration, or while earlier statements still run, go out together. At most
``max_in_flight`` statements run at once (the pool also serves the admin API and the
registration writes), each for at most ``max_keys`` distinct keys.

Each caller waits at most ``timeout`` seconds in all, queueing included, then gets
``DatabaseUnavailable``; a statement that fails for an outage fails each of its callers
the same way. A statement PostgreSQL refuses for its data is halved and retried until the
key it refuses stands alone: one key's failure never fails the others in its batch.
A caller that gives up never cancels the statement the others wait for; a key nobody
waits for any more leaves the pending set.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from bridge.directory.extension import Extension, Key
from bridge.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# One statement for many keys; unknown keys are absent from the answer.
FetchMany = Callable[[Sequence[Key]], Awaitable[Mapping[Key, Extension]]]


@dataclass(slots=True)
class _Wanted:
    future: asyncio.Future[Extension | None]
    # Callers still awaiting the future; none left while pending: the key is dropped.
    waiters: int = 0


class Batcher:
    """Reads extensions by key, many keys per statement (see the module docstring)."""

    def __init__(self, fetch: FetchMany, *, timeout: float, max_in_flight: int, max_keys: int = 256) -> None:
        self._fetch = fetch
        self._timeout = timeout
        self._max_in_flight = max(1, max_in_flight)
        self._max_keys = max(1, max_keys)
        self._pending: dict[Key, _Wanted] = {}
        self._dispatch_soon: asyncio.Handle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False
        # Called with the number of keys of each statement sent (tests, metrics).
        self.on_batch: Callable[[int], None] | None = None

    async def get(self, key: Key) -> Extension | None:
        if self._closed:
            raise DatabaseUnavailable("directory store closed")
        wanted = self._pending.get(key)
        if wanted is None:
            loop = asyncio.get_running_loop()
            wanted = self._pending[key] = _Wanted(loop.create_future())
            # With every slot busy, the next statement to finish dispatches instead.
            if self._dispatch_soon is None and len(self._running) < self._max_in_flight:
                self._dispatch_soon = loop.call_soon(self._dispatch)
        wanted.waiters += 1
        try:
            async with asyncio.timeout(self._timeout):
                # Shielded: this caller giving up must not cancel what the others wait for.
                return await asyncio.shield(wanted.future)
        except TimeoutError:
            raise DatabaseUnavailable(f"no answer from PostgreSQL within {self._timeout}s") from None
        finally:
            wanted.waiters -= 1
            if wanted.waiters == 0 and self._pending.get(key) is wanted:
                del self._pending[key]
                wanted.future.cancel()

    async def close(self) -> None:
        """Fail every pending read and stop the statements still running (before the pool closes)."""
        self._closed = True
        if self._dispatch_soon is not None:
            self._dispatch_soon.cancel()
            self._dispatch_soon = None
        pending, self._pending = self._pending, {}
        for wanted in pending.values():
            _fail(wanted, DatabaseUnavailable("directory store closed"))
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _dispatch(self) -> None:
        self._dispatch_soon = None
        while self._pending and len(self._running) < self._max_in_flight:
            keys = list(itertools.islice(self._pending, self._max_keys))
            batch = {key: self._pending.pop(key) for key in keys}
            task = asyncio.create_task(self._run(batch), name="directory-batch")
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        # What queued up while every slot was busy goes out now, together.
        self._dispatch()

    async def _run(self, batch: dict[Key, _Wanted]) -> None:
        if self.on_batch is not None:
            self.on_batch(len(batch))
        try:
            await self._settle(batch)
        finally:
            # Cancelled by close(): the callers still waiting hear it now, not at their deadline.
            for wanted in batch.values():
                _fail(wanted, DatabaseUnavailable("directory store closed"))

    async def _settle(self, batch: dict[Key, _Wanted]) -> None:
        try:
            found = await self._fetch(list(batch))
        except DatabaseUnavailable as exc:
            for wanted in batch.values():
                _fail(wanted, _unavailable(str(exc), exc))
        except Exception as exc:
            if len(batch) > 1:
                # Not an outage: PostgreSQL refused the statement, most likely for one key
                # (a value it cannot take). Halve until that key stands alone, so one bad
                # key never fails the others: a few more statements, only on this path.
                keys = list(batch)
                await self._settle({key: batch[key] for key in keys[: len(keys) // 2]})
                await self._settle({key: batch[key] for key in keys[len(keys) // 2 :]})
                return
            # A bug (the form checks should keep such keys out): logged here once, its
            # callers answered like an outage.
            log.exception("directory read failed keys=%d", len(batch))
            for wanted in batch.values():
                _fail(wanted, _unavailable(f"directory read failed: {type(exc).__name__}", exc))
        else:
            for key, wanted in batch.items():
                if not wanted.future.done():
                    wanted.future.set_result(found.get(key))


def _unavailable(message: str, cause: BaseException) -> DatabaseUnavailable:
    # One exception per caller: re-raising a shared one would grow its traceback with each.
    error = DatabaseUnavailable(message)
    error.__cause__ = cause
    return error


def _fail(wanted: _Wanted, error: DatabaseUnavailable) -> None:
    if wanted.future.done():
        return
    wanted.future.set_exception(error)
    if wanted.waiters == 0:
        wanted.future.exception()  # nobody is left to read it: mark it read
