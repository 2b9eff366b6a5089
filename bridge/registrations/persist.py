"""PostgreSQL side of registrations: node leases, batched write-behind, the standby mirror.

Every ``sync_interval`` one tick: (1) take or renew the lease of every configured node
(a row in bridge_esl_nodes whose ``lease_until`` the holder pushes forward; another
instance takes it once it lapses, i.e. within ``lease_ttl``), following the nodes we hold
and dropping the ones we lost; (2) write the bindings that changed on the nodes we hold,
in one transaction (a REGISTER storm is a few executemany batches, not a write per event);
(3) mirror the nodes others hold from the table into our state, so every instance answers
the same. While PostgreSQL is down the tick fails as a whole: state in memory keeps
serving, pending writes are kept (one entry per binding, so they cannot grow without bound)
and are written when it returns; the nodes we follow stay followed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.config import FreeSwitchConfig
from bridge.db import Database
from bridge.errors import DatabaseUnavailable
from bridge.metrics import Metrics
from bridge.registrations.events import Heartbeat, NodeChanged, Snapshot
from bridge.registrations.model import Delta, NodeState, Registration
from bridge.registrations.state import RegistrationState

log = logging.getLogger(__name__)

_FIELDS = (
    "url",
    "expires",
    "token",
    "reg_user",
    "network_proto",
    "metadata",
    "hostname",
    "network_port",
    "realm",
    "network_ip",
    "node",
    "profile",
    "user_agent",
    "status",
    "contact",
)
_UPSERT = (
    f"INSERT INTO bridge_registrations ({', '.join(_FIELDS)}, updated_at) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(_FIELDS)))}, now()) "
    "ON CONFLICT (node, token) DO UPDATE SET "
    + ", ".join(f"{f} = EXCLUDED.{f}" for f in _FIELDS if f not in ("node", "token"))
    + ", updated_at = now()"
)
_LEASE = """
INSERT INTO bridge_esl_nodes (node, owner, lease_until, state, since, last_heartbeat, last_error)
VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5, $6, $7)
ON CONFLICT (node) DO UPDATE SET
    owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until, state = EXCLUDED.state,
    since = EXCLUDED.since, last_heartbeat = EXCLUDED.last_heartbeat, last_error = EXCLUDED.last_error
