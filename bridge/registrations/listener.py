"""The Event Socket edge: greenswitch connections to every followed node, in one thread
with its own gevent hub. The only module that imports greenswitch or gevent.

It reaches asyncio only through ``loop.call_soon_threadsafe`` (events out, in batches;
command replies out) and receives work only through ``hub.loop.run_callback_threadsafe``
(commands in, follow/unfollow, stop). greenswitch's traps, and what this module does:

- ``InboundESL.connect`` waits for ``auth/request`` forever: bounded by command_timeout.
- ``send`` is not thread-safe, uses ``sock.send`` (may write part of a command) and waits
  forever: commands are serialised by a lock, written with ``sendall`` and bounded; a
  timed-out command leaves the reply stream out of step, so the connection is dropped.
- a command in flight when the node drops is never failed: ``_closed`` fails them all.
- ``receive_events`` URL-decodes a whole plain event before splitting it into lines and
  dies on a non-UTF-8 byte: replaced by a reader that hands raw bodies to events.py.
- no reconnect: each node has a follower greenlet that reconnects with capped, jittered
  backoff and reloads the node's snapshot.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.socket
from greenswitch.esl import InboundESL, NotConnectedError

from bridge.config import FreeSwitchConfig, FreeSwitchNode
from bridge.errors import CommandTimeout, EslError, NodeUnavailable
from bridge.metrics import Metrics
from bridge.registrations import events, listing, sanitize
from bridge.registrations.events import (
    Change,
    FrameError,
    NodeChanged,
    Observed,
    Reconcile,
    Registered,
    Snapshot,
    Unregistered,
)
from bridge.registrations.model import NodeState, Registration

log = logging.getLogger(__name__)

Sink = Callable[[list[Change]], object]
_BATCH_MAX = 2000
_FENCE_CHECK = 0.1  # seconds between two looks at the lock confirmation deadline (hub)


@dataclass(frozen=True, slots=True)
class Reply:
    content_type: str
    text: str  # Reply-Text of command/reply, the body of api/response


class EslConnection(InboundESL):  # type: ignore[misc]
    """One inbound Event Socket connection, with greenswitch's traps closed (see module doc)."""

    def __init__(
        self,
        node: FreeSwitchNode,
        *,
        timeout: float,
        on_event: Callable[[str, bytes], None] | None = None,
        on_frame_error: Callable[[str], None] | None = None,
        max_frame: int = 128 * 1024 * 1024,
    ) -> None:
        self._max_frame = max_frame
        super().__init__(node.host, node.port, node.password, timeout=timeout)
        self.node = node
        self._commands_sent: list[gevent.event.AsyncResult] = []
        self._on_event = on_event
        self._on_frame_error = on_frame_error
        self._send_lock = gevent.lock.Semaphore()
        self.closed = gevent.event.Event()
        self.close_reason = ""
        self.last_frame = time.monotonic()
        self.was_up = False  # snapshot loaded: the session counts as a success
        self.up_at: float | None = None  # monotonic time the snapshot was loaded
        self.goodbye = True  # stop() says ``exit`` first

    # -- connect / authenticate ---------------------------------------------------

    def connect(self) -> None:
        with gevent.Timeout(self.timeout, NodeUnavailable(f"no auth/request within {self.timeout}s")):
            self.sock = gevent.socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.settimeout(None)
            self.sock_file = self.sock.makefile("rb")
            self.connected = True
            self.start_event_handlers()
            self._auth_request_event.wait()
        if not self.connected:
            raise NodeUnavailable(f"connection closed before auth ({self.close_reason})")
        reply = self.command(f"auth {self.password}")
        if not reply.text.startswith("+OK"):
            # Never log the password: only FreeSWITCH's reply.
            raise NodeUnavailable(f"authentication refused: {reply.text[:60]}")

    def start_event_handlers(self) -> None:
        # Only our reader: greenswitch's process_events queue is not used.
        self._receive_events_greenlet = gevent.spawn(self.receive_events)

    # -- commands -----------------------------------------------------------------

    def command(self, text: str) -> Reply:
        """Send one command line, wait for its reply (at most ``timeout``)."""
        if not self.connected:
            raise NodeUnavailable("not connected")
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        with self._send_lock:
            self._commands_sent.append(result)
            try:
                self.sock.sendall((text + "\n\n").encode())
            except OSError as exc:
                self._closed(f"send failed: {exc}")
        try:
            reply: Reply = result.get(timeout=self.timeout)
        except gevent.Timeout:
            # The reply may still come and would answer the next command: drop the line.
            self._closed(f"no reply within {self.timeout}s")
            raise CommandTimeout(f"no reply within {self.timeout}s") from None
        except NotConnectedError as exc:
            raise NodeUnavailable(str(exc) or "connection lost") from None
        return reply

    def api(self, command: str) -> str:
        return self.command(f"api {command}").text

    def stop(self) -> None:
        if self.connected and self.goodbye:
            try:
                with gevent.Timeout(min(self.timeout, 1.0)):
                    self.command("exit")
            except (EslError, gevent.Timeout):
                pass
        self._closed("stopped")

    # -- the reader ---------------------------------------------------------------

    def receive_events(self) -> None:
        try:
            while self.connected:
                block = self._read_header_block()
                if block is None:
                    self._closed("connection closed by node")
                    return
                self.last_frame = time.monotonic()
                try:
                    headers = events.parse_frame_headers(block)
                    length = events.content_length(headers, self._max_frame)
                except FrameError as exc:
                    # The framing is lost: nothing after this can be trusted.
                    self._frame_error(str(exc))
                    self._closed(f"broken frame: {exc}")
                    return
                body = self.sock_file.read(length) if length else b""
                if len(body) < length:
                    self._closed("connection closed mid-frame")
                    return
                self._dispatch(headers, body)
        except OSError as exc:
            self._closed(f"read failed: {exc}")
        except Exception as exc:
            log.exception("event socket reader failed node=%s", self.node.name)
            self._closed(f"reader failed: {type(exc).__name__}")
        finally:
            self._closed("reader stopped")
            with contextlib.suppress(OSError):
                self.sock_file.close()

    def _read_header_block(self) -> bytes | None:
        lines: list[bytes] = []
        while True:
            line = self.sock_file.readline(65536)
            if not line or not line.endswith(b"\n"):
                return None
            if line in (b"\n", b"\r\n"):
                if lines:
                    return b"".join(lines)
                continue  # stray blank line between frames
            lines.append(line)

    def _dispatch(self, headers: dict[str, str], body: bytes) -> None:
        content_type = headers.get("Content-Type", "")
        if content_type == "auth/request":
            self._auth_request_event.set()
        elif content_type in ("command/reply", "api/response"):
            text = (
                headers.get("Reply-Text", "")
                if content_type == "command/reply"
                else body.decode("utf-8", "replace")
            )
            if self._commands_sent:
                self._commands_sent.pop(0).set(Reply(content_type, text))
            else:
                self._frame_error(f"{content_type} with no command waiting")
        elif content_type in ("text/event-json", "text/event-plain"):
            if self._on_event is not None:
                self._on_event(content_type, body)
        elif content_type in ("text/disconnect-notice", "text/rude-rejection") and (
            headers.get("Content-Disposition") != "linger"
        ):
            self._closed(f"{content_type}: {body.decode('utf-8', 'replace').strip()[:80]}")
        # Anything else (log/data...) is not ours: ignored.

    def _frame_error(self, reason: str) -> None:
        if self._on_frame_error is not None:
            self._on_frame_error(reason)

    def _closed(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.connected = False
        self._run = False
        pending, self._commands_sent = self._commands_sent, []
        for result in pending:
            result.set_exception(NotConnectedError(reason))
        self._auth_request_event.set()  # wake a connect() still waiting
        # shutdown() wakes the reader with EOF; the reader closes its makefile() file
        # itself (closing it here, under a blocked read, is a reentrant call).
        with contextlib.suppress(OSError, AttributeError):
            self.sock.shutdown(gevent.socket.SHUT_RDWR)
        with contextlib.suppress(OSError, AttributeError):
            self.sock.close()
        self.closed.set()


class _Follower:
    """One node followed: connect, subscribe, snapshot, watch, reconnect. Hub thread only."""

    def __init__(self, listener: Listener, node: FreeSwitchNode, epoch: int) -> None:
        self.listener = listener
        self.node = node
        self.epoch = epoch  # which follow() this is: its changes count only while it is current
        self.config = listener.config
        self.connection: EslConnection | None = None
        self.greenlet: gevent.Greenlet | None = None
        self._buffer: list[Change] | None = None  # events held while the snapshot loads
        self._episode = ""  # the error last logged; logged again only when it changes
        self._clock_off = False  # the node's clock was last seen off by over clock_skew_limit

    def emit(self, change: Change) -> None:
        self.listener.emit(change, self.epoch)

    def run(self) -> None:
        attempt = 0
        while True:
            while self.listener.fenced():
                gevent.sleep(_FENCE_CHECK)  # no connection while the locks are unconfirmed
            self.emit(NodeChanged(self.node.name, NodeState.CONNECTING, time.time()))
            try:
                error = self._session()
            except Exception as exc:  # a bug must not end following this node
                log.exception("event socket session failed node=%s", self.node.name)
                error = f"internal error: {type(exc).__name__}"
            self.emit(NodeChanged(self.node.name, NodeState.DOWN, time.time(), error))
            if error != self._episode:
                log.warning("node down node=%s reason=%s", self.node.name, error)
                self._episode = error
            if self.listener.metrics is not None:
                self.listener.metrics.esl_reconnects.labels(self.node.name).inc()
            # Back to the first delay only after the node stayed up a while: a node that
            # fails right after its snapshot keeps backing off.
            conn = self.connection
            healthy = (
                conn is not None
                and conn.up_at is not None
                and time.monotonic() - conn.up_at >= self.config.reconnect_healthy_after
            )
            attempt = 0 if healthy else attempt + 1
            delay = min(self.config.reconnect_max, self.config.reconnect_initial * 2 ** min(attempt, 16))
            gevent.sleep(delay * random.uniform(0.5, 1.0))

    def _session(self) -> str:
        name = self.node.name
        conn = EslConnection(
            self.node,
            timeout=self.config.command_timeout,
            on_event=self._on_event,
            on_frame_error=self._on_frame_error,
            max_frame=self.config.max_frame_bytes,
        )
        self.connection = conn
        metrics = self.listener.metrics
        try:
            conn.connect()
            self._buffer = []
            reply = conn.command(events.SUBSCRIPTION)
            if not reply.text.startswith("+OK"):
                return f"subscription refused: {reply.text[:60]}"
            self.emit(NodeChanged(name, NodeState.SYNCING, time.time()))
            try:
                snapshot = events.parse_snapshot(name, conn.api(events.SNAPSHOT_COMMAND[len("api ") :]))
            except FrameError as exc:
                if metrics is not None:
                    metrics.esl_snapshots.labels(name, "error").inc()
                return f"snapshot unreadable: {exc}"
            if metrics is not None:
                metrics.esl_snapshots.labels(name, "ok").inc()
            # Events that arrived while the snapshot loaded are newer than it (the core
            # table lags sofia by seconds): they are applied on top, in order.
            held, self._buffer = self._buffer, None
            snapshot = Snapshot(name, self._checked_all(self._on_our_clock(snapshot.registrations)))
            self.emit(snapshot)
            self.emit(NodeChanged(name, NodeState.UP, time.time()))
            for change in held:
                self.emit(change)
            conn.was_up = True
            conn.up_at = time.monotonic()
            log.info("node up node=%s registrations=%d", name, len(snapshot.registrations))
            self._episode = ""
            return self._watch(conn)
        except (EslError, OSError, gevent.Timeout) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self._buffer = None
            conn.stop()

    def _watch(self, conn: EslConnection) -> str:
        timeout = self.config.heartbeat_timeout
        reconcile_at: float | None = time.monotonic() + self.config.reconcile_delay
        tick = min(timeout / 4, 1.0, max(self.config.reconcile_delay, 0.01))
        while not conn.closed.wait(timeout=tick):
            now = time.monotonic()
            silent = now - conn.last_frame
            if silent > timeout:
                conn._closed(f"no HEARTBEAT for {silent:.1f}s")
            elif reconcile_at is not None and now >= reconcile_at:
                self._reconcile(conn)
                interval = self.config.reconcile_interval
                reconcile_at = time.monotonic() + interval if interval > 0 else None
                tick = min(timeout / 4, 1.0, interval) if interval > 0 else min(timeout / 4, 1.0)
        return conn.close_reason

    def _reconcile(self, conn: EslConnection) -> None:
        """Read sofia's own listing of every profile and hand it over as one Reconcile.

        Events are held from the first command until the listing is handed over and then
        applied on top, as for the snapshot: an event that reached us before the reply
        was fired before the listing was read (mod_event_socket runs ``api`` in the
        connection's own thread), so the listing already shows its effect.
        """
        name = self.node.name
        metrics = self.listener.metrics
        self._buffer = []
        outcome: Reconcile | None = None
        try:
            profiles = listing.parse_profiles(conn.api(listing.PROFILES_COMMAND))
            found = []
            for profile in profiles:
                body = conn.api(listing.registrations_command(profile))
                found.extend(listing.parse_registrations(name, profile, body, now=time.time()))
            outcome = Reconcile(name, self._checked_all(found))
        except (FrameError, EslError) as exc:
            log.warning("reconcile failed node=%s reason=%s", name, exc)
        held, self._buffer = self._buffer, None
        if metrics is not None:
            metrics.registration_reconciles.labels(name, "error" if outcome is None else "ok").inc()
        if outcome is not None:
            self.emit(outcome)
        for change in held:
            self.emit(change)

    def _on_event(self, content_type: str, body: bytes) -> None:
        name = self.node.name
        metrics = self.listener.metrics
        try:
            headers = events.parse_event_body(content_type, body)
            now = time.time()
            self._clock(events.clock_skew(headers, now))
            change = events.to_change(name, headers, now=now, late_margin=self.config.expires_late_margin)
        except FrameError as exc:
            self._on_frame_error(str(exc))
            return
        if change is None:
            return
        if isinstance(change, Registered):
            registration = self._checked(change.registration)
            if registration is None:
                return
            change = Registered(name, registration)
        if metrics is not None:
            if isinstance(change, Registered):
                metrics.registration_events.labels(name, "register").inc()
            elif isinstance(change, Unregistered):
                metrics.registration_events.labels(name, change.kind).inc()
            elif isinstance(change, Observed):
                metrics.registration_events.labels(name, change.kind).inc()
                if change.failed:
                    metrics.registration_failures.labels(name).inc()
        if self._buffer is not None:
            self._buffer.append(change)
        else:
            self.emit(change)

    def _clock(self, skew: float | None) -> None:
        """Note the node's clock error; report it (metric, one log line per episode) when
        it exceeds ``clock_skew_limit``. The hub thread only writes the float."""
        if skew is None:
            return
        name = self.node.name
        self.listener.clock_skews[name] = skew
        if self.listener.metrics is not None:
            self.listener.metrics.node_clock_skew.labels(name).set(skew)
        off = abs(skew) > self.config.clock_skew_limit
        if off and not self._clock_off:
            log.warning(
                "node clock off node=%s skew_seconds=%.1f (Event-Date against bridge's clock;"
                " expiries are kept on bridge's clock)", name, skew,
            )
        elif self._clock_off and not off:
            log.info("node clock back in step node=%s skew_seconds=%.1f", name, skew)
        self._clock_off = off

    def _on_our_clock(self, registrations: Iterable[Registration]) -> Iterable[Registration]:
        """The snapshot's absolute expiries (the node's clock) moved onto bridge's clock by the
        node's last measured skew; none measured yet (no event since start): taken as they
        are, and the reconcile (sofia's seconds left, on our clock) puts them right."""
        skew = self.listener.clock_skews.get(self.node.name)
        if skew is None or abs(skew) < 1:
            return registrations
        shift = round(skew)
        return [
            dataclasses.replace(r, expires=str(int(r.expires) - shift)) if r.expires.isdigit() else r
            for r in registrations
        ]

    def _checked(self, registration: Registration) -> Registration | None:
        """The binding clamped to the limits, or None (counted, logged once per reason)."""
        try:
            return sanitize.checked(registration, now=time.time(), limits=self.listener.limits)
        except sanitize.Refused as exc:
            if self.listener.metrics is not None:
                self.listener.metrics.registration_refused.labels(self.node.name, "invalid").inc()
            reason = f"binding refused: {exc}"
            if reason != self._episode:
                # The reason names the field only: the value is the client's to choose.
                log.warning("%s node=%s", reason, self.node.name)
                self._episode = reason
            return None

    def _checked_all(self, registrations: Iterable[Registration]) -> tuple[Registration, ...]:
        return tuple(r for r in map(self._checked, registrations) if r is not None)

    def _on_frame_error(self, reason: str) -> None:
        if self.listener.metrics is not None:
            self.listener.metrics.esl_frame_errors.labels(self.node.name).inc()
        if reason != self._episode:
            log.warning("bad frame node=%s reason=%s", self.node.name, reason)
            self._episode = reason


class Listener:
    """The hub thread and its followers. Every public method is called from asyncio."""

    def __init__(
        self,
        config: FreeSwitchConfig,
        sink: Sink,
        loop: asyncio.AbstractEventLoop,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self._sink = sink
        self._loop = loop
        self._nodes = {node.name: node for node in config.nodes}
        self.limits = sanitize.Limits(max_expires=config.max_expires, max_field=config.max_binding_field)
        self._followers: dict[str, _Follower] = {}
        # Followers unfollowed whose connection may still be open (hub thread only).
        self._stopping: dict[str, list[gevent.Greenlet]] = {}
        # Each node's clock minus ours, seconds, as its last event showed (hub thread writes).
        self.clock_skews: dict[str, float] = {}
        self._pending: list[tuple[int | None, Change]] = []
        # asyncio side: node -> the epoch of its current follow(). A change reaches the sink
        # only if its follower is still the current one: a follower unfollowed (its node lost
        # or given up) may have queued changes that land after unfollow() (an UP after the
        # store's STANDBY, a Snapshot over the mirror's); they are dropped here, on the
        # asyncio thread, in order with follow() and unfollow().
        self._epochs: dict[str, int] = {}
        # Batches handed over and not yet applied (asyncio side, see _deliver).
        self._queued: collections.deque[list[tuple[int | None, Change]]] = collections.deque()
        self._last_epoch = 0
        # Monotonic time the node locks are confirmed until (asyncio writes, the hub reads):
        # past it the hub closes every connection itself, even while the asyncio loop is
        # too busy to learn that its locks are lost (see confirm()).
        self._fence = math.inf
        self._fence_logged = False
        self._thread = threading.Thread(target=self._run, name="esl-hub", daemon=True)
        self._ready = threading.Event()
        self._hub: Any = None
        self._stop: gevent.event.Event | None = None

    # -- lifetime (asyncio side) --------------------------------------------------

    async def start(self) -> None:
        self._thread.start()
        if not await asyncio.to_thread(self._ready.wait, 10.0):
            raise RuntimeError("event socket hub thread did not start")

    async def stop(self) -> None:
        """Close every connection and JOIN the hub thread (a hub left running aborts
        the interpreter at exit)."""
        if self._thread.is_alive() and self._stop is not None:
            self._call(self._stop.set)
            await asyncio.to_thread(self._thread.join, 10.0)
            if self._thread.is_alive():
                log.error("event socket hub thread did not stop in 10 s")

    def follow(self, name: str) -> None:
        if name in self._epochs:
            return  # followed already: its follower stays the current one
        self._last_epoch += 1
        self._call(self._follow, name, self._last_epoch)
        self._epochs[name] = self._last_epoch

    def unfollow(self, name: str) -> None:
        """Stop following now: nothing the node's follower emitted reaches the sink after
        this returns, even if it was already on its way; its connection closes shortly."""
        self._epochs.pop(name, None)
        self._call(self._unfollow, name)

    def confirm(self, until: float) -> None:
        """The node locks are confirmed until ``until`` (time.monotonic()). Past it, and
        until confirmed again, the hub holds no connection to any node: it closes them and
        its followers wait. The lock deadline is then enforced in the hub's thread, not
        only when the asyncio loop next polls (a loop blocked for seconds by a big mirror
        read or a loaded machine would otherwise keep following after another instance
        took over)."""
        self._fence = until

    def fenced(self) -> bool:
        return time.monotonic() >= self._fence

    async def unfollowed(self, name: str) -> None:
        """Return once every connection of the node's unfollowed followers is closed (a
        hand-over frees the node's lock only then: the taker connects right after)."""
        future: asyncio.Future[str] = self._loop.create_future()
        self._call(self._when_stopped, name, future)
        await future

    def node_names(self) -> list[str]:
        return list(self._nodes)

    async def broadcast_api(self, command: str) -> dict[str, str | Exception]:
        names = list(self._nodes)
        results = await asyncio.gather(*(self.api(n, command) for n in names), return_exceptions=True)
        return {
            name: result if isinstance(result, str | Exception) else NodeUnavailable(str(result))
            for name, result in zip(names, results, strict=True)
        }

    async def api(self, name: str, command: str) -> str:
        if name not in self._nodes:
            raise NodeUnavailable(f"unknown node {name!r}")
        future: asyncio.Future[str] = self._loop.create_future()
        self._call(self._command, name, command, future)
        try:
            async with asyncio.timeout(self.config.command_timeout * 2 + 1):
                return await future
        except TimeoutError:
            raise CommandTimeout(f"node={name} no reply within {self.config.command_timeout}s") from None

    # -- hand-offs ----------------------------------------------------------------

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        if self._hub is None or not self._thread.is_alive():
            raise NodeUnavailable("event socket listener is not running")
        self._hub.loop.run_callback_threadsafe(function, *args)

    def emit(self, change: Change, epoch: int | None = None) -> None:
        """Queue a change for asyncio; the queue is handed over when this burst ends.
        ``epoch``: the follower's, which must still be current at delivery (None: always)."""
        self._pending.append((epoch, change))
        if isinstance(change, Snapshot | Reconcile) or len(self._pending) >= _BATCH_MAX:
            # A node's whole set (10,000 bindings: ~0.2 s to apply on a loaded machine) is
            # handed over in a batch that ends with it: the loop runs the lock task between
            # two nodes' snapshots, instead of applying many in one callback (measured at
            # 500,000 bindings: one instance taking 50 nodes missed lock_timeout).
            self._flush()
        elif len(self._pending) == 1:
            self._hub.loop.run_callback(self._flush)

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            # RuntimeError: the asyncio loop is closed, we are shutting down.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._deliver, batch)

    def _deliver(self, batch: list[tuple[int | None, Change]]) -> None:
        """Queue a batch for the loop. Batches that arrive together would run in one loop
        iteration, before the loop looks at its sockets again; ``_apply_queued`` applies
        one batch and schedules the next for the following iteration, so a node lock's
        reply is read between two nodes' snapshots (at 500,000 bindings 17 queued
        snapshots held the loop for seconds)."""
        self._queued.append(batch)
        if len(self._queued) == 1:
            self._loop.call_soon(self._apply_queued)

    def apply_queued(self) -> None:
        """Apply every batch handed over and not applied yet (shutdown: before the last write)."""
        while self._queued:
            self._apply_queued()

    def _apply_queued(self) -> None:
        if not self._queued:
            return  # applied by apply_queued() meanwhile
        batch = self._queued.popleft()
        if self._queued:
            self._loop.call_soon(self._apply_queued)
        epochs = self._epochs
        changes = [c for epoch, c in batch if epoch is None or epochs.get(c.node) == epoch]
        if changes:
            self._sink(changes)

    # -- hub thread ---------------------------------------------------------------

    def _run(self) -> None:
        self._hub = gevent.get_hub()
        self._stop = gevent.event.Event()
        self._ready.set()
        try:
            # A wait with a timeout keeps a timer armed: with nothing else active, gevent
            # would otherwise raise LoopExit before the first follow() arrives.
            while not self._stop.wait(timeout=_FENCE_CHECK):
                self._check_fence()
            for follower in list(self._followers.values()):
                self._stop_follower(follower)
            self._flush()
        finally:
            self._hub.destroy(destroy_loop=True)

    def _check_fence(self) -> None:
        if not self.fenced():
            self._fence_logged = False
            return
        open_ = [f for f in self._followers.values() if f.connection is not None and f.connection.connected]
        if open_ and not self._fence_logged:
            log.warning(
                "node locks unconfirmed past lock_timeout: closing every Event Socket connection"
                " nodes=%s", ",".join(sorted(f.node.name for f in open_)),
            )
            self._fence_logged = True
        for follower in open_:
            assert follower.connection is not None
            follower.connection._closed("node locks unconfirmed past lock_timeout")

    def _follow(self, name: str, epoch: int) -> None:
        if name in self._followers or name not in self._nodes:
            return
        follower = _Follower(self, self._nodes[name], epoch)
        follower.greenlet = gevent.spawn(follower.run)
        self._followers[name] = follower

    def _unfollow(self, name: str) -> None:
        follower = self._followers.pop(name, None)
        if follower is not None:
            # A loop callback may not block: the kill (which waits) runs in a greenlet.
            stopping = self._stopping.setdefault(name, [])
            stopping.append(gevent.spawn(self._stop_follower, follower))
            stopping[-1].link(stopping.remove)  # closed: nothing to wait for

    def _when_stopped(self, name: str, future: asyncio.Future[str]) -> None:
        def wait() -> None:
            gevent.joinall(list(self._stopping.get(name, ())))
            with contextlib.suppress(RuntimeError):  # the asyncio loop is closed
                self._loop.call_soon_threadsafe(_settle, future, "")

        gevent.spawn(wait)

    def _stop_follower(self, follower: _Follower) -> None:
        if follower.connection is not None:
            # No goodbye (``exit``, up to a second unanswered on a busy node): an unfollowed
            # node may be taken over as soon as this returns (Listener.unfollowed).
            follower.connection.goodbye = False
        if follower.greenlet is not None:
            follower.greenlet.kill(block=True, timeout=2)
        if follower.connection is not None:
            follower.connection._closed("stopped")
            if follower.connection._receive_events_greenlet is not None:
                follower.connection._receive_events_greenlet.kill(block=True, timeout=1)

    def _command(self, name: str, command: str, future: asyncio.Future[str]) -> None:
        gevent.spawn(self._run_command, name, command, future)

    def _run_command(self, name: str, command: str, future: asyncio.Future[str]) -> None:
        outcome: str | BaseException
        try:
            follower = self._followers.get(name)
            conn = follower.connection if follower is not None else None
            if conn is not None and conn.connected and conn.was_up:
                outcome = conn.api(command)
            else:
                outcome = self._one_shot(self._nodes[name], command)
        except (EslError, OSError, gevent.Timeout) as exc:
            outcome = exc if isinstance(exc, EslError) else NodeUnavailable(f"node={name} {exc}")
        self._loop.call_soon_threadsafe(_settle, future, outcome)

    def _one_shot(self, node: FreeSwitchNode, command: str) -> str:
        conn = EslConnection(node, timeout=self.config.command_timeout, max_frame=self.config.max_frame_bytes)
        try:
            conn.connect()
            return conn.api(command)
        finally:
            conn.stop()
            if conn._receive_events_greenlet is not None:
                conn._receive_events_greenlet.kill(block=False)


def _settle(future: asyncio.Future[str], outcome: str | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
