"""PostgreSQL side of registrations: node locks, batched write-behind, the standby mirror.

Who follows a node is decided by a session advisory lock per node (locks.py): every
``takeover_interval`` the lock task tries to take the nodes this instance does not follow
and confirms the ones it does; a node taken is followed at once, a node lost is unfollowed
at once and its unwritten changes dropped (its new follower reloads the node's bindings
from FreeSWITCH). Every ``sync_interval`` (and at once after a takeover) one tick: (1) in
one transaction per node with writes (one for the others), for each node followed:
publish its row in bridge_esl_nodes (state, and
``lease_until``, which tells standbys the row is current), check that this instance's lock
session still holds the node (``locks.HOLDS``; a node not held writes nothing) and write
the bindings that changed (a REGISTER storm is a few executemany batches, not a write per
event); (2) mirror the nodes others follow from the table into our state, so every
instance answers the same. While PostgreSQL is down the tick fails as a whole: state in
memory keeps serving, pending writes are kept (one entry per binding, so they cannot grow
without bound) and written when it returns, if the lock is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from bridge.config import FreeSwitchConfig
from bridge.db import Database
from bridge.errors import DatabaseUnavailable, NodeUnavailable
from bridge.metrics import Metrics
from bridge.registrations.events import Heartbeat, Mirrored, NodeChanged, Snapshot
from bridge.registrations.locks import HOLDS, NodeLocks, Session, key_parts, lock_key
from bridge.registrations.model import XUI_FIELDS, Delta, NodeState, NodeStatus, Registration
from bridge.registrations.state import RegistrationState

log = logging.getLogger(__name__)

_FIELDS = (*XUI_FIELDS, "node", "profile", "user_agent", "status", "contact")
_UPSERT = (
    f"INSERT INTO bridge_registrations ({', '.join(_FIELDS)}, updated_at, version) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(_FIELDS)))}, now(), ${len(_FIELDS) + 1}) "
    "ON CONFLICT (node, token) DO UPDATE SET "
    + ", ".join(f"{f} = EXCLUDED.{f}" for f in _FIELDS if f not in ("node", "token"))
    + ", updated_at = now(), version = EXCLUDED.version"
)
# A deleted binding leaves its token and the write's version for the mirrors (a row that
# comes back later is upserted with a newer version: the mirror then keeps it).
_TOMBSTONES = """
INSERT INTO bridge_registration_removals (node, token, version) SELECT $1, token, $3 FROM gone
ON CONFLICT (node, token) DO UPDATE SET version = EXCLUDED.version, removed_at = now()
"""
_REMOVE = (
    "WITH gone AS (DELETE FROM bridge_registrations WHERE node = $1 AND token = ANY($2::text[])"
    " RETURNING token)" + _TOMBSTONES
)
_REMOVE_ALL_BUT = (
    "WITH gone AS (DELETE FROM bridge_registrations WHERE node = $1 AND NOT (token = ANY($2::text[]))"
    " RETURNING token)" + _TOMBSTONES
)
# Records older than removals_kept go; the node remembers the highest version purged, and a
# mirror that read the node before it reads the node whole.
_PURGE = """
WITH gone AS (
    DELETE FROM bridge_registration_removals
    WHERE node = $1 AND removed_at < now() - make_interval(secs => $2) RETURNING version)
UPDATE bridge_esl_nodes SET purged_through = GREATEST(purged_through, (SELECT max(version) FROM gone))
WHERE node = $1 AND EXISTS (SELECT 1 FROM gone)
"""
# Unconditional: the lock, checked in the same transaction, says the node is ours. The
# row lock this takes orders us against a new follower's first write: a batch that
# passed the check commits before the new follower's own publish (which waits for the
# row) and its first batch, which replaces every binding of the node.
# A transaction that writes bindings adds 1 ($8) to the node's version and stamps its rows
# with it: the row lock serialises every writer of the node, whichever instance, so the
# versions commit in order and a mirror that saw version V has seen every row up to V.
_PUBLISH = """
INSERT INTO bridge_esl_nodes (node, owner, lease_until, state, since, last_heartbeat, last_error, version)
VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5, $6, $7, $8)
ON CONFLICT (node) DO UPDATE SET
    owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until, state = EXCLUDED.state,
    since = EXCLUDED.since, last_heartbeat = EXCLUDED.last_heartbeat, last_error = EXCLUDED.last_error,
    version = bridge_esl_nodes.version + $8
