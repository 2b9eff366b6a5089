"""A fake FreeSWITCH Event Socket on 127.0.0.1 that replays captured frames.

It speaks the inbound protocol (auth/request, command/reply, api/response, text/event-*,
text/disconnect-notice, Content-Length framing) but every byte it writes is cut from the
captures in tests/fixtures/freeswitch (esl/ and api/): tests choose and re-sequence
real frames, they never type FreeSWITCH output by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "freeswitch"


def capture(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


def split_frames(raw: bytes) -> list[bytes]:
    """Cut a capture into whole frames: a header block, a blank line, Content-Length bytes."""
    frames = []
    at = 0
    while at < len(raw):
        end = raw.find(b"\n\n", at)
        if end == -1:
            break
        block = raw[at : end + 2]
        length = 0
        for line in block.split(b"\n"):
            if line.startswith(b"Content-Length: "):
                length = int(line.split(b": ", 1)[1])
        frames.append(raw[at : end + 2 + length])
        at = end + 2 + length
    return frames


def frame_body(frame: bytes) -> bytes:
    return frame.split(b"\n\n", 1)[1]


def event_frames(name: str, subclass: str | None = None) -> list[bytes]:
    """The text/event-* frames of one esl/ capture, optionally only one sofia subclass."""
    frames = [f for f in split_frames(capture("esl", name)) if b"Content-Type: text/event-" in f]
    if subclass is None:
        return frames
    as_json = b'"Event-Subclass":"' + subclass.encode() + b'"'
    as_plain = b"Event-Subclass: " + subclass.replace("::", "%3A%3A").encode() + b"\n"
    return [f for f in frames if as_json in f or as_plain in f]


def _reply(name: str, text: bytes) -> bytes:
    return next(f for f in split_frames(capture("esl", name)) if b"Reply-Text: " + text in f)


GREETING = split_frames(capture("esl", "register_1001.json.raw"))[0]
AUTH_OK = _reply("register_1001.json.raw", b"+OK accepted")
AUTH_REFUSED = _reply("auth_failure_wrong_password.raw", b"-ERR invalid")
SUBSCRIBED_JSON = _reply("register_1001.json.raw", b"+OK event listener enabled json")
BYE = _reply("register_1001.json.raw", b"+OK bye")
DISCONNECT = split_frames(capture("esl", "register_1001.json.raw"))[-1]
API_VERSION = next(
    f for f in split_frames(capture("esl", "auth_ok_api_version_then_exit.raw")) if b"api/response" in f
)
SNAPSHOT_LIVE = capture("api", "registrations_live", "show_registrations_as_json.raw")
SNAPSHOT_NONE = capture("api", "registrations_none", "show_registrations_as_json.raw")
SOFIA_PROFILES = capture("api", "registrations_live", "sofia_xmlstatus.raw")
LISTING_LIVE = capture("api", "registrations_live", "sofia_xmlstatus_profile_internal_reg.raw")
LISTING_NONE = capture("api", "registrations_none", "sofia_xmlstatus_profile_internal_reg.raw")


@dataclass
class FakeEslServer:
    """Replays frames. Tests steer it through the attributes and ``push`` / ``drop``."""

    password: str = "ClueCon"
    snapshot: bytes = SNAPSHOT_NONE
    # sofia's own table (``sofia xmlstatus profile internal reg``), read by the reconcile.
    listing: bytes = LISTING_NONE
    # Frames written just before the listing reply: events racing the reconcile.
    before_listing: list[bytes] = field(default_factory=list)
    # Frames written just before the snapshot reply: events racing the snapshot.
    before_snapshot: list[bytes] = field(default_factory=list)
    # Accept TCP and never say a word.
    silent: bool = False
    # Say nothing more after the snapshot (no events, no HEARTBEAT, no replies).
    mute_after_snapshot: bool = False
    # Close the connection right after the snapshot (a node failing as soon as it is up).
    drop_after_snapshot: bool = False
    commands: list[str] = field(default_factory=list)
    connections: int = 0
    api_replies: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._ready: list[asyncio.StreamWriter] = []  # subscribed and past the snapshot
        self._changed = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def live(self) -> int:
        """Connections open now (every follower and one-shot command connection)."""
        return len(self._writers)

    def url(self, name: str) -> str:
        return f"esl://{name}:{self.password}@127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FakeEslServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return self

    async def close(self) -> None:
        await self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop(self) -> None:
        """Close every connection abruptly (a node crash)."""
        for writer in list(self._writers):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        self._writers.clear()
        self._ready.clear()

    async def push(self, *frames: bytes) -> None:
        """Write frames to every subscribed connection."""
        for writer in list(self._ready):
            for frame in frames:
                writer.write(frame)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def push_raw(self, data: bytes) -> None:
        for writer in list(self._ready):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def wait_subscribed(self, count: int = 1, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self._ready) < count:
                self._changed.clear()
                await self._changed.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        self._changed.set()
        try:
            if self.silent:
                await reader.read()
                return
            writer.write(GREETING)
            while True:
                try:
                    block = await reader.readuntil(b"\n\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                command = block.decode().strip()
                self.commands.append(command)
                if not await self._answer(command, reader, writer):
                    return
        finally:
            if writer in self._ready:
                self._ready.remove(writer)
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
            self._changed.set()

    async def _answer(
        self, command: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if command.startswith("auth "):
            if command[len("auth ") :] != self.password:
                writer.write(AUTH_REFUSED + DISCONNECT)
                await writer.drain()
                return False
            writer.write(AUTH_OK)
        elif command.startswith("event "):
            writer.write(SUBSCRIBED_JSON)
        elif command == "api show registrations as json":
            for frame in self.before_snapshot:
                writer.write(frame)
            writer.write(self.snapshot)
            if self.drop_after_snapshot:
                await writer.drain()
                return False
            if self.mute_after_snapshot:
                await writer.drain()
                await reader.read()  # hold the socket open and say nothing until it closes
                return False
            self._ready.append(writer)
            self._changed.set()
        elif command == "api sofia xmlstatus" and "sofia xmlstatus" not in self.api_replies:
            writer.write(SOFIA_PROFILES)
        elif command == "api sofia xmlstatus profile internal reg":
            for frame in self.before_listing:
                writer.write(frame)
            writer.write(self.listing)
        elif command.startswith("api "):
            writer.write(self.api_replies.get(command[len("api ") :], API_VERSION))
        elif command == "exit":
            writer.write(BYE + DISCONNECT)
            await writer.drain()
            return False
        await writer.drain()
        return True