WHERE bridge_esl_nodes.owner = EXCLUDED.owner OR bridge_esl_nodes.lease_until < now()
RETURNING owner
"""


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
    """Leases, write-behind and mirror for one bridge instance (asyncio side only)."""

    def __init__(
        self,
        database: Database,
        state: RegistrationState,
        config: FreeSwitchConfig,
        *,
        instance: str,
        follow: Callable[[str], None],
        unfollow: Callable[[str], None],
        metrics: Metrics | None = None,
    ) -> None:
        self._db = database
        self._state = state
        self._config = config
        self.instance = instance
        self._follow = follow
        self._unfollow = unfollow
        self._metrics = metrics
        self.owned: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._db_down = False
        state.subscribe(self._on_delta)

    def _on_delta(self, delta: Delta) -> None:
        if delta.node in self.owned and (delta.upserted or delta.removed or delta.replaced):
            self._pending.setdefault(delta.node, _Pending()).add(delta)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a bug must not end syncing: log it, try again next tick
                log.exception("registrations: sync tick failed instance=%s", self.instance)
            await asyncio.sleep(self._config.sync_interval)

    async def tick(self) -> None:
        self._state.sweep()
        try:
            await self._leases()
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
        """On shutdown: write what is pending and give the leases up for a fast takeover."""
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
            log.warning("registrations: could not release leases error=%s", exc)

    async def _leases(self) -> None:
        timeout = max(self._db.config.query_timeout, 2.0)
        for node in self._config.nodes:
            status = {s.name: s for s in self._state.nodes()}.get(node.name)
            state = status.state if status is not None else NodeState.NOT_STARTED
            owner = await self._db.fetchval(
                _LEASE,
                node.name,
                self.instance,
                self._config.lease_ttl,
                state.value if node.name in self.owned else NodeState.CONNECTING.value,
                status.since if status is not None else time.time(),
                status.last_heartbeat if status is not None else None,
                status.last_error if status is not None and node.name in self.owned else "",
                timeout=timeout,
            )
            if owner == self.instance and node.name not in self.owned:
                log.info("registrations: following node=%s instance=%s", node.name, self.instance)
                self.owned.add(node.name)
                self._pending[node.name] = _Pending(replace=True)
                self._follow(node.name)
            elif owner != self.instance and node.name in self.owned:
                log.warning("registrations: lease lost node=%s instance=%s", node.name, self.instance)
                self.owned.discard(node.name)
                self._pending.pop(node.name, None)
                self._unfollow(node.name)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        limit = self._db.config.connect_timeout
        try:
            async with asyncio.timeout(limit), self._db.acquire(timeout=limit) as conn, conn.transaction():
                for node, pending in batch.items():
                    if pending.replace:
                        await conn.execute(
                            "DELETE FROM bridge_registrations "
                            "WHERE node = $1 AND NOT (token = ANY($2::text[]))",
                            node,
                            list(pending.upserts),
                        )
                    if pending.removes:
                        await conn.execute(
                            "DELETE FROM bridge_registrations WHERE node = $1 AND token = ANY($2::text[])",
                            node,
                            list(pending.removes),
                        )
                    if pending.upserts:
                        await conn.executemany(
                            _UPSERT, [tuple(getattr(r, f) for f in _FIELDS) for r in pending.upserts.values()]
                        )
        except BaseException as exc:
            # Keep the batch, under anything that changed meanwhile, for the next tick or
            # for release(). BaseException: a shutdown cancels the sync task in the middle
            # of this write, and CancelledError is not an Exception; the transaction rolls
            # back, so the batch must go back to pending or it is lost (issue 13).
            for node, older in batch.items():
                newer = self._pending.get(node)
                self._pending[node] = older if newer is None else older.under(newer)
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, DatabaseUnavailable | OSError | TimeoutError) or type(
                exc
            ).__module__.startswith("asyncpg"):
                raise DatabaseUnavailable(f"registration write failed: {type(exc).__name__}") from exc
            raise

    async def _mirror(self) -> None:
        others = [n.name for n in self._config.nodes if n.name not in self.owned]
        if not others:
            return
        nodes = await self._db.fetch(
            "SELECT node, owner, lease_until > now() AS live, state, since, last_heartbeat, last_error "
            "FROM bridge_esl_nodes WHERE node = ANY($1::text[])",
            others,
        )
        rows = await self._db.fetch(
            f"SELECT {', '.join(_FIELDS)} FROM bridge_registrations WHERE node = ANY($1::text[])",
            others,
        )
        by_node: dict[str, list[Registration]] = {name: [] for name in others}
        for row in rows:
            by_node[row["node"]].append(Registration(**{f: row[f] for f in _FIELDS}))
        seen = {row["node"]: row for row in nodes}
        now = time.time()
        for name in others:
            row = seen.get(name)
            if row is not None and row["live"] and row["state"] == NodeState.UP.value:
                self._state.apply(Snapshot(name, tuple(by_node[name])))
                self._state.apply(NodeChanged(name, NodeState.STANDBY, row["since"]))
                if row["last_heartbeat"] is not None:
                    self._state.apply(Heartbeat(name, row["last_heartbeat"]))
            elif row is not None and row["live"]:
                error = row["last_error"] or f"node is {row['state']} at instance {row['owner']}"
                self._state.apply(NodeChanged(name, NodeState.DOWN, row["since"], error))
            else:
                gone = "no bridge instance follows this node"
                self._state.apply(NodeChanged(name, NodeState.DOWN, now, gone))
