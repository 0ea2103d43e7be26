"""The analyst's journey as it feels (issue 13): a step click answers where the eye is, quick
clicks leave the URL and the page in step, and KPI changes do not mislead. Each test runs at a
desktop and a phone width; the screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from tests.e2e.conftest import SCREENSHOTS
from tests.flows.views_support import make_shop

Login = Callable[[Page, Role], None]
Shot = Callable[[Page, str], Path]
WIDTHS = [1280, 390]


@pytest.fixture
def shop(clean_db: Database) -> None:
    make_shop(clean_db)


def viewport_shot(page: Page, name: str) -> None:
    """What the analyst sees right now (not the full page): where the eye is after a click."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.mark.parametrize("width", WIDTHS)
def test_a_step_click_brings_its_flows_into_view_with_focus(
    page: Page, shop: None, browser_login: Login, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    browser_login(page, Role.viewer)
    page.goto("/flows/orders")
    title = page.locator("#drill-title")
    expect(title).not_to_be_in_viewport()  # the list starts below the diagram

    page.locator('a[data-step="paid"]').click()
    expect(title).to_contain_text("Payment captured")
    expect(title).to_be_in_viewport()
    expect(title).to_be_focused()
    viewport_shot(page, f"ux-step-click-{width}")

    # A filter inside the list keeps the heading in view and names the filter.
    page.get_by_role("link", name="Dropped", exact=True).click()
    expect(title).to_contain_text("dropped")
    expect(title).to_contain_text("Payment captured")
    expect(title).to_be_in_viewport()
    expect(title).to_be_focused()

    page.get_by_role("link", name="Back to the diagram").click()
    expect(page.locator('a[data-step="paid"]')).to_be_in_viewport()
