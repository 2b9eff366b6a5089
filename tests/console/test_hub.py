"""The stream's hub: numbered frames, scope, a bounded queue per client, resume and reload."""

from __future__ import annotations

import orjson

from bridge.console.hub import Client, Hub


def hub(**settings: int) -> tuple[Hub, list[int]]:
    cuts: list[int] = []
    values = {"ring_size": 100, "queue_size": 10, "max_clients": 5, **settings}
    made = Hub(on_cut=lambda: cuts.append(1), epoch="e1", **values)
    return made, cuts


def messages(client: Client) -> list[dict[str, object]]:
    found = []
    for frame in client.frames:
        fields = dict(line.split(b": ", 1) for line in frame.strip().split(b"\n"))
        found.append({"id": fields[b"id"].decode(), **orjson.loads(fields[b"data"])})
    return found


def test_a_frame_is_numbered_and_carries_its_type_and_payload_as_one_json_line() -> None:
    h, _ = hub()
    frame = h.publish("ban", {"op": "added", "ban": {"ip": "192.0.2.1"}})
    assert frame.data == (
        b'id: e1-1\nevent: ban\ndata: {"type":"ban","op":"added","ban":{"ip":"192.0.2.1"}}\n\n'
    )
    assert h.last_id() == "e1-1"


def test_a_domain_administrator_gets_only_its_domain_and_the_domainless_frames() -> None:
    h, _ = hub()
    mine, every = h.join("a.test", None), h.join(None, None)
    h.publish("registration", {"n": 1}, "a.test")
    h.publish("registration", {"n": 2}, "b.test")
    h.publish("node", {"n": 3}, None)
    assert [m["n"] for m in messages(mine)] == [1, 3]
    assert [m["n"] for m in messages(every)] == [1, 2, 3]


def test_a_client_that_falls_a_queue_behind_is_cut_counted_and_the_others_keep_everything() -> None:
    h, cuts = hub(queue_size=3)
    aborted: list[bool] = []
    slow, fast = h.join(None, None), h.join(None, None)
    slow.abort = lambda: aborted.append(True)
    for n in range(3):
        h.publish("node", {"n": n})
    fast.frames.clear()  # the fast client writes what it is given
    assert cuts == [] and not slow.closed
    h.publish("node", {"n": 3})
    assert slow.closed and slow.cut and aborted == [True] and cuts == [1]
    assert h.clients() == 1
    for n in range(4, 10):  # publishing never waits: nobody is cut now
        h.publish("node", {"n": n})
        fast.frames.clear()
    assert cuts == [1]


async def test_take_returns_what_waits_and_nothing_once_ended() -> None:
    h, _ = hub()
    client = h.join(None, None)
    h.publish("node", {"n": 1})
    h.publish("node", {"n": 2})
    assert len(await client.take()) == 2
    h.close()
    assert await client.take() == []


def test_a_reconnect_with_last_event_id_gets_exactly_what_it_missed_in_its_scope() -> None:
    h, _ = hub()
    h.publish("registration", {"n": 1}, "a.test")
    seen = h.last_id()
    h.publish("registration", {"n": 2}, "a.test")
    h.publish("registration", {"n": 3}, "b.test")
    h.publish("node", {"n": 4})
    client = h.join("a.test", seen)
    assert client.began == "resumed"
    assert [(m["id"], m["n"]) for m in messages(client)] == [("e1-2", 2), ("e1-4", 4)]
    assert h.join(None, h.last_id()).frames == type(client.frames)()  # up to date: nothing


def test_an_id_older_than_the_ring_from_another_process_or_malformed_is_told_to_reload() -> None:
    h, _ = hub(ring_size=3)
    first = h.last_id()
    for n in range(5):
        h.publish("node", {"n": n})
    for last in (first, "e1-1", "other-2", "e1-99", "e1-x", "garbage"):
        client = h.join(None, last)
        assert client.began == "reload", last
        [message] = messages(client)
        assert message == {"id": h.last_id(), "type": "reload", "reason": "missed"}
    assert [m["n"] for m in messages(h.join(None, "e1-2"))] == [2, 3, 4]  # e1-3.. still in the ring


def test_missing_more_than_a_queue_is_a_reload_not_a_cut() -> None:
    h, cuts = hub(queue_size=2)
    seen = h.last_id()
    for n in range(5):
        h.publish("node", {"n": n})
    client = h.join(None, seen)
    assert client.began == "reload" and [m["type"] for m in messages(client)] == ["reload"]
    assert cuts == []


def test_a_frame_published_while_nobody_listens_is_sent_on_resume_as_it_would_have_been_live() -> None:
    h, _ = hub()
    seen = h.last_id()
    quiet = h.publish("ban", {"op": "added", "ban": {"ip": "192.0.2.1"}}, "a.test")
    h.publish("node", {"n": 2})
    live = h.join(None, h.last_id())
    h.publish("node", {"n": 3})
    resumed, other = h.join("a.test", seen), h.join(None, seen)
    assert (
        resumed.frames[0]
        == other.frames[0]
        == quiet.data
        == (b'id: e1-1\nevent: ban\ndata: {"type":"ban","op":"added","ban":{"ip":"192.0.2.1"}}\n\n')
    )
    assert [m["id"] for m in messages(other)] == ["e1-1", "e1-2", "e1-3"]
    assert [m["id"] for m in messages(live)] == ["e1-3"]
