"""The console's browser: one headless chromium per test module (it takes seconds to start)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver

from tests.console.browser import Page, start_chromium

# Where the screenshots go (a temporary directory unless BRIDGE_CONSOLE_SHOTS names one).
SHOTS_ENV = "BRIDGE_CONSOLE_SHOTS"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get(SHOTS_ENV)
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        return Path(named)
    return tmp_path_factory.mktemp("console-shots")


@pytest.fixture
def page(chromium: webdriver.Chrome, shots: Path) -> Page:
    return Page(chromium, shots)
