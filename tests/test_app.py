"""The assembled app: health and metrics against a real database, and no middlewares."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bridge.app import create_app
from bridge.config import Config
from bridge.directory.extension import Extension
from bridge.directory.store.cache import CachedStore
from bridge.logs import request_id
from tests.conftest import AppClient, fixture_bytes


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


async def _broken_get(self: CachedStore, domain: str, extn: str) -> Extension | None:
    """A directory store with a bug: every read raises what no edge expects."""
    raise RuntimeError("bug in the store")


class _RequestIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def test_no_app_in_the_tree_has_a_middleware_so_directory_lookups_pay_for_none(
    make_config: Callable[..., Config],
) -> None:
    # aiohttp runs the root app's middleware chain for every request once the root or any
    # sub-app has a middleware (pre_freeze), POST /directory included: the /api and /console
    # edges wrap their own handlers instead (bridge/api/edge.py, console's on_response_prepare).
    app = create_app(make_config())
    app.pre_freeze()
    assert list(app.middlewares) == [] and not app._run_middlewares


async def test_given_a_bug_under_the_directory_edge_then_500_one_line_and_one_logged_traceback(
    make_config: Callable[..., Config],
    aiohttp_client: Callable[..., Awaitable[TestClient[web.Request, web.Application]]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(CachedStore, "get", _broken_get)
    app = create_app(make_config())
    client = await aiohttp_client(app)
    caplog.handler.addFilter(_RequestIds())
    caplog.set_level(logging.INFO)
    resp = await client.post(
        "/directory",
        data=fixture_bytes("xml_curl", "register_1001.form"),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Request-Id": "req-boom"},
    )
    body = await resp.read()
    assert resp.status == 500
    assert body == b"internal error\n"
    failures = [r for r in caplog.records if r.exc_info is not None]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert failures[0].name == "bridge.directory.handler"
    assert failures[0].exc_info is not None and failures[0].exc_info[0] is RuntimeError
    assert getattr(failures[0], "request_id", None) == "req-boom"
    # The server is still up and answering.
    assert (await client.get("/healthz")).status == 200

