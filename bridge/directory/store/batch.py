"""Directory reads for different keys that are wanted at the same time share one statement.

A key to read joins the pending set; the first one starts a statement task, whose first
step runs on the next loop iteration, so a lone read goes out at once, while reads
arriving in the same iteration, or while earlier statements still run, go out together.
A key already in a running statement is not read again: its new callers wait for that
statement. At most ``max_in_flight`` statements run at once (the pool also serves the
admin API and the registration writes), each for at most ``max_keys`` distinct keys.

Each caller waits at most ``timeout`` seconds in all, queueing included, then gets
``DatabaseUnavailable``; a statement that fails for an outage fails each of its callers
the same way. A statement PostgreSQL refuses for its data is halved and retried until the
key it refuses stands alone: one key's failure never fails the others in its batch.

Each caller waits on a future of its own (waiters.py), which the statement resolves
directly: a caller that gives up never cancels the statement the others wait for, and a
key nobody waits for any more leaves the pending set.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bridge.directory.extension import Extension, Key
from bridge.directory.store.waiters import answer_all, fail_all, wait_own
from bridge.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# One statement for many keys; unknown keys are absent from the answer.
FetchMany = Callable[[Sequence[Key]], Awaitable[Mapping[Key, Extension]]]


@dataclass(slots=True)
class _Wanted:
    # One future per caller still waiting; none left while pending: the key is dropped.
    waiters: list[asyncio.Future[Extension | None]] = field(default_factory=list)


class Batcher:
    """Reads extensions by key, many keys per statement (see the module docstring)."""

    def __init__(self, fetch: FetchMany, *, timeout: float, max_in_flight: int, max_keys: int = 256) -> None:
        self._fetch = fetch
        self._timeout = timeout
        self._max_in_flight = max(1, max_in_flight)
        self._max_keys = max(1, max_keys)
        self._pending: dict[Key, _Wanted] = {}
        # Keys of the statements running now, so a new caller joins instead of reading again.
        self._sent: dict[Key, _Wanted] = {}
        # A statement task created whose first step (taking the pending keys) has not run.
        self._starting = False
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False
        # Called with the number of keys of each statement sent (tests, metrics).
        self.on_batch: Callable[[int], None] | None = None

    async def get(self, key: Key) -> Extension | None:
        if self._closed:
            raise DatabaseUnavailable("directory store closed")
        wanted = self._pending.get(key) or self._sent.get(key)
        if wanted is None:
            wanted = self._pending[key] = _Wanted()
            self._start()
        try:
            async with asyncio.timeout(self._timeout):
                return await wait_own(wanted.waiters)
        except TimeoutError:
            raise DatabaseUnavailable(f"no answer from PostgreSQL within {self._timeout}s") from None
        finally:
            if not wanted.waiters and self._pending.get(key) is wanted:
                del self._pending[key]  # everyone gave up before it was sent

    async def close(self) -> None:
        """Fail every pending read and stop the statements still running (before the pool closes)."""
        self._closed = True
        pending, self._pending = self._pending, {}
        for wanted in pending.values():
            _fail(wanted, "directory store closed")
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _start(self) -> None:
        """A statement task for the pending keys, unless one is about to take them or no slot is free."""
        if self._starting or len(self._running) >= self._max_in_flight or self._closed:
            return
        self._starting = True
        task = asyncio.create_task(self._run(), name="directory-batch")
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        # What queued up while every slot was busy goes out now, together.
        if self._pending:
            self._start()

    async def _run(self) -> None:
        self._starting = False
        batch = {key: self._pending.pop(key) for key in list(itertools.islice(self._pending, self._max_keys))}
        if not batch:
            return  # every key given up before the statement started
        self._sent.update(batch)
        if self._pending:
            self._start()  # more than max_keys keys: another statement, if a slot is free
        if self.on_batch is not None:
            self.on_batch(len(batch))
        try:
            await self._settle(batch)
        finally:
            for key, wanted in batch.items():
                if self._sent.get(key) is wanted:
                    del self._sent[key]
                # Cancelled by close(): the callers still waiting hear it now, not at their deadline.
                _fail(wanted, "directory store closed")

    async def _settle(self, batch: dict[Key, _Wanted]) -> None:
        try:
            found = await self._fetch(list(batch))
        except DatabaseUnavailable as exc:
            for wanted in batch.values():
                _fail(wanted, str(exc), exc)
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
                _fail(wanted, f"directory read failed: {type(exc).__name__}", exc)
        else:
            for key, wanted in batch.items():
                answer_all(wanted.waiters, found.get(key))


def _fail(wanted: _Wanted, message: str, cause: BaseException | None = None) -> None:
    fail_all(wanted.waiters, lambda: DatabaseUnavailable.caused_by(message, cause))
