"""The console's web.AppKeys: its stream hub and its board."""

from __future__ import annotations

from aiohttp import web

from bridge.console.board import Board
from bridge.console.hub import Hub
from bridge.console.metrics import ConsoleMetrics

CONSOLE_HUB: web.AppKey[Hub] = web.AppKey("console_hub", Hub)
CONSOLE_BOARD: web.AppKey[Board] = web.AppKey("console_board", Board)
CONSOLE_METRICS: web.AppKey[ConsoleMetrics] = web.AppKey("console_metrics", ConsoleMetrics)
