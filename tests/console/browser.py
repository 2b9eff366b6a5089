"""A real headless browser for the console tests: Debian's chromium through chromium-driver
(selenium), every blocking WebDriver call run in a thread so the app under test keeps serving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
T = TypeVar("T")


def start_chromium(profile: Path) -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Page:
    """The console in the browser, driven from async tests."""

    def __init__(self, driver: webdriver.Chrome, shots: Path) -> None:
        self.driver = driver
        self.shots = shots

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def open(self, url: str) -> None:
        await self.run(self.driver.delete_all_cookies)
        await self.run(self.driver.get, url)

    async def js(self, script: str, *args: Any) -> Any:
        return await self.run(self.driver.execute_script, script, *args)

    async def until(self, script: str, *args: Any, timeout: float = 15.0, what: str = "") -> Any:
        """Poll ``script`` (a JS expression's body returning a value) until it is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                await self.shot("timeout")
                raise AssertionError(f"{what or script} not true within {timeout}s")
            await asyncio.sleep(0.05)

    async def find(self, css: str) -> WebElement:
        return await self.run(self.driver.find_element, By.CSS_SELECTOR, css)

    async def click(self, css: str) -> None:
        element = await self.find(css)
        await self.run(element.click)

    async def type(self, css: str, text: str) -> None:
        element = await self.find(css)
        await self.run(element.clear)
        await self.run(element.send_keys, text)

    async def texts(self, css: str) -> list[str]:
        found: list[str] = await self.js(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", css
        )
        return found

    async def login(self, login: str, password: str) -> None:
        await self.until("return !document.getElementById('login').hidden", what="the login form")
        await self.type("#login-name", login)
        await self.type("#login-password", password)
        await self.click("#login-submit")
        await self.until("return !document.getElementById('console').hidden", what="the console")
        await self.until("return document.getElementById('live').textContent === 'live'", what="stream open")

    async def view(self, name: str) -> None:
        await self.click(f"nav button[data-view={name}]")

    async def shot(self, name: str, height: int | None = None) -> Path:
        """A screenshot in the shots directory; ``height``: of the top of the page only."""
        path = self.shots / f"{name}.png"
        if height is not None:
            await self.run(self.driver.set_window_size, 1280, height)
        await self.run(self.driver.save_screenshot, str(path))
        if height is not None:
            await self.run(self.driver.set_window_size, 1400, 1000)
        return path

    async def accept_confirm(self) -> str:
        alert = await self.run(lambda: self.driver.switch_to.alert)
        message = alert.text
        await self.run(alert.accept)
        return message
