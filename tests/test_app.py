"""The assembled app serves health and metrics against a real database."""

from __future__ import annotations

from tests.conftest import AppClient


async def test_healthz_and_readyz_answer_with_a_live_database(app_client: AppClient) -> None:
    client = await app_client()
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["database"] == "up"


async def test_metrics_are_prometheus_text_from_the_apps_own_registry(app_client: AppClient) -> None:
    client = await app_client()
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert "bridge_build_info" in await resp.text()
