"""The sign-in, events overview and API token pages in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

HOSTILE = "<img src=x onerror=alert(1)>"


def test_anonymous_visitor_is_sent_to_sign_in(
    page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    page.goto("/events")
    assert page.url.endswith("/login?next=%2Fevents")
    expect(page.get_by_role("heading", name="Sign in to Flowscope")).to_be_visible()
    screenshot(page, "login")


def test_wrong_password_is_refused_with_a_message(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Unknown user or wrong password")


def test_empty_events_page_explains_how_to_send_the_first_event(
    page: Page,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/events")
    expect(page.get_by_role("heading", name="No events yet")).to_be_visible()
    expect(page.locator("pre")).to_contain_text("/api/v2/bizevents/ingest")
    screenshot(page, "events-empty")


def test_hostile_provider_and_type_names_show_as_text(
    page: Page,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    from datetime import UTC, datetime

    with clean_db.sessions.begin() as s:
        store_events(s, [NewEvent(HOSTILE, "e1", HOSTILE, datetime.now(UTC), {})])
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_login(page, Role.viewer)
    page.goto("/events")
    expect(page.locator("caption", has_text=HOSTILE)).to_be_visible()
    expect(page.get_by_role("cell", name=HOSTILE)).to_be_visible()
    assert page.locator("img").count() == 0
    assert dialogs == []
    screenshot(page, "events-hostile")


def test_admin_creates_and_revokes_a_token(
    page: Page,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    browser_login(page, Role.admin)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("shop-checkout")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token")
    expect(secret).to_contain_text("fs_")
    screenshot(page, "tokens-created")
    page.once("dialog", lambda dialog: dialog.accept())  # revoking asks first
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("cell", name="revoked", exact=False)).to_be_visible()


def test_pages_are_usable_on_a_phone(
    browser_login: Callable[[Page, Role], None],
    page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, Role.admin)
    page.goto("/admin/tokens")
    expect(page.get_by_role("button", name="Create token")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
    screenshot(page, "tokens-phone")
