"""The retention page in a real browser: set a provider's retention, see it, find it audited."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from tests.flows.correlation_support import event, ingest


def test_admin_sets_a_providers_retention_and_finds_it_in_the_audit_log(
    page: Page,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    ingest(
        clean_db,
        [event(None, "t", provider="shop.checkout"), event(None, "t", provider="<i>crm</i>")],
    )
    browser_login(page, Role.admin)
    page.get_by_role("link", name="Users & audit").click()
    page.get_by_role("link", name="Retention").click()
    expect(page.get_by_role("heading", name="Retention", exact=True)).to_be_visible()
    expect(page.locator("tr", has_text="<i>crm</i>")).to_contain_text("default")
    page.get_by_label("Provider").fill("shop.checkout")
    page.get_by_label("Days").fill("400")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("shop.checkout: events kept 400 days.")
    expect(page.locator("tr", has_text="shop.checkout")).to_contain_text("own")
    screenshot(page, "retention")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "retention-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Days").fill("-1")
    page.get_by_label("Provider").fill("shop.checkout")
    page.locator("#r-days").evaluate("el => el.removeAttribute('min')")  # the server's check
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("days: must be between 1 and 36500")

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("table.data tbody tr").first).to_contain_text("retention.set")
