"""The test client type every test's app is served through (pytest-aiohttp's)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]
