"""The event stream's fan-out: numbered messages, a ring for resuming, a bounded queue per client (pure).

    publish(type, payload, domain) -> one SSE frame, numbered, kept in the ring
                                   -> every client whose scope sees it (never waits);
                                      encoded once, when the first client takes it
    join(scope, last_event_id)     -> a Client with the missed frames queued, or a "reload"

A client whose queue is full is cut: its handler ends the response and the browser
reconnects with Last-Event-ID. Publishing never waits on a client, so a slow one costs
bridge at most ``queue_size`` frames of memory.

Event ids are ``EPOCH-SEQ``: EPOCH is chosen at start-up, so an id from another process
(a restart, another worker) is recognised as unknown and answered with "reload".
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

# A message's fields, or what makes them when the message is first encoded.
Payload = dict[str, object] | Callable[[], dict[str, object]]


class Frame:
    """One numbered message. Its SSE bytes are made on first need (a client offered it, at
    publish or when resuming from the ring) and kept: a message nobody reads is never encoded
    (the guard publishes one per sip_auth lookup, ~8 µs each to encode, console open or not).
    The payload (or what it is made from) must not change once published."""

    __slots__ = ("_data", "_id", "_kind", "_payload", "domain", "seq")

    def __init__(self, seq: int, domain: str | None, seq_id: str, kind: str, payload: Payload) -> None:
        self.seq = seq
        self.domain = domain  # lower-case; None: every administrator sees it
        self._id = seq_id
        self._kind = kind
        self._payload: Payload | None = payload
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        """The whole SSE frame."""
        if self._data is None:
            payload = self._payload
            assert payload is not None
            self._data = encode(self._id, self._kind, payload() if callable(payload) else payload)
            self._payload = None
        return self._data


def visible(domain: str | None, scope: str | None) -> bool:
    return domain is None or scope is None or domain == scope


@dataclass(eq=False)
class Client:
    """One connected stream: what it may see (``scope``: a domain, None for all) and its queue."""

    scope: str | None
    limit: int
    frames: deque[bytes] = field(default_factory=deque)
    cut: bool = False
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Drops the connection at once when the client is cut (its handler may be blocked
    # writing to a client that does not read).
    abort: Callable[[], None] | None = None
    began: str = "new"  # "new", "resumed" (Last-Event-ID within the ring) or "reload"

    def offer(self, frame: Frame) -> bool:
        """Queue ``frame`` if the client may see it; False when its queue is full."""
        if not visible(frame.domain, self.scope):
            return True
        if len(self.frames) >= self.limit:
            return False
        self.frames.append(frame.data)
        self.wake.set()
        return True

    def end(self, *, cut: bool) -> None:
        self.cut = self.cut or cut
        self.closed = True
        self.wake.set()
        if cut and self.abort is not None:
            self.abort()

    async def take(self) -> list[bytes]:
        """Every frame waiting (at least one), or [] once the client is ended."""
        while not self.frames and not self.closed:
            self.wake.clear()
            await self.wake.wait()
        if self.closed:
            return []
        taken = list(self.frames)
        self.frames.clear()
        return taken


def encode(seq_id: str, kind: str, payload: dict[str, object]) -> bytes:
    """One SSE frame: the JSON has no newline (orjson), so one data line carries it."""
    data = orjson.dumps({"type": kind, **payload})
    return b"id: " + seq_id.encode() + b"\nevent: " + kind.encode() + b"\ndata: " + data + b"\n\n"


class Hub:
    def __init__(
        self,
        *,
        ring_size: int,
        queue_size: int,
        max_clients: int,
        on_cut: Callable[[], None] = lambda: None,
        epoch: str | None = None,
    ) -> None:
        self.epoch = epoch or uuid.uuid4().hex[:8]
        self.queue_size = max(1, queue_size)
        self.max_clients = max_clients
        self._on_cut = on_cut
        self._ring: deque[Frame] = deque(maxlen=max(1, ring_size))
        self._seq = 0
        self._clients: set[Client] = set()

    @property
    def seq(self) -> int:
        return self._seq

    def clients(self) -> int:
        return len(self._clients)

    def last_id(self) -> str:
        return f"{self.epoch}-{self._seq}"

    def publish(self, kind: str, payload: Payload, domain: str | None = None) -> Frame:
        self._seq += 1
        frame = Frame(self._seq, domain, f"{self.epoch}-{self._seq}", kind, payload)
        self._ring.append(frame)
        for client in list(self._clients):
            if not client.offer(frame):
                self._cut(client)
        return frame

    def _cut(self, client: Client) -> None:
        self._clients.discard(client)
        client.end(cut=True)
        self._on_cut()

    def full(self) -> bool:
        return len(self._clients) >= self.max_clients

    def join(self, scope: str | None, last_event_id: str | None) -> Client:
        """A client queued with what it missed since ``last_event_id``, or with one "reload"
        frame when that cannot be told (an id of another process, or older than the ring)."""
        client = Client(scope, self.queue_size, began="new" if last_event_id is None else "resumed")
        missed = self._since(last_event_id)
        for frame in missed or ():
            if not client.offer(frame):
                missed = None  # more than a queue's worth: cheaper to read everything again
                break
        if missed is None:
            client.frames.clear()
            client.frames.append(encode(self.last_id(), "reload", {"reason": "missed"}))
            client.began = "reload"
        self._clients.add(client)
        return client

    def _since(self, last_event_id: str | None) -> list[Frame] | None:
        if last_event_id is None:
            return []
        epoch, _, number = last_event_id.partition("-")
        if epoch != self.epoch or not number.isdigit() or int(number) > self._seq:
            return None
        seq = int(number)
        if seq == self._seq:
            return []
        oldest = self._ring[0].seq if self._ring else self._seq + 1
        if seq < oldest - 1:
            return None  # frames between it and the ring were dropped from the ring
        return [frame for frame in self._ring if frame.seq > seq]

    def leave(self, client: Client) -> None:
        self._clients.discard(client)
        client.end(cut=False)

    def close(self) -> None:
        """End every stream (shutdown): each handler returns and its response ends."""
        for client in list(self._clients):
            self.leave(client)
