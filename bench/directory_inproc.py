"""Per-lookup CPU cost of the directory path, in process (no HTTP, no database).

    .venv/bin/python bench/directory_inproc.py [--rounds 20000]

Times each stage of answering the captured ``register_1001.form`` for an extension held in
memory (what a warm cache hands the handler): form parsing, the decision, rendering, and
the handler's own ``answer`` step (decision + rendered-answer memo) on a memo hit.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.directory import lookup, render  # noqa: E402
from bridge.directory.answers import Answerer  # noqa: E402
from bridge.directory.extension import Extension  # noqa: E402
from bridge.directory.form import parse_form  # noqa: E402

FORM = ROOT / "tests/fixtures/freeswitch/xml_curl/register_1001.form"


def extension() -> Extension:
    row: defaultdict[str, Any] = defaultdict(lambda: None)
    row.update(id=1, extn="1001", domain="xswitch.test", name="1001", password="Test1234pw")
    return Extension.from_row(row)


class MemoryStore:
    """The warm cache as the handler sees it: the same object for the same key."""

    def __init__(self, e: Extension) -> None:
        self._e = e

    async def get(self, domain: str, extn: str) -> Extension | None:
        return self._e if (domain, extn) == (self._e.domain, self._e.extn) else None

    async def domain(self, domain: str) -> Sequence[Extension]:
        return [self._e]

    async def domains(self) -> Sequence[str]:
        return [self._e.domain]

    async def group_extension_ids(self, domain: str, group: str) -> frozenset[int]:
        return frozenset()


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    for _ in range(min(rounds, 1000)):
        fn()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, time.perf_counter() - started)
    return best / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20_000)
    n = parser.parse_args().rounds
    body = FORM.read_bytes()
    e = extension()
    form = parse_form(body)
    policy = lookup.Policy()
    answer = lookup.answer_user(form, e, policy)
    answerer = Answerer(policy, memo_size=1024)
    store = MemoryStore(e)
    loop = asyncio.new_event_loop()

    def via_answerer() -> object:
        coro = answerer.answer(store, form)
        try:
            coro.send(None)
        except StopIteration as done:  # the memory store never suspends
            return done.value
        raise RuntimeError("suspended")

    print(f"parse_form            {per_call_us(lambda: parse_form(body), n):7.2f} us")
    print(f"lookup.answer_user    {per_call_us(lambda: lookup.answer_user(form, e, policy), n):7.2f} us")
    print(f"render.render         {per_call_us(lambda: render.render(answer), n):7.2f} us")
    print(f"answerer (memo hit)   {per_call_us(via_answerer, n):7.2f} us")
    loop.close()


if __name__ == "__main__":
    main()
