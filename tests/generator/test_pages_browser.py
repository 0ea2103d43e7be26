"""The generator pages in headless Chromium: no JavaScript errors, HTMX template switching,
inline errors, Run now; a screenshot per page under artifacts/screenshots/generator/."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.settings import Settings
from tests.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("artifacts/screenshots/generator")

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def base_url(clean_db: Database, settings: Settings) -> Iterator[str]:
    if not CHROMIUM.exists():
        if os.environ.get("FLOWSCOPE_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (FLOWSCOPE_REQUIRE_BROWSER is set)")
        pytest.skip("chromium is not installed")
    with clean_db.sessions.begin() as session:
        auth_service.create_user(session, "ed", PASSWORD, Role.editor)
    port = _free_port()
    app = create_app(settings, database=clean_db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_generator_pages_work_in_a_browser(base_url: str) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.goto(f"{base_url}/login")
        page.fill("input[name=username]", "ed")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

        page.goto(f"{base_url}/generators/new")
        page.select_option("#template", "insurance-claim")
        page.wait_for_function("document.querySelector('#source').value.includes('insurer.')")
        page.screenshot(path=str(SHOTS / "new.png"), full_page=True)
        source = page.input_value("#source")
        page.fill("#source", source.replace("percent: 12}", "percent: 112}"))
        page.click("text=Create generator")
        page.wait_for_selector("#problems")
        assert "exceptions.1.percent" in page.inner_text("#problems")
        page.screenshot(path=str(SHOTS / "invalid.png"), full_page=True)

        page.fill("#source", source)
        page.click("text=Create generator")
        page.wait_for_url(f"{base_url}/generators/insurance-claim")
        page.click("text=Run now")
        page.wait_for_url(f"{base_url}/generators/insurance-claim")
        page.wait_for_function(
            "!document.querySelector('#runs[aria-busy]') && "
            "document.querySelector('#runs tbody tr td').textContent.trim() === 'manual'"
        )
        page.screenshot(path=str(SHOTS / "detail.png"), full_page=True)

        page.click("nav >> text=Generators")
        page.wait_for_load_state("networkidle")
        assert "Insurance claim" in page.inner_text("main")
        page.screenshot(path=str(SHOTS / "list.png"), full_page=True)
        browser.close()
    assert problems == []
