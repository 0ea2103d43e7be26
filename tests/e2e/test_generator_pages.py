"""The generator pages in headless Chromium: HTMX template switching, inline errors, Run now."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.auth.models import Role


def test_an_editor_creates_and_runs_a_generator(
    page: Page,
    live_server: str,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    browser_login(page, Role.editor)
    page.goto("/generators/new")
    page.select_option("#template", "insurance-claim")
    # locator waits, not wait_for_function: the CSP forbids the eval its polling uses
    expect(page.locator("#source")).to_have_value(re.compile(r"insurer\."))
    screenshot(page, "generator-new")
    source = page.input_value("#source")
    page.fill("#source", source.replace("percent: 12}", "percent: 112}"))
    page.click("text=Create generator")
    page.wait_for_selector("#problems")
    assert "exceptions.1.percent" in page.inner_text("#problems")
    screenshot(page, "generator-invalid")

    page.fill("#source", source)
    page.click("text=Create generator")
    page.wait_for_url(f"{live_server}/generators/insurance-claim")
    page.click("text=Run now")
    page.wait_for_url(f"{live_server}/generators/insurance-claim")
    expect(page.locator("#runs[aria-busy]")).to_have_count(0, timeout=60_000)
    expect(page.locator("#runs tbody tr td").first).to_have_text("manual", timeout=60_000)
    screenshot(page, "generator-detail")

    page.click("nav >> text=Generators")
    page.wait_for_load_state("networkidle")
    assert "Insurance claim" in page.inner_text("main")
    screenshot(page, "generator-list")