RETURNING version
"""
_NODES = (
    "SELECT node, owner, lease_until > now() AS live, state, since, last_heartbeat, last_error,"
    " version, purged_through FROM bridge_esl_nodes WHERE node = ANY($1::text[])"
)
_ROWS = (
    f"SELECT {', '.join(_FIELDS)} FROM bridge_registrations"
    " WHERE node = $1 AND version > $2 AND token > $3 ORDER BY token LIMIT $4"
)
_VERSIONS = "SELECT node, version, purged_through FROM bridge_esl_nodes WHERE node = ANY($1::text[])"
# Each node with the version its mirror read last ($2, in step with $1). Nodes in code point
# order ("C"), as Python compares them to cut a full page at a node's first row.
_REMOVED = """
SELECT r.node, r.token FROM unnest($1::text[], $2::bigint[]) AS s(node, since)
JOIN bridge_registration_removals r ON r.node = s.node AND r.version > s.since
"""
_CHANGED = f"""
SELECT {", ".join("r." + f for f in _FIELDS)} FROM unnest($1::text[], $2::bigint[]) AS s(node, since)
JOIN bridge_registrations r ON r.node = s.node AND r.version > s.since
ORDER BY r.node COLLATE "C", r.token LIMIT $3
"""


class _NotHeld(Exception):
    """The lock session no longer holds the node: roll its part of the batch back."""


@dataclass(slots=True)
class _Pending:
    replace: bool = False
    upserts: dict[str, Registration] = field(default_factory=dict)
    removes: set[str] = field(default_factory=set)

    def add(self, delta: Delta) -> None:
        if delta.replaced:
            self.replace, self.upserts, self.removes = True, {}, set()
        for token in delta.removed:
            self.upserts.pop(token, None)
            self.removes.add(token)
        for registration in delta.upserted:
            self.removes.discard(registration.token)
            self.upserts[registration.token] = registration

    def under(self, newer: _Pending) -> _Pending:
        """This (older, unwritten) batch with a newer one applied on top."""
        if newer.replace:
            return newer
        merged = _Pending(self.replace, dict(self.upserts), set(self.removes))
        for token in newer.removes:
            merged.upserts.pop(token, None)
            merged.removes.add(token)
        for token, registration in newer.upserts.items():
            merged.removes.discard(token)
            merged.upserts[token] = registration
        return merged


class RegistrationStore:
    """Node locks, write-behind and mirror for one bridge instance (asyncio side only)."""

    def __init__(
        self,
        database: Database,
        state: RegistrationState,
        config: FreeSwitchConfig,
        *,
        locks: NodeLocks,
        instance: str,
        follow: Callable[[str], None],
        unfollow: Callable[[str], None],
        unfollowed: Callable[[str], Awaitable[None]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._db = database
        self._state = state
        self._config = config
        self._locks = locks
        self.instance = instance
        self._follow = follow
        self._unfollow = unfollow
        # Returns once an unfollowed node's connection is closed (Listener.unfollowed).
        self._unfollowed = unfollowed
        # Nodes handed over (unfollowed) whose lock is freed once their connection closed.
        self._handing: set[str] = set()
        self._metrics = metrics
        self.owned: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        # Nodes taken over whose rows are rewritten whole, from our state, once their
        # snapshot is loaded (UP): a snapshot equal to what we mirrored is no Delta, yet
        # the table may hold what the old follower wrote after our last mirror.
        self._resync: set[str] = set()
        # The version of each node it does not follow that the mirror has read: a node whose
        # version is unchanged is not read at all, a changed one only from there (_mirror).
        self._mirrored: dict[str, int] = {}
        # Bumped whenever a node is taken or given up: a mirror read that spans one is not
        # applied (its base, our state of the node, changed under it).
        self._ownership = 0
        # Rows the mirror fetched (bindings and removal records), for tests and the metric.
        self.mirror_rows = 0
        # Monotonic time of each followed node's last purge of old removal records.
        self._purged: dict[str, float] = {}
        self._db_down = False
        self._wake = asyncio.Event()
        # One flush at a time: two transactions in flight could commit an older batch last.
        self._flushing = asyncio.Lock()
        state.subscribe(self._on_delta)

    def _on_delta(self, delta: Delta) -> None:
        if delta.node in self.owned and (delta.upserted or delta.removed or delta.replaced):
            self._pending.setdefault(delta.node, _Pending()).add(delta)

    async def run(self) -> None:
        """The lock task and the sync task, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._lock_loop())
            tasks.create_task(self._sync_loop())

    async def _lock_loop(self) -> None:
        while True:
            await self._step(self.take_over)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._locks.ended.wait(), self._config.takeover_interval)

    async def _sync_loop(self) -> None:
        while True:
            await self._step(self.tick)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.sync_interval)
            self._wake.clear()

    async def _step(self, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except Exception:  # a bug must not end syncing: log it, try again next time
            log.exception("registrations: sync step failed instance=%s", self.instance)

    async def take_over(self) -> None:
        """One round trip on the lock connection: take free nodes, confirm the ones held."""
        # The lock thread found them gone (its own round trip failed, or the server ended
        # the session): given up before this poll, which may wait on a reconnect.
        for name in sorted(self.owned - self._locks.held):
            self._lose(name, "lock lost")
        gained, lost = await self._locks.poll((node.name for node in self._config.nodes), self._room())
        # Followed here but no longer held, whatever the path (a failed release or a drop
        # ends the whole lock session): unfollowed before anything is taken.
        for name in sorted(lost | (self.owned - self._locks.held - gained)):
            self._lose(name, "lock lost")
        for name in sorted(gained):
            log.info("registrations: following node=%s instance=%s", name, self.instance)
            if self._metrics is not None:
                self._metrics.node_takeovers.labels(name).inc()
            self.owned.add(name)
            self._ownership += 1
            self._mirrored.pop(name, None)
            self._pending.pop(name, None)
            self._resync.add(name)
            self._follow(name)
        if gained:
            self._wake.set()  # publish the takeover and write the snapshot without waiting
        self._handing &= self._locks.held
        if self._handing:
            await self._free_handed()
        elif self._locks.surplus > 0 and self.owned and not gained:
            await self._hand_over(max(self.owned))

    def _room(self) -> int:
        """How many nodes this try may take: none while one taken earlier is still loading
        (connecting, its snapshot parsed and applied on this loop), so a start that finds
        every node free takes them as fast as they load, not all at once."""
        settled = (NodeState.UP, NodeState.DOWN)
        if any(self._state.node_state(name) not in settled for name in self.owned):
            return 0
        return self._config.takes_per_try

    async def _hand_over(self, name: str) -> None:
        """Give one node up for spreading: write what it has, unfollow, then free the lock
        (the taker connects only after its next try).

        The write runs in the lock task, so it gets half the time the locks stay confirmed:
        a slow database (a loaded site, a big batch) must not hold the next round trip back
        past ``lock_timeout``, which would give every node up at once (each then taken and
        connected to by another instance while this one's connections close)."""
        budget = (self._locks.confirmed_until - time.monotonic()) / 2
        try:
            async with asyncio.timeout(max(budget, 0.0)):
                await self.flush()
        except (DatabaseUnavailable, TimeoutError):
            return  # the sync tick writes it; hand over at a later try
        self._lose(name, "handed to an instance with room (freeswitch.spread)", level=logging.INFO)
        self._handing.add(name)
        await self._free_handed()

    async def _free_handed(self) -> None:
        """Free the lock of each node handed over whose connection is closed: the taker
        connects as soon as it has the lock, so never before (two connections to a node)."""
        for name in sorted(self._handing):
            if self._unfollowed is not None:
                budget = (self._locks.confirmed_until - time.monotonic()) / 2
                try:
                    async with asyncio.timeout(max(budget, 0.0)):
                        await self._unfollowed(name)
                except TimeoutError:
                    return  # still closing: freed at a later try
                except NodeUnavailable:
                    pass  # the listener is stopped: no connection is left
            self._handing.discard(name)
            await self._locks.release(name)
        # A release that failed ended the lock session: every other node went with it.
        for other in sorted(self.owned - self._locks.held):
            self._lose(other, "lock lost")

    def _lose(self, name: str, reason: str, level: int = logging.WARNING) -> None:
        if name not in self.owned:
            return
        message = "registrations: stopped following node=%s instance=%s reason=%s"
        log.log(level, message, name, self.instance, reason)
        self.owned.discard(name)
        self._ownership += 1
        self._mirrored.pop(name, None)  # our own bindings are in the state: read it whole
        self._resync.discard(name)
        self._pending.pop(name, None)  # the new follower reloads the node from FreeSWITCH
        with contextlib.suppress(NodeUnavailable):  # the listener is already stopped
            self._unfollow(name)
        # Not UP any more: the last bindings known stay answered, as a standby's mirror
        # does, until the mirror or a new follower replaces them.
        self._state.apply(NodeChanged(name, NodeState.STANDBY, time.time(), f"not followed here: {reason}"))

    async def tick(self) -> None:
        self._state.sweep()
        try:
            await self.flush()
            await self._mirror()
        except DatabaseUnavailable as exc:
            if self._metrics is not None:
                self._metrics.db_errors.labels("registrations").inc()
            if not self._db_down:
                log.warning("registrations: database unavailable, serving from memory error=%s", exc)
                self._db_down = True
            return
        if self._db_down:
            log.info("registrations: database back, pending writes flushed")
            self._db_down = False

    async def release(self) -> None:
        """On shutdown: write what is pending, mark the rows stale and free the locks."""
        try:
            await self.flush()
            if self.owned:
                await self._db.execute(
                    "UPDATE bridge_esl_nodes SET lease_until = now() - interval '1 second' "
                    "WHERE owner = $1 AND node = ANY($2::text[])",
                    self.instance,
                    sorted(self.owned),
                )
        except DatabaseUnavailable as exc:
            log.warning("registrations: could not write before release error=%s", exc)
        finally:
            self.owned.clear()
            await self._locks.close()

    async def flush(self) -> None:
        """Publish every followed node and write its pending bindings, each node's part only
        if the lock session still holds it (else rolled back)."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        session = self._locks.session
        if not self.owned or session is None:
            return  # no lock session: the lock task gives the nodes up or confirms them
        batch, self._pending = self._pending, {}
        limit = self._db.config.connect_timeout
        statuses = {s.name: s for s in self._state.nodes()}
        resynced: set[str] = set()
        for node in self._resync:
            status = statuses.get(node)
            if status is not None and status.state is NodeState.UP:
                # The state holds every change since the snapshot: it supersedes the batch.
                bindings = {r.token: r for r in self._state.bindings_of_node(node)}
                batch[node] = _Pending(replace=True, upserts=bindings)
                resynced.add(node)
        not_held: list[str] = []
        groups = _groups(sorted(self.owned), batch)
        try:
            for group in groups:
                acquired = self._db.acquire(timeout=limit)
                async with asyncio.timeout(limit), acquired as conn, conn.transaction():
                    for node in group:
                        try:
                            async with conn.transaction():
                                status, pending = statuses.get(node), batch.get(node)
                                await self._write_node(conn, node, status, pending, session)
                        except _NotHeld:
                            not_held.append(node)
                for node in group:
                    batch.pop(node, None)  # committed
                    if node in resynced:
                        self._resync.discard(node)
        except BaseException as exc:
            # Keep what was not committed, under anything that changed meanwhile, for the
            # next tick or for release(). BaseException: a shutdown cancels the sync task in
            # the middle of this write, and CancelledError is not an Exception; the
            # transaction rolls back, so its batch must go back to pending or it is lost
            # (issue 13).
            for node, older in batch.items():
                if node not in self.owned:
                    continue
                newer = self._pending.get(node)
                self._pending[node] = older if newer is None else older.under(newer)
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, DatabaseUnavailable | OSError | TimeoutError) or type(
                exc
            ).__module__.startswith("asyncpg"):
                raise DatabaseUnavailable(f"registration write failed: {type(exc).__name__}") from exc
            raise
        if not_held:
            # The session lost a lock it believes it holds: it is not to be trusted.
            for name in await self._locks.drop(f"lock not held at write node={','.join(not_held)}"):
                self._lose(name, "lock not held at write")
            for name in list(self.owned):
                self._lose(name, "lock not held at write")

    async def _write_node(
        self,
        conn: asyncpg.Connection,
        node: str,
        status: NodeStatus | None,
        pending: _Pending | None,
        session: Session,
    ) -> None:
        version = await self._publish(conn, node, status, pending is not None)
        classid, objid = key_parts(lock_key(node))
        if not await conn.fetchval(HOLDS, session.pid, session.started, classid, objid):
            raise _NotHeld(node)
        if pending is not None:
            await _write(conn, node, pending, version)
        await self._purge(conn, node)

    async def _publish(
        self, conn: asyncpg.Connection, node: str, status: NodeStatus | None, writes: bool
    ) -> int:
        """The node's row; its version, one more than before when ``writes``."""
        version: int = await conn.fetchval(
            _PUBLISH,
            node,
            self.instance,
            self._config.lease_ttl,
            status.state.value if status is not None else NodeState.CONNECTING.value,
            status.since if status is not None else time.time(),
            status.last_heartbeat if status is not None else None,
            status.last_error if status is not None else "",
            1 if writes else 0,
        )
        return version

    async def _purge(self, conn: asyncpg.Connection, node: str) -> None:
        """Removal records older than ``removals_kept``, at most four times per that span."""
        kept = self._config.removals_kept
        now = time.monotonic()
        if now - self._purged.get(node, -math.inf) < kept / 4:
            return
        await conn.execute(_PURGE, node, kept)
        self._purged[node] = now

    async def _mirror(self) -> None:
        """Mirror the nodes others follow: a node whose version is the one read last is not
        read; the changed ones only their rows (and removal records) newer than that, in
        one snapshot, applied per binding; a node never read, or read before its purged
        removal records, whole (a Snapshot), one at a time. Reads are paged: the loop
        answers between pages."""
        others = [n.name for n in self._config.nodes if n.name not in self.owned]
        if not others:
            return
        nodes = await self._db.fetch(_NODES, others)
        seen = {found["node"]: found for found in nodes}
        up = {n for n, found in seen.items() if found["live"] and found["state"] == NodeState.UP.value}
        changed: dict[str, int] = {}
        whole: list[str] = []
        for name in sorted(up):
            row = seen[name]
            read = self._mirrored.get(name)
            if read == row["version"]:
                continue
            if read is not None and row["purged_through"] <= read < row["version"]:
                changed[name] = read
            else:
                # Never read; followed here since; removal records it needs are purged; or
                # the version went back (a restored database): read it whole.
                whole.append(name)
        if changed:
            await self._mirror_changes(changed)
        for name in whole:
            await self._mirror_whole(name)
        now = time.time()
        for name in others:
            if name in self.owned:
                # Taken over while the mirror read: our own follower's state is the truth, and
                # a STANDBY from the stale read would stick (the follower sends no new state).
                continue
            row = seen.get(name)
            if name in up and row is not None:
                self._state.apply(NodeChanged(name, NodeState.STANDBY, row["since"]))
                if row["last_heartbeat"] is not None:
                    self._state.apply(Heartbeat(name, row["last_heartbeat"]))
            elif row is not None and row["live"]:
                error = row["last_error"] or f"node is {row['state']} at instance {row['owner']}"
                self._state.apply(NodeChanged(name, NodeState.DOWN, row["since"], error))
            else:
                gone = "no bridge instance follows this node"
                self._state.apply(NodeChanged(name, NodeState.DOWN, now, gone))

    def _read(self, count: int, kind: str) -> None:
        self.mirror_rows += count
        if self._metrics is not None and count:
            self._metrics.registration_mirror_rows.labels(kind).inc(count)

    async def _mirror_changes(self, since: dict[str, int]) -> None:
        """The changes of every node in ``since`` after its version there, in one snapshot of
        the database and as few statements as fit: applied per binding (``Mirrored``) unless
        a node was taken or given up meanwhile (the next pass reads them again)."""
        ownership = self._ownership
        names = sorted(since)
        page = self._config.mirror_page_rows
        limit = self._db.config.connect_timeout
        bindings: dict[str, list[Registration]] = {name: [] for name in names}
        removed: dict[str, list[str]] = {name: [] for name in names}
        async with (
            asyncio.timeout(limit),
            self._db.acquire(timeout=limit) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            found = await conn.fetch(_VERSIONS, names)
            versions = {r["node"]: r["version"] for r in found}
            # Purged since the pass looked: records this read needs may be gone.
            purged = {r["node"] for r in found if r["purged_through"] > since[r["node"]]}
            versions_since = [since[name] for name in names]
            for found in await conn.fetch(_REMOVED, names, versions_since):
                removed[found["node"]].append(found["token"])
            rows = await conn.fetch(_CHANGED, names, versions_since, page + 1)
            rest: list[str] = []
            if len(rows) > page:
                # More than a page: the nodes from the last one in it on, one at a time, paged.
                last = rows[page]["node"]
                rows = [row for row in rows if row["node"] < last]
                rest = [name for name in names if name >= last]
            for row in rows:
                bindings[row["node"]].append(Registration(**{f: row[f] for f in _FIELDS}))
            for name in rest:
                bindings[name] = await self._rows(conn, name, since[name])
        self._read(sum(map(len, bindings.values())) + sum(map(len, removed.values())), "changed")
        if ownership != self._ownership:
            return
        for name in names:
            if name in purged:
                self._mirrored.pop(name, None)  # read whole at the next pass
                continue
            if name in self.owned or name not in versions:
                continue
            # A token both removed and (later) written again is live: its row exists.
            back = {r.token for r in bindings[name]}
            gone = tuple(t for t in removed[name] if t not in back)
            self._state.apply(Mirrored(name, tuple(bindings[name]), gone))
            self._mirrored[name] = versions[name]
            await asyncio.sleep(0)  # one node's Delta at a time: the loop runs between

    async def _mirror_whole(self, name: str) -> None:
        """Read one node whole (a Snapshot) in a snapshot of its own, unless it was taken or
        given up meanwhile."""
        ownership = self._ownership
        limit = self._db.config.connect_timeout
        async with (
            asyncio.timeout(limit),
            self._db.acquire(timeout=limit) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            version = await conn.fetchval("SELECT version FROM bridge_esl_nodes WHERE node = $1", name)
            bindings = await self._rows(conn, name, None)
        self._read(len(bindings), "whole")
        if version is None or ownership != self._ownership or name in self.owned:
            return
        self._state.apply(Snapshot(name, tuple(bindings)))
        self._mirrored[name] = version

    async def _rows(self, conn: asyncpg.Connection, name: str, since: int | None) -> list[Registration]:
        """The node's rows newer than ``since`` (None: all), in keyset pages."""
        page = self._config.mirror_page_rows
        bindings: list[Registration] = []
        after = ""
        while True:
            rows = await conn.fetch(_ROWS, name, -1 if since is None else since, after, page)
            bindings.extend(Registration(**{f: row[f] for f in _FIELDS}) for row in rows)
            if len(rows) < page:
                return bindings
            after = rows[-1]["token"]


# Rows one write transaction takes before the next node goes to a transaction of its own.
_ROWS_PER_TRANSACTION = 5000


def _groups(nodes: list[str], batch: dict[str, _Pending]) -> list[list[str]]:
    """The nodes in write transactions: few round trips for the usual small batches, and
    a node reloaded whole (10,000 rows) in one of its own, so that each transaction fits
    its time bound and a timeout puts back only what was not committed (at 500,000
    bindings one transaction of every node taken at once timed out again every tick)."""
    groups: list[list[str]] = []
    rows = _ROWS_PER_TRANSACTION
    for node in nodes:
        pending = batch.get(node)
        size = 0 if pending is None else len(pending.upserts) + len(pending.removes) + pending.replace
        if not groups or rows + size > _ROWS_PER_TRANSACTION:
            groups.append([])
            rows = 0
        groups[-1].append(node)
        rows += size
    return groups


async def _write(conn: asyncpg.Connection, node: str, pending: _Pending, version: int) -> None:
    if pending.replace:
        await conn.execute(_REMOVE_ALL_BUT, node, list(pending.upserts), version)
    if pending.removes:
        await conn.execute(_REMOVE, node, list(pending.removes), version)
    if pending.upserts:
        rows = [(*(getattr(r, f) for f in _FIELDS), version) for r in pending.upserts.values()]
        await conn.executemany(_UPSERT, rows)
