"""The events explorer in a real browser: a developer checks that their events arrive."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.flows.views_support import HOSTILE


def test_filter_by_provider_and_read_the_latest_events(
    page: Page,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    now = datetime.now(UTC)
    events = [
        NewEvent(
            "shop.checkout",
            f"s{n}",
            "order.placed",
            now - timedelta(minutes=n),
            {
                "order": {"id": f"A-{n}", "total": 10 + n, "lines": [{"sku": "X", "qty": n}]},
                "customer": {"tier": HOSTILE},
            },
        )
        for n in range(5)
    ] + [
        NewEvent(
            "crm.tickets", "t1", "ticket.opened", now - timedelta(hours=2), {"ticket": {"no": 7}}
        )
    ]
    with clean_db.sessions.begin() as s:
        store_events(s, events)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_login(page, Role.viewer)
    page.goto("/events")
    expect(page.locator("li.event")).to_have_count(6)
    page.get_by_label("Provider").select_option("crm.tickets")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("li.event")).to_have_count(1)
    expect(page.locator("li.event").first).to_contain_text("ticket.opened")
    page.goto("/events")
    page.get_by_role("link", name="order.placed").click()
    expect(page.locator("li.event")).to_have_count(5)
    expect(page.locator("li.event").first.locator(".tree").first).to_contain_text(HOSTILE)
    assert page.locator("main img").count() == 0
    assert dialogs == []
    screenshot(page, "events-explorer")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
    screenshot(page, "events-explorer-phone")


def test_older_events_continue_below_the_last_one_shown(
    page: Page,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    now = datetime.now(UTC)
    with clean_db.sessions.begin() as s:
        store_events(
            s,
            [
                NewEvent("shop", f"e{n}", "order.placed", now - timedelta(minutes=30 - n), {"n": n})
                for n in range(25)
            ],
        )
    browser_login(page, Role.viewer)
    page.goto("/events?limit=20")
    expect(page.locator("li.event")).to_have_count(20)
    page.get_by_role("link", name="Older events").click()
    expect(page.locator("li.event")).to_have_count(5)
    expect(page.locator("li.event").first).to_contain_text("e4")
    expect(page.get_by_role("link", name="Older events")).to_have_count(0)
    screenshot(page, "events-explorer-older")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
    screenshot(page, "events-explorer-older-phone")
