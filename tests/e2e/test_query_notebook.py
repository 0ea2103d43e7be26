"""The query notebook in real Chromium: highlighting, Ctrl+Enter, charts, inline errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events


def _events(db: Database) -> None:
    now = datetime.now(UTC)
    types = ["order.placed", "order.paid", "order.shipped"]
    with db.sessions.begin() as s:
        store_events(
            s,
            [
                NewEvent(
                    "shop",
                    f"e{i}",
                    types[i % 3],
                    now - timedelta(minutes=3 * i + 1),
                    {"amount": i, "note": "<b>bold?</b>"},
                )
                for i in range(60)
            ],
        )


def test_notebook_runs_queries_and_shows_charts_and_errors(
    page: Page,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    _events(clean_db)
    browser_login(page, Role.viewer)
    page.get_by_role("navigation").get_by_role("link", name="Query").click()
    page.wait_for_selector(".CodeMirror")
    expect(page.locator(".cm-keyword").first).to_have_text("fetch")

    def run(query: str) -> None:
        page.evaluate("(q) => window.fqlEditor.setValue(q)", query)
        page.click(".CodeMirror")
        page.keyboard.press("Control+Enter")

    run("fetch bizevents | summarize n = count(), by: {event.type}")
    page.wait_for_selector("#chart[data-kind=categories] canvas")
    expect(page.locator("#row-count")).to_have_text("3 rows")
    screenshot(page, "query-categories")

    run("fetch bizevents | makeTimeseries n = count(), interval: 10m")
    page.wait_for_selector("#chart[data-kind=timeseries] canvas")
    assert "q=fetch" in page.url  # the address bar holds the share link
    screenshot(page, "query-timeseries")

    run('fetch bizevents\n| filter note == "<b>')
    expect(page.locator("#query-error h2")).to_contain_text("line 2, column 18")
    page.wait_for_selector(".cm-fql-error")  # the spot is marked in the editor too
    screenshot(page, "query-error")

    run("fetch bizevents | fields note | limit 3")
    expect(page.locator("#result-table td").first).to_have_text("<b>bold?</b>")
    screenshot(page, "query-table")

    page.get_by_label("Name").fill("Three notes")
    page.get_by_role("button", name="Save query").click()
    page.get_by_role("link", name="Three notes").click()
    page.wait_for_selector(".CodeMirror")
    assert page.evaluate("() => window.fqlEditor.getValue()") == (
        "fetch bizevents | fields note | limit 3"
    )
    expect(page.locator("#row-count")).to_have_text("3 rows")  # a saved query runs on open
