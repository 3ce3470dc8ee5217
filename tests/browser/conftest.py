"""Browser fixtures: a real server (port 0, its admin listener with the console on port 0) holding the
console seed, and Debian's chromium driven by Playwright (never a downloaded browser). Screenshots go to
artifacts/console/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from effectd._client import Client
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve
from effectd_server.config import MetricsConfig
from playwright.async_api import Browser, Page, async_playwright

from tests.console_seed import Seeded, seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"


@dataclass(frozen=True, slots=True)
class Console:
    server: RunningServer
    client: Client
    seeded: Seeded
    url: str
    """http://127.0.0.1:PORT/console/"""


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    config = ServerConfig(
        listen="127.0.0.1:0",
        store=StoreConfig(url=str(tmp_path / "effectd.db")),
        metrics=MetricsConfig(admin_listen="127.0.0.1:0"),
    )
    async with serve(config) as server, await Client.connect(server.target) as client:
        assert server.admin is not None
        seeded = await seed(client)
        yield Console(server, client, seeded, f"http://127.0.0.1:{server.admin.port}/console/")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as artifacts/console/NAME.png (a test artifact, not checked in)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^a-z0-9_-]+", "-", name.lower()) + ".png")
    await page.screenshot(path=str(path), full_page=True)
    return path
