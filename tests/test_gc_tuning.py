"""The collector tuning a serving process applies (bridge.gc_tuning), checked in a child process.

gc.freeze() and gc.callbacks are process-wide, so the checks run in a fresh interpreter
rather than in the test process.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import subprocess
import sys

import asyncpg
import pytest

from bridge import gc_tuning
from bridge.directory.answers import AnswerMemo, Rendered
from bridge.directory.form import parse_form
from bridge.directory.keys import DIRECTORY_STORE
from tests.conftest import AppClient
from tests.directory.helpers import form, post
from tests.factories import add_extension

CHILD = """
import gc, json
from prometheus_client import generate_latest
from bridge import gc_tuning
from bridge.metrics import Metrics

FULL = 'bridge_gc_pause_seconds_count{generation="2"}'
metrics = Metrics()
before = gc.get_threshold()
gc_tuning.settle()
gc_tuning.watch_pauses(metrics.gc_pause_seconds)
gc.collect()
exposition = generate_latest(metrics.registry).decode()
print(json.dumps({
    "before": before[0],
    "after": gc.get_threshold()[0],
    "frozen": gc.get_freeze_count(),
    "full": [l for l in exposition.splitlines() if l.startswith(FULL)],
}))
"""


def test_settle_freezes_the_start_up_heap_spaces_young_collections_and_pauses_are_observed() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result["before"] == 700  # CPython's default, so the change below is the tuning's
    assert result["after"] == 10_000
    assert result["frozen"] > 10_000  # the imported modules, at least
    assert result["full"] == ['bridge_gc_pause_seconds_count{generation="2"} 1.0']


@dataclasses.dataclass(frozen=True, slots=True)
class _Holder:
    items: list[str]


def test_untrack_takes_a_record_of_atoms_out_of_the_collector_and_refuses_anything_else() -> None:
    request = parse_form(form("register_1001"))  # strings and an enum member
    assert gc.is_tracked(request)
    gc_tuning.untrack(request)
    assert not gc.is_tracked(request)
    gc.collect()
    assert request.user == "1001"  # still alive and whole: refcounting owns it

    holder = _Holder(["a list could close a cycle"])
    with pytest.raises(TypeError, match="holds a list"):
        gc_tuning.untrack(holder)
    assert gc.is_tracked(holder)


async def test_given_an_extension_cached_and_its_answer_memoised_then_the_collector_tracks_neither(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    status, body = await post(client, form("register_1001"))
    assert status == 200 and b"a1-hash" in body
    extension = await client.app[DIRECTORY_STORE].get("xswitch.test", "1001")  # the cached object
    assert extension is not None and extension.extn == "1001"
    assert not gc.is_tracked(extension)

    memo = AnswerMemo(10)
    request, rendered = parse_form(form("register_1001")), Rendered(b"<document/>", True, "found")
    memo.put(request, extension, rendered)
    assert memo.get(request, extension) is rendered
    assert not gc.is_tracked(rendered)
    # What the memo keeps for the request: its key and its entry.
    ((key, entry),) = memo._entries.items()
    assert not gc.is_tracked(key) and not gc.is_tracked(entry)
