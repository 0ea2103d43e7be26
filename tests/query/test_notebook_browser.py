"""The notebook in real Chromium: highlighting, Ctrl+Enter, charts, inline errors, no JS errors.

Screenshots go to artifacts/screenshots/ (kept out of git).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.settings import Settings
from tests.query.data import ingest

pytestmark = pytest.mark.e2e
playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(clean_db: Database, settings: Settings) -> Iterator[str]:
    with clean_db.sessions.begin() as s:
        auth_service.create_user(s, "ana", "correct horse battery", Role.viewer)
    with clean_db.sessions() as s:
        now = datetime.now(UTC)
        events = [
            NewEvent(
                "shop",
                f"e{i}",
                ["order.placed", "order.paid", "order.shipped"][i % 3],
                now - timedelta(minutes=3 * i + 1),
                {"amount": i, "note": "<b>bold?</b>"},
            )
            for i in range(60)
        ]
        ingest(s, events)
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, database=clean_db), host="127.0.0.1", port=port, log_level="warning"
    )
    app_server = uvicorn.Server(config)
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if app_server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app_server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_notebook_runs_queries_in_a_browser(server: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                problems.append(msg.text)
                if msg.type == "error" and "favicon" not in msg.location.get("url", "")
                else None
            ),
        )
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(f"{server}/login")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.click("nav >> text=Query")
        page.wait_for_selector(".CodeMirror")
        assert page.locator(".cm-keyword").first.inner_text() == "fetch"

        def run(query: str) -> None:
            page.evaluate("(q) => window.fqlEditor.setValue(q)", query)
            page.click(".CodeMirror")
            page.keyboard.press("Control+Enter")

        run("fetch bizevents | summarize n = count(), by: {event.type}")
        page.wait_for_selector("#chart[data-kind=categories] canvas")
        assert page.inner_text("#row-count") == "3 rows"
        page.screenshot(path=str(SHOTS / "query-categories.png"), full_page=True)

        run("fetch bizevents | makeTimeseries n = count(), interval: 10m")
        page.wait_for_selector("#chart[data-kind=timeseries] canvas")
        assert "interval=" not in page.url  # the share link is in the address bar…
        assert "q=fetch" in page.url  # …with the query
        page.screenshot(path=str(SHOTS / "query-timeseries.png"), full_page=True)

        run('fetch bizevents\n| filter note == "<b>')
        page.wait_for_selector("#query-error")
        assert "line 2, column 18" in page.inner_text("#query-error h2")
        page.wait_for_selector(".cm-fql-error", timeout=3000)  # marked in the editor too
        page.screenshot(path=str(SHOTS / "query-error.png"), full_page=True)

        run("fetch bizevents | fields note | limit 3")
        page.wait_for_selector("#result-table")
        assert page.locator("#result-table td").first.inner_text() == "<b>bold?</b>"
        page.screenshot(path=str(SHOTS / "query-table.png"), full_page=True)
        browser.close()
    assert problems == []
