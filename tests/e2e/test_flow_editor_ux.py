"""The flow editor's step handling in Chromium (issue 13, point 9): a blank new step, focus,
unwired steps, Cancel with unsaved changes, the live diagram and dragging steps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.flows.definitions import service
from tests.e2e.test_flow_editor import _htmx
from tests.flows.factories import definition

Login = Callable[[Page, Role], None]
Shot = Callable[[Page, str], Path]


STEPS = [
    {"key": "placed", "name": "Order placed", "events": [{"type": "order.placed"}]},
    {"key": "paid", "name": "Paid", "events": [{"type": "payment.captured"}]},
    {"key": "shipped", "name": "Shipped", "events": [{"type": "parcel.shipped"}]},
]


def _store(db: Database, **kwargs: object) -> None:
    flow = definition(slug="orders", providers=["shop"], steps=STEPS, **kwargs)
    with db.sessions.begin() as s:
        service.store_definition(s, flow, "t")


def _keys(page: Page) -> list[str]:
    return page.eval_on_selector_all("fieldset.step", "fs => fs.map(f => f.dataset.key)")


def _nodes(page: Page) -> list[str]:
    return page.eval_on_selector_all("#live-diagram g.step", "gs => gs.map(g => g.dataset.step)")


def test_add_step_focuses_it_and_a_blank_one_does_not_stop_the_preview(
    page: Page, clean_db: Database, browser_login: Login, screenshot: Shot
) -> None:
    _store(clean_db)
    browser_login(page, Role.editor)
    page.goto("/flows/manage/orders/edit")
    _htmx(page, lambda: page.click("text=+ Add step"))
    expect(page.locator("[name=steps-3-key]")).to_be_focused()
    _htmx(page, lambda: page.click("text=Preview matches"))
    expect(page.locator("#preview-summary")).to_contain_text("unique flows")
    expect(page.locator("#preview")).not_to_contain_text("is required")
    # Moving a step with its button keeps the focus on that step's button.
    _htmx(page, lambda: page.click("[aria-label='Move down step 1']"))
    expect(page.locator("#step-1-down")).to_be_focused()


def test_a_step_left_out_of_listed_edges_is_flagged_in_form_and_diagram(
    page: Page, clean_db: Database, browser_login: Login, screenshot: Shot
) -> None:
    edges = [{"from": "placed", "to": "paid"}, {"from": "paid", "to": "shipped"}]
    _store(clean_db, edges=edges)
    browser_login(page, Role.editor)
    page.goto("/flows/manage/orders/edit")
    expect(page.locator("#edge-warning")).to_have_count(0)
    _htmx(page, lambda: page.click("text=+ Add step"))
    expect(page.locator("#edge-warning")).to_contain_text("step 4 is in none of them")
    page.fill("[name=steps-3-key]", "returned")
    page.fill("[name=steps-3-name]", "Returned")
    page.press("[name=steps-3-name]", "Tab")
    expect(page.locator("#live-diagram g.step.unwired")).to_have_attribute("data-step", "returned")
    screenshot(page, "flow-editor-unwired")


def test_cancel_asks_before_dropping_changes(
    page: Page, live_server: str, browser_login: Login
) -> None:
    browser_login(page, Role.editor)
    page.goto("/flows/manage/new")
    asked: list[str] = []

    def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.fill("#name", "Half typed")
    page.once("dialog", lambda d: answer(d, False))
    page.click("#flow-cancel")
    assert asked
    assert "Leave without saving" in asked[0]
    assert page.url.endswith("/flows/manage/new")
    assert page.input_value("#name") == "Half typed"
    page.once("dialog", lambda d: answer(d, True))
    page.click("#flow-cancel")
    page.wait_for_url(f"{live_server}/flows/manage")
    assert len(asked) == 2
    # Nothing changed: Cancel leaves without a question.
    page.goto("/flows/manage/new")
    page.click("#flow-cancel")
    page.wait_for_url(f"{live_server}/flows/manage")
    assert len(asked) == 2


def test_the_live_diagram_follows_the_form(
    page: Page, clean_db: Database, browser_login: Login, screenshot: Shot
) -> None:
    _store(clean_db)
    browser_login(page, Role.editor)
    page.goto("/flows/manage/orders/edit")
    expect(page.locator("#live-diagram g.step")).to_have_count(3)
    assert _nodes(page) == ["placed", "paid", "shipped"]
    form, aside = page.locator("#flow-form").bounding_box(), page.locator("aside").bounding_box()
    assert form
    assert aside
    assert aside["x"] >= form["x"] + form["width"]  # beside, not below
    assert aside["y"] < form["y"] + 200
    screenshot(page, "flow-editor-live-diagram")
    _htmx(page, lambda: page.click("text=+ Add step"))
    page.fill("[name=steps-3-key]", "returned")
    page.press("[name=steps-3-key]", "Tab")
    expect(page.locator("#live-diagram g.step")).to_have_count(4)
    page.fill("[name=steps-1-key]", "paid!")
    page.press("[name=steps-1-key]", "Tab")
    expect(page.locator("#live-diagram")).to_contain_text("is not a step key")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "flow-editor-live-diagram-390")


def test_a_step_is_dragged_into_place(page: Page, clean_db: Database, browser_login: Login) -> None:
    _store(clean_db)
    browser_login(page, Role.editor)
    page.set_viewport_size({"width": 1280, "height": 2000})  # both steps on screen: no autoscroll
    page.goto("/flows/manage/orders/edit")
    expect(page.locator("#live-diagram g.step")).to_have_count(3)
    _htmx(page, lambda: page.drag_and_drop("#step-2 .drag-handle", "#step-0"))
    assert _keys(page) == ["shipped", "placed", "paid"]
    assert page.input_value("[name=steps-0-events-0-type]") == "parcel.shipped"
    expect(page.locator("#live-diagram g.step").first).to_have_attribute("data-step", "shipped")
    # The arrow buttons are still there for the keyboard.
    expect(page.locator("[aria-label='Move up step 2']")).to_be_enabled()
