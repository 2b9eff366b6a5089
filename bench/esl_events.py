"""Registration events through the real listener path, against a bare parse loop.

    .venv/bin/python bench/esl_events.py [--events 100000] [--bindings 20000]

A fake Event Socket (tests/fakes/esl_server.py) streams captured sofia::register and
sofia::unregister frames, spliced to distinct users and Call-IDs, to the real Listener
(greenswitch connection in its hub thread, events.py, batch hand-off) and RegistrationState
on the asyncio loop. Prints events/s applied, the same bytes through a bare
frame-split + json.loads loop in the same run, their ratio, and memory per registration.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.config import FreeSwitchConfig, FreeSwitchNode
from bridge.registrations import events
from bridge.registrations.listener import Listener
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import FakeEslServer, event_frames, frame_body
from tests.registrations.frames import respliced

REGISTER = event_frames("register_1001.json.raw", "sofia::register")[0]
UNREGISTER = event_frames("unregister_1001.json.raw", "sofia::unregister")[0]


def spliced(frame: bytes, i: int) -> bytes:
    frame = respliced(frame, b'"6529c594651edf87"', b'"%016x"' % (0x6529C594651EDF87 + i))
    for key in (b'"from-user":"1001"', b'"to-user":"1001"'):
        if key in frame:
            frame = respliced(frame, key, key.replace(b"1001", b"%d" % (100000 + i)))
    return frame


def stream(count: int, bindings: int) -> list[bytes]:
    registers = [spliced(REGISTER, i) for i in range(bindings)]
    unregisters = [spliced(UNREGISTER, i) for i in range(bindings)]
    out: list[bytes] = []
    while len(out) < count:
        out.extend(registers)
        out.extend(unregisters)
    return out[:count]


def bare_parse(frames: list[bytes]) -> float:
    data = b"".join(frames)
    start = time.perf_counter()
    at = 0
    n = 0
    while at < len(data):
        end = data.index(b"\n\n", at)
        length = int(data[at:end].split(b"Content-Length: ", 1)[1].split(b"\n", 1)[0])
        json.loads(data[end + 2 : end + 2 + length])
        at = end + 2 + length
        n += 1
    return n / (time.perf_counter() - start)


async def through_listener(frames: list[bytes]) -> float:
    fake = await FakeEslServer().start()
    node = FreeSwitchNode.from_url(fake.url("bench"))
    config = FreeSwitchConfig(nodes=(node,), heartbeat_timeout=600, command_timeout=5)
    state = RegistrationState(["bench"], clock=lambda: 0.0)
    applied = 0
    done = asyncio.Event()

    def sink(batch: list[events.Change]) -> None:
        nonlocal applied
        for change in batch:
            state.apply(change)
            if isinstance(change, events.Registered | events.Unregistered):
                applied += 1
        if applied >= len(frames):
            done.set()

    listener = Listener(config, sink, asyncio.get_running_loop())
    await listener.start()
    listener.follow("bench")
    await fake.wait_subscribed()
    payload = b"".join(frames)
    start = time.perf_counter()
    await fake.push_raw(payload)
    await asyncio.wait_for(done.wait(), 300)
    rate = len(frames) / (time.perf_counter() - start)
    await listener.stop()
    await fake.close()
    return rate


def memory_per_registration(bindings: int) -> float:
    bodies = [frame_body(spliced(REGISTER, i)) for i in range(bindings)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    state = RegistrationState(["bench"], clock=lambda: 0.0)
    for body in bodies:
        change = events.to_change("bench", events.parse_json_body(body), now=0.0)
        assert change is not None
        state.apply(change)
    gc.collect()
    after = tracemalloc.take_snapshot()  # what is still allocated is what the state holds
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(state.bindings_of_node("bench")) == bindings
    return size / bindings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--bindings", type=int, default=20_000)
    args = parser.parse_args()
    frames = stream(args.events, args.bindings)
    bare = bare_parse(frames)
    real = asyncio.run(through_listener(frames))
    per = memory_per_registration(args.bindings)
    print(f"events:                     {len(frames)} ({args.bindings} distinct bindings)")
    print(f"listener path, applied:     {real:,.0f} events/s")
    print(f"bare parse loop, same bytes:{bare:,.0f} events/s")
    print(f"ratio listener / bare:      {real / bare:.2f}")
    print(f"memory per registration:    {per:,.0f} bytes (state + index, tracemalloc)")


if __name__ == "__main__":
    main()
