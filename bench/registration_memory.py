"""Memory per registration with real-shaped bindings (issue 13), state and write-behind.

    .venv/bin/python bench/registration_memory.py [--bindings 100000]

The captured sofia::register JSON frame (register_1001.json.raw) is spliced per binding
the way real phones differ: its own user, Call-ID, contact (user and port), source
address and port. Each body goes the real way (events.parse_json_body -> to_change ->
sanitize.checked -> RegistrationState.apply) with the write-behind queue persist.py keeps
until the next flush subscribed. Prints tracemalloc bytes per binding for the state
alone and with the pending writes, and the process RSS growth.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.registrations import events, sanitize
from bridge.registrations.persist import _Pending
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import event_frames, frame_body
from tests.registrations.frames import respliced

REGISTER = event_frames("register_1001.json.raw", "sofia::register")[0]


def real_shaped(i: int) -> bytes:
    """Another phone: user, Call-ID, contact, source address and port all its own."""
    user = b"%d" % (100000 + i)
    port = b"%d" % (1024 + i % 60000)
    ip = b"10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
    frame = respliced(REGISTER, b'"6529c594651edf87"', b'"%016x@%s"' % (0x6529C594651EDF87 + i, ip))
    for key in (b'"from-user":"1001"', b'"to-user":"1001"', b'"username":"1001"'):
        frame = respliced(frame, key, key.replace(b"1001", user))
    contact = user + b"-0x%012x@" % i + ip + b":" + port
    frame = respliced(frame, b"1001-0x558fdbe8d580@127.0.0.1:5071", contact)
    frame = respliced(frame, b'"network-ip":"127.0.0.1"', b'"network-ip":"' + ip + b'"')
    return respliced(frame, b'"network-port":"5071"', b'"network-port":"' + port + b'"')


def rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def measure(bodies: list[bytes], *, pending: bool, trace: bool) -> tuple[float, RegistrationState]:
    limits = sanitize.Limits()
    gc.collect()
    if trace:
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
    start_rss = rss()
    state = RegistrationState(["bench"], clock=time.time)
    queue = _Pending()
    if pending:
        state.subscribe(queue.add)
    now = time.time()
    for body in bodies:
        change = events.to_change("bench", events.parse_json_body(body), now=now)
        assert isinstance(change, events.Registered)
        state.apply(events.Registered("bench", sanitize.checked(change.registration, now=now, limits=limits)))
    gc.collect()
    if trace:
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    else:
        size = rss() - start_rss
    assert len(state.bindings_of_node("bench")) == len(bodies)
    assert not pending or len(queue.upserts) == len(bodies)
    return size / len(bodies), state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bindings", type=int, default=100_000)
    args = parser.parse_args()
    bodies = [frame_body(real_shaped(i)) for i in range(args.bindings)]
    state_only, _ = measure(bodies, pending=False, trace=True)
    with_pending, _ = measure(bodies, pending=True, trace=True)
    rss_per, _ = measure(bodies, pending=True, trace=False)
    print(f"bindings:                               {args.bindings:,} (real-shaped)")
    print(f"state + index (tracemalloc):            {state_only:,.0f} bytes per binding")
    print(f"state + index + pending writes:         {with_pending:,.0f} bytes per binding")
    print(f"process RSS growth, same (no tracing):  {rss_per:,.0f} bytes per binding")
    print(f"100,000 bindings, state + pending:      {with_pending * 100_000 / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
