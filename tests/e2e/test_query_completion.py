"""The notebook's editor completes commands after `|`, functions with their signatures, and
field names seen in the data (issue 12); a hostile field name is shown as text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.query import completion

HOSTILE = "x<img src=y onerror=alert(1)>"


@pytest.fixture
def events(clean_db: Database) -> None:
    completion._cache.clear()  # the live server shares this process and its cache
    now = datetime.now(UTC)
    with clean_db.sessions.begin() as s:
        store_events(
            s,
            [
                NewEvent(
                    "shop",
                    f"e{i}",
                    "order.placed",
                    now - timedelta(minutes=i + 1),
                    {"loyalty": {"tier": "gold"}, HOSTILE: 1},
                )
                for i in range(5)
            ],
        )


@pytest.mark.parametrize("width", [1280, 390])
def test_the_editor_completes_commands_functions_and_fields(
    page: Page,
    events: None,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
    width: int,
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, Role.viewer)
    page.goto("/query")
    page.wait_for_selector(".CodeMirror")
    page.evaluate("() => window.fqlEditor.setValue('fetch bizevents\\n')")
    page.evaluate("() => window.fqlEditor.setCursor({line: 1, ch: 0})")
    page.click(".CodeMirror-line >> nth=1")
    hints = page.locator(".fql-hints li")

    page.keyboard.type("| summ")
    expect(hints.first).to_contain_text("summarize")
    expect(hints.first).to_contain_text("command")
    screenshot(page, f"query-complete-command-{width}")
    page.keyboard.press("Enter")
    page.keyboard.type(" cou")
    expect(hints.first).to_contain_text("count()")  # a function shows its signature
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.keyboard.type("), by: {loyalty.t")
    expect(hints).to_have_count(1)
    expect(hints.first).to_contain_text("loyalty.tier")
    screenshot(page, f"query-complete-field-{width}")
    page.keyboard.press("Tab")
    page.keyboard.type("}")
    text = page.evaluate("() => window.fqlEditor.getValue()")
    assert text == "fetch bizevents\n| summarize count(), by: {loyalty.tier}"

    page.keyboard.type(" | filter x")
    expect(hints.filter(has_text="onerror")).to_have_count(1)
    assert page.locator(".fql-hints img").count() == 0  # the hostile name is text
    page.keyboard.press("Escape")
    expect(hints).to_have_count(0)
