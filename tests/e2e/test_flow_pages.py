"""The analyst's path (JOURNEY step 4) in a real browser: flows list, flow page, step
drill-down, filters, timeline, timeframe, keyboard, phone width, hostile data."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from tests.flows.views_support import HOSTILE, make_shop

Login = Callable[[Page, Role], None]
Shot = Callable[[Page, str], Path]


@pytest.fixture
def shop(clean_db: Database) -> None:
    make_shop(clean_db)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"the page scrolls sideways ({width}px > {viewport}px)"


def test_home_without_flows_explains_the_next_step(
    page: Page, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/")
    expect(page.get_by_role("heading", name="No flows yet")).to_be_visible()
    expect(page.get_by_text("flowscope flows import")).to_be_visible()
    screenshot(page, "flows-empty")


def test_analyst_path_drop_at_a_step_then_its_timeline(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/")
    expect(page.get_by_role("link", name="Online orders")).to_be_visible()
    expect(page.locator(".flow-card .results-age")).to_contain_text(
        re.compile(r"results as of .+ ago")
    )
    screenshot(page, "flows-list")
    page.get_by_role("link", name="Online orders").click()
    expect(page.get_by_role("heading", name="Online orders", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Order revenue")).to_be_visible()
    expect(page.locator("#overview .results-age")).to_contain_text(
        re.compile(r"Results as of .+ ago")
    )
    screenshot(page, "flow-page")

    page.evaluate("window.__sameDocument = true")
    page.locator('a[data-step="paid"]').click()
    expect(page.locator("#drill-title")).to_contain_text("Payment captured")
    expect(page).to_have_url(re.compile(r"step=paid"))
    assert page.evaluate("window.__sameDocument") is True, "the step click reloaded the page"

    page.get_by_role("link", name="Dropped", exact=True).click()
    expect(page).to_have_url(re.compile(r"status=dropped"))
    rows = page.locator("table.instances tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("A-3")
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "flow-step-dropped")

    page.get_by_role("link", name="A-3").click()
    expect(page.get_by_role("heading", name="Flow A-3")).to_be_visible()
    expect(page.locator("li.event")).to_have_count(2)
    expect(page.locator("li.event.longest")).to_have_count(1)
    screenshot(page, "flow-timeline")
    page.get_by_role("link", name="Online orders").first.click()
    expect(page.get_by_role("heading", name="Online orders", exact=True)).to_be_visible()


def test_exception_step_filter_and_attribute_tree(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/flows/orders")
    page.locator('a[data-step="shipped"]').click()
    expect(page.locator("#drill-title")).to_contain_text("Parcel shipped")
    page.get_by_role("link", name="With business exception", exact=True).click()
    expect(page.locator("table.instances tbody tr")).to_have_count(1)
    page.locator("table.instances tbody tr").first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Flow A-6")).to_be_visible()
    failed = page.locator("li.event.has-exception")
    expect(failed).to_contain_text("shipping failed")
    expect(page.locator("li.event").first.locator(".tree").first).to_contain_text("Graz")
    page.locator("li.event").first.get_by_text("Raw JSON").click()
    expect(page.locator("li.event").first.locator("pre")).to_contain_text('"tier": "silver"')
    screenshot(page, "flow-timeline-exception")


def test_search_property_filter_sort_and_timeframe(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/flows/orders")
    page.get_by_label("Captured property").select_option("loyalty")
    page.get_by_label("equals").fill("gold")
    page.get_by_label("Sort by").select_option("revenue")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.instances tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("A-1")
    expect(page).to_have_url(re.compile(r"prop_value=gold"))
    page.get_by_label("Correlation id contains").fill("a-5")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("A-5")

    page.goto("/flows/orders")
    expect(page.get_by_role("link", name="PREV-1")).to_have_count(0)
    page.get_by_role("link", name="last 7 d").click()
    expect(page).to_have_url(re.compile(r"range=7d"))
    expect(page.get_by_role("link", name="PREV-1")).to_be_visible()
    page.get_by_text("Custom…").click()
    page.get_by_label("From (UTC)").fill("2020-01-01T00:00")
    page.get_by_label("To (UTC)").fill("2020-01-02T00:00")
    page.get_by_role("button", name="Apply").first.click()
    expect(page).to_have_url(re.compile(r"range=custom"))
    expect(page.get_by_text("No unique flows match this filter")).to_be_visible()
    screenshot(page, "flow-custom-timeframe")


def test_variants_conformance_and_auto_refresh(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/flows/orders")
    page.get_by_role("link", name="Variants").click()
    expect(page.locator("#drill-title")).to_have_text("Variants")
    expect(page.locator("td.variant").first).to_contain_text("Order placed")
    screenshot(page, "flow-variants")
    page.get_by_role("link", name="Conformance").click()
    expect(page.get_by_text("followed the defined steps")).to_be_visible()
    page.get_by_role("link", name="Auto-refresh off").click()
    expect(page.get_by_role("link", name="Auto-refresh on (30 s)")).to_be_visible()
    expect(page.locator("#poller")).to_have_attribute("hx-trigger", "every 30s")


def test_keyboard_reaches_a_step_and_enter_opens_its_flows(
    page: Page, shop: None, browser_login: Login
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/flows/orders")
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('data-step')") == "placed":
            break
    else:
        pytest.fail("Tab never reached the first step of the diagram")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('data-step')") == "paid"
    page.keyboard.press("Enter")
    expect(page.locator("#drill-title")).to_contain_text("Payment captured")
    for label in ("Correlation id contains", "Captured property", "equals", "Sort by"):
        expect(page.get_by_label(label)).to_be_visible()


def test_hostile_correlation_id_and_attributes_show_as_text(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_login(page, Role.viewer)
    page.goto("/flows/orders?step=placed&status=stalled")
    link = page.get_by_role("link", name=HOSTILE)
    expect(link).to_be_visible()
    expect(page.locator("table.instances")).to_contain_text(f"loyalty={HOSTILE}")
    link.click()
    expect(page.get_by_role("heading", name=f"Flow {HOSTILE}")).to_be_visible()
    expect(page.locator(".tree").first).to_contain_text(HOSTILE)
    assert page.locator("main img").count() == 0
    assert dialogs == []
    screenshot(page, "flow-timeline-hostile")


def test_an_editor_follows_edit_definition_to_the_flow_form(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.editor)
    page.goto("/flows/orders")
    page.get_by_role("link", name="Edit definition").click()
    expect(page).to_have_url(re.compile(r"/flows/manage/orders/edit$"))
    expect(page.get_by_role("heading", name=re.compile(r"^Edit Online orders"))).to_be_visible()
    expect(page.locator("#name")).to_have_value("Online orders")
    screenshot(page, "flow-edit-from-flow-page")


def test_a_viewer_gets_no_edit_link(page: Page, shop: None, browser_login: Login) -> None:
    browser_login(page, Role.viewer)
    page.goto("/flows/orders")
    expect(page.get_by_role("heading", name="Online orders", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Edit definition")).to_have_count(0)


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_fit_the_screen(
    page: Page, shop: None, browser_login: Login, screenshot: Shot, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, Role.viewer)
    for name, path in (
        ("flows-list", "/"),
        ("flow-page", "/flows/orders?step=paid"),
        ("flow-timeline", "/flows/orders/instances/A-6"),
        ("flow-conformance", "/flows/orders?tab=conformance"),
    ):
        page.goto(path)
        no_sideways_scroll(page)
        if width == 390:
            screenshot(page, f"{name}-phone")
