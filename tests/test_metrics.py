"""/metrics moves with real traffic: directory lookups, logins, the pool, registration events."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from bridge.metrics import Metrics
from bridge.registrations import metrics as gauges
from bridge.registrations.events import (
    NodeChanged,
    content_length,
    parse_event_body,
    parse_frame_headers,
    to_change,
)
from bridge.registrations.model import NodeState
from bridge.registrations.state import RegistrationState
from tests.conftest import AppClient, fixture_bytes
from tests.factories import add_extension
from tests.fakes.esl_server import FakeEslServer
from tests.support.poll import eventually_value

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _scrape(client: object) -> Samples:
    resp = await client.get("/metrics")  # type: ignore[attr-defined]
    assert resp.status == 200
    return _samples(await resp.text())


async def test_exposition_has_build_process_and_pool_metrics(app_client: AppClient) -> None:
    client = await app_client(database__pool_min="2", database__pool_max="7")
    resp = await client.get("/metrics")
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    samples = _samples(await resp.text())
    build = [labels for (name, labels) in samples if name == "bridge_build_info"]
    assert build and dict(build[0])["version"]
    assert _value(samples, "process_resident_memory_bytes") > 0
    assert _value(samples, "bridge_db_pool_connections", state="open") >= 2
    assert _value(samples, "bridge_db_pool_max_connections") == 7
    idle = _value(samples, "bridge_db_pool_connections", state="idle")
    assert 0 <= idle <= _value(samples, "bridge_db_pool_connections", state="open")


async def test_database_queries_are_timed_in_the_acquire_histogram(app_client: AppClient) -> None:
    client = await app_client()
    before = _value(await _scrape(client), "bridge_db_pool_acquire_duration_seconds_count")
    assert (await client.get("/readyz")).status == 200  # one SELECT 1 through the pool
    after = await _scrape(client)
    assert _value(after, "bridge_db_pool_acquire_duration_seconds_count") >= before + 1
    assert _value(after, "bridge_db_pool_acquire_duration_seconds_bucket", le="+Inf") >= before + 1


async def test_directory_lookups_move_counters_and_latency(
    app_client: AppClient, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001")
    client = await app_client()
    form = fixture_bytes("xml_curl", "register_1001.form")
    unknown = fixture_bytes("xml_curl", "register_unknown_user_1009.form")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    before = await _scrape(client)

    for body in (form, form, unknown):
        resp = await client.post("/directory", data=body, headers=headers)
        assert resp.status == 200
        await resp.read()

    after = await _scrape(client)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("bridge_directory_lookups_total", action="sip_auth", result="found") == 2
    assert moved("bridge_directory_lookups_total", action="sip_auth", result="not_found") == 1
    assert moved("bridge_directory_lookup_duration_seconds_count", action="sip_auth") == 3
    assert moved("bridge_directory_lookup_duration_seconds_bucket", action="sip_auth", le="+Inf") == 3
    cache_total = sum(
        value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0] == "bridge_directory_cache_requests_total"
    )
    assert cache_total >= 3


async def test_failed_login_counts_and_api_requests_are_labelled_by_route(app_client: AppClient) -> None:
    client = await app_client()
    before = await _scrape(client)
    resp = await client.post("/api/sessions", data={"login": "nobody", "password": "wrong-pass-1"})
    assert resp.status in (401, 403, 400)
    after = await _scrape(client)
    failures = "bridge_api_login_failures_total"
    assert _value(after, failures) == _value(before, failures) + 1
    statuses = {
        dict(labels)["status"]
        for (name, labels) in after
        if name == "bridge_api_requests_total" and dict(labels).get("route") == "/api/sessions"
    }
    assert str(resp.status) in statuses


def _events(capture: bytes) -> list[dict[str, str]]:
    """Cut a captured Event Socket stream into event bodies, as the listener reads it."""
    events = []
    rest = capture
    while b"\n\n" in rest:
        block, rest = rest.split(b"\n\n", 1)
        headers = parse_frame_headers(block)
        length = content_length(headers)
        body, rest = rest[:length], rest[length:]
        if headers.get("Content-Type", "").startswith("text/event"):
            events.append(parse_event_body(headers["Content-Type"], body))
    return events


def test_registration_gauges_follow_real_register_and_unregister_events() -> None:
    now = 1795393421.0
    clock = [now]
    state = RegistrationState(["fs1", "fs2"], clock=lambda: clock[0])
    metrics = Metrics()
    gauges.watch(metrics.registry, state, clock=lambda: clock[0])

    def scrape() -> Samples:
        return _samples(metrics.exposition().decode())

    samples = scrape()
    assert _value(samples, "bridge_esl_connected", node="fs1") == 0
    assert _value(samples, "bridge_esl_node_state", node="fs1", state="not_started") == 1
    assert ("bridge_esl_seconds_since_heartbeat", frozenset({("node", "fs1")})) not in samples

    state.apply(NodeChanged("fs1", NodeState.UP, at=now))
    state.apply(NodeChanged("fs2", NodeState.DOWN, at=now, error="refused"))
    for event in _events(fixture_bytes("esl", "register_1001.plain.raw")):
        change = to_change("fs1", event, now=now)
        if change is not None:
            state.apply(change)
    clock[0] = now + 12
    samples = scrape()
    assert _value(samples, "bridge_registrations_online", node="fs1", domain="xswitch.test") == 1
    assert _value(samples, "bridge_esl_connected", node="fs1") == 1
    assert _value(samples, "bridge_esl_connected", node="fs2") == 0
    assert _value(samples, "bridge_esl_node_state", node="fs2", state="down") == 1
    assert _value(samples, "bridge_esl_node_state", node="fs2", state="up") == 0
    assert _value(samples, "bridge_esl_seconds_since_heartbeat", node="fs1") == 12

    for event in _events(fixture_bytes("esl", "unregister_1001.plain.raw")):
        change = to_change("fs1", event, now=clock[0])
        if change is not None:
            state.apply(change)
    samples = scrape()
    assert _value(samples, "bridge_registrations_online", node="fs1", domain="xswitch.test") == 0


async def test_esl_connected_and_reconnects_move_when_the_node_drops_the_connection(
    app_client: AppClient,
) -> None:
    fake = await FakeEslServer().start()
    try:
        # The first retry waits 0.5-1 s (reconnect_initial, jittered): long enough for a
        # scrape to see the node down, short enough for a fast test.
        client = await app_client(
            freeswitch__nodes=fake.url("fs1"),
            freeswitch__reconnect_initial="1",
            freeswitch__reconnect_max="1",
            freeswitch__command_timeout="1",
        )

        async def scrape_until(check: Callable[[Samples], bool], what: str) -> Samples:
            return await eventually_value(lambda: _scrape(client), check, timeout=5.0)

        up = await scrape_until(lambda s: _value(s, "bridge_esl_connected", node="fs1") == 1, "node up")
        assert _value(up, "bridge_esl_reconnects_total", node="fs1") == 0
        assert _value(up, "bridge_esl_snapshot_loads_total", node="fs1", result="ok") == 1

        await fake.drop()

        down = await scrape_until(
            lambda s: _value(s, "bridge_esl_connected", node="fs1") == 0, "node seen down"
        )
        assert _value(down, "bridge_esl_reconnects_total", node="fs1") == 1
        assert _value(down, "bridge_esl_node_state", node="fs1", state="down") == 1

        back = await scrape_until(
            lambda s: _value(s, "bridge_esl_connected", node="fs1") == 1, "node up again"
        )
        assert _value(back, "bridge_esl_reconnects_total", node="fs1") == 1
        assert _value(back, "bridge_esl_snapshot_loads_total", node="fs1", result="ok") == 2
        assert _value(back, "bridge_esl_node_state", node="fs1", state="up") == 1
        assert fake.connections == 2
    finally:
        await fake.close()


def _esl(samples: Samples) -> dict[str, float]:
    return {
        f"{name}{dict(labels)}": value
        for (name, labels), value in samples.items()
        if name.startswith("bridge_esl")
    }
