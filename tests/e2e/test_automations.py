"""The automation pages in headless Chromium: build an automation in the form (an action added
and its type switched by HTMX), Run now, and the run history with each step's response."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.automations.dispatcher import dispatch
from flowscope.db import Database
from flowscope.settings import Settings
from tests.automations.receivers import Recorder, http_receiver


@pytest.fixture
def receiver() -> Iterator[Recorder]:
    with http_receiver() as recorder:
        yield recorder


def test_an_editor_creates_an_automation_runs_it_and_reads_its_history(
    page: Page,
    live_server: str,
    clean_db: Database,
    settings: Settings,
    receiver: Recorder,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    browser_login(page, Role.editor)
    page.goto("/")
    page.click("nav >> text=Automations")
    page.click("text=New automation")
    page.fill("#name", "Tell the shop <team>")
    page.fill("input[name=a0_url]", receiver.url + "/orders")
    page.fill("textarea[name=a0_body]", '{"run": {{ run.id }}, "by": {{ trigger | tojson }}}')
    page.fill("textarea[name=a0_secret_headers]", "Authorization: Bearer from-the-form")
    page.click("button[value=add]")
    # The post is boosted: htmx swaps the new form in, then binds its elements when the swap
    # settles. A change fired in between (Playwright acts as soon as the select shows) sends
    # nothing, and the swap awaited below never comes. (A locator wait: the CSP forbids the
    # eval that wait_for_function polls with.)
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    expect(page.locator("select[name=a1_type]")).to_be_visible()
    page.select_option("select[name=a1_type]", "slack")  # HTMX swaps in the Slack fields
    # the swap is a round trip to the live server: give it a loaded machine's time
    expect(page.locator("input[name=a1_url]")).to_have_attribute("type", "password", timeout=15_000)
    page.fill("input[name=a1_url]", receiver.url + "/slack")
    page.fill("textarea[name=a1_text]", "{{ automation.name }} ran ({{ previous.status }})")
    page.select_option("select[name=a1_when]", "always")
    # the values typed before the swap survived it
    expect(page.locator("input[name=a0_url]")).to_have_value(receiver.url + "/orders")
    screenshot(page, "automation-form")
    page.click("button[value=save]")
    expect(page.locator("#signing-secret")).to_be_visible()
    assert page.locator("h1").inner_text() == "Tell the shop <team>"
    page.click("#run-now")
    expect(page.locator("#runs summary").first).to_contain_text("pending")

    dispatch(clean_db, settings, budget_seconds=10)
    expect(page.locator("#runs summary").first).to_contain_text("succeeded", timeout=15_000)
    steps = page.locator("#runs tbody tr")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("200")
    assert "from-the-form" not in page.content()
    screenshot(page, "automation-detail")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "automation-detail-phone")

    [hit] = receiver.at("/orders")
    assert json.loads(hit.body) == {"run": 1, "by": "manual"}
    assert hit.headers["Authorization"] == "Bearer from-the-form"
    [slack] = receiver.at("/slack")
    assert json.loads(slack.body) == {"text": "Tell the shop <team> ran (succeeded)"}

    page.set_viewport_size({"width": 1280, "height": 900})
    page.click('main a:text-is("Edit")')
    expect(page.locator("textarea[name=a0_secret_headers]")).to_have_value(
        "Authorization: ••• set\n"
    )
    page.click("nav >> text=Automations")
    expect(page.locator("main table")).to_contain_text("Tell the shop <team>")
    screenshot(page, "automation-list")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "automation-list-phone")
