"""The users page and the audit log in a real browser (HTMX-boosted forms)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.auth.models import Role


def test_admin_creates_and_disables_a_user_then_finds_it_in_the_audit_log(
    page: Page,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    browser_login(page, Role.admin)
    page.get_by_role("link", name="Users & audit").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    page.get_by_label("Username").fill("carl")
    page.locator("#new-password").fill("carl's long password")
    page.locator("#new-role").select_option("editor")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text("Created carl (editor).")
    row = page.locator("tr", has_text="carl")
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_contain_text("Disabled carl")
    expect(page.locator("tr", has_text="carl")).to_contain_text("disabled")
    screenshot(page, "users")

    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("user")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.data tbody tr")
    expect(rows.first).to_contain_text("user.disabled")
    expect(rows.nth(1)).to_contain_text("user.created")
    expect(rows.first).to_contain_text("admin-e2e")
    screenshot(page, "audit-log")
