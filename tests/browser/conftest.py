"""A real headless Chromium (Debian's ``chromium``; Playwright drives it, never downloads a browser) and
the whole pipeline, for tests that use the pages as a person does."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from playwright.async_api import Browser, async_playwright

from tests.conftest import Infra
from tests.e2e.pipeline import Pipeline, running_pipeline

DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the pages' screenshots go: the README's folder with ``make screenshots``, else a temporary one
    (so a test run leaves the working tree as it was)."""
    return DOC_SCREENSHOTS if os.environ.get("CONECTAPRO_SCREENSHOTS") == "docs" else tmp_path


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("no chromium on PATH: `make test` installs Debian's chromium package (apt-get install chromium)")
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # --no-sandbox: the tests run as root, which Chromium's sandbox refuses.
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest.fixture
async def pipeline(migrated_database: str, nats_client: NATS, infra: Infra) -> AsyncIterator[Pipeline]:
    async with running_pipeline(migrated_database, nats_client, infra.nats_url) as pipeline:
        yield pipeline
