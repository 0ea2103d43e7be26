"""The users page and the audit log in a real browser (HTMX-boosted forms)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

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


def test_a_new_token_has_a_copy_button_and_revoking_asks_first(
    page: Page,
    live_server: str,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Issue 13, point 10: the token shown once can be copied with one click, and a token is
    revoked only after the admin confirms it."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    browser_login(page, Role.admin)
    page.goto("/admin/tokens")
    page.get_by_label("Name").fill("shop-checkout")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token")
    expect(secret).to_contain_text("fs_")
    page.get_by_role("button", name="Copy token").click()
    expect(page.locator("#new-token-copied")).to_have_text("Copied to the clipboard.")
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret.inner_text().strip()
    screenshot(page, "token-copied")

    asked: list[str] = []

    def refuse(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", refuse)
    row = page.locator("tr", has_text="shop-checkout")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("#new-token")).to_be_visible()  # no reload: nothing was sent
    expect(row).to_contain_text("active")
    assert len(asked) == 1
    assert "shop-checkout" in asked[0]

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="shop-checkout")).to_contain_text("revoked")
