"""The flow editor in headless Chromium: build a 3-step flow in the form, reorder, preview, save."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import FilePayload, Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.flows.definitions import service
from flowscope.flows.definitions.yaml_io import to_yaml
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.flows.factories import definition


def _seed(db: Database) -> None:
    now = datetime.now(UTC) - timedelta(days=1)
    events = []
    for n in range(4):
        attrs = {"order": {"id": f"o{n}"}}
        events.append(NewEvent("shop", f"p{n}", "order.placed", now, attrs))
        events.append(NewEvent("shop", f"c{n}", "payment.captured", now, attrs))
        if n < 2:
            events.append(NewEvent("shop", f"s{n}", "parcel.shipped", now, attrs))
    events.append(NewEvent("billing", "i1", "invoice.sent", now, {"invoice": {"number": "7"}}))
    with db.sessions.begin() as s:
        store_events(s, events)


def _htmx(page: Page, action: Callable[[], None]) -> None:
    """Do `action` and wait until the HTMX request it starts has been answered and swapped."""
    with page.expect_response(lambda r: "/flows/manage/" in r.url):
        action()
    # a locator wait, not wait_for_function: the CSP forbids the eval its polling uses
    expect(page.locator(".htmx-request")).to_have_count(0)


def test_an_editor_builds_reorders_previews_and_saves_a_flow(
    page: Page,
    live_server: str,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    _seed(clean_db)
    browser_login(page, Role.editor)
    page.click("nav >> text=Edit flows")
    page.wait_for_url(f"{live_server}/flows/manage")
    page.click("text=New flow")
    page.wait_for_url(f"{live_server}/flows/manage/new")
    page.fill("#name", "Online orders")
    page.fill("#slug", "online-orders")
    page.fill("#correlation", "order.id")
    _htmx(page, lambda: page.check("input[name=providers][value=shop]"))
    # The event types seen for the chosen provider are offered.
    offered = page.eval_on_selector_all("#event-types option", "os => os.map(o => o.value)")
    assert offered == ["order.placed", "parcel.shipped", "payment.captured"]

    steps = [("placed", "Order placed", "order.placed"), ("shipped", "Shipped", "parcel.shipped")]
    steps.insert(1, ("paid", "Paid", "payment.captured"))
    order = [steps[0], steps[2], steps[1]]  # typed out of order, then moved into place
    for i, (key, name, etype) in enumerate(order):
        if i > 0:
            _htmx(page, lambda: page.click("text=+ Add step"))
        page.fill(f"[name=steps-{i}-key]", key)
        page.fill(f"[name=steps-{i}-name]", name)
        page.fill(f"[name=steps-{i}-events-0-type]", etype)
    screenshot(page, "flow-editor-three-steps")

    _htmx(page, lambda: page.click("[aria-label='Move up step 3']"))
    keys = page.eval_on_selector_all("fieldset.step", "fs => fs.map(f => f.dataset.key)")
    assert keys == ["placed", "paid", "shipped"]
    assert page.input_value("[name=steps-2-events-0-type]") == "parcel.shipped"

    _htmx(page, lambda: page.click("text=Preview matches"))
    summary = page.inner_text("#preview-summary")
    assert "10 events and 4 unique flows in the last 30 days" in summary
    screenshot(page, "flow-editor-preview")

    page.click("text=Create flow")
    page.wait_for_url(f"{live_server}/flows/manage")
    assert "Online orders: saved as version 1" in page.inner_text("#flash")
    screenshot(page, "flow-editor-list")
    with clean_db.sessions() as s:
        saved = service.definition_of(service.get_flow(s, "online-orders"))
    assert [st.key for st in saved.steps] == ["placed", "paid", "shipped"]
    assert saved.providers == ["shop"]


def test_invalid_fields_are_marked_in_the_browser(
    page: Page,
    live_server: str,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    browser_login(page, Role.editor)
    page.goto("/flows/manage/new")
    page.fill("#name", "Broken")
    page.fill("#slug", "Not A Slug")
    page.fill("#providers_extra", "shop")
    # leaving the providers refreshes the steps (their event types): wait for that swap, which
    # would otherwise replace the step typed below with the steps as they were when it left
    _htmx(page, lambda: page.locator("#providers_extra").press("Tab"))
    page.fill("#correlation", "order.id")
    page.fill("[name=steps-0-key]", "placed")
    page.click("text=Create flow")
    page.wait_for_selector("#problems")
    assert "is not a slug" in page.inner_text("#err-slug")
    assert "is required" in page.inner_text("#err-steps-0-name")
    assert "add at least one event type" in page.inner_text("#err-steps-0-events")
    screenshot(page, "flow-editor-errors")


def test_suggest_from_events_gives_a_flow_in_one_click(
    page: Page,
    live_server: str,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    _seed(clean_db)
    browser_login(page, Role.editor)
    page.goto("/flows/manage")
    page.click("text=Suggest from events")
    page.wait_for_url(f"{live_server}/flows/manage/suggest")
    page.select_option("#provider", "billing")
    page.wait_for_selector("#correlation option:text('invoice.number')", state="attached")
    _htmx(page, lambda: page.select_option("#provider", "shop"))
    assert page.input_value("#correlation") == "order.id"
    screenshot(page, "flow-editor-suggest")
    page.click("text=Suggest a draft")
    page.wait_for_selector("fieldset.step")
    keys = page.eval_on_selector_all("fieldset.step", "fs => fs.map(f => f.dataset.key)")
    assert keys == ["order-placed", "payment-captured", "parcel-shipped"]
    screenshot(page, "flow-editor-suggested-draft")
    page.click("text=Create flow")
    page.wait_for_url(f"{live_server}/flows/manage")
    page.click("text=History")
    page.wait_for_url(f"{live_server}/flows/manage/shop/history")
    assert "created" in page.inner_text("table.data")
    screenshot(page, "flow-editor-history")


def test_a_yaml_upload_creates_the_flow_or_says_where_it_is_wrong(
    page: Page,
    live_server: str,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
) -> None:
    browser_login(page, Role.editor)
    page.goto("/flows/manage")
    text = to_yaml(definition(slug="orders", providers=["shop"]))
    broken = text.replace("key: paid", "key: paid!")
    page.set_input_files("#file", files=[_file("orders.yaml", broken)])
    page.click("button:text('Upload')")
    page.wait_for_selector("#problems")
    assert "steps[1].key" in page.inner_text("#problems")
    screenshot(page, "flow-editor-upload-error")
    page.set_input_files("#file", files=[_file("orders.yaml", text)])
    page.click("button:text('Upload')")
    page.wait_for_selector("#flash")
    assert "Online orders: created" in page.inner_text("#flash")
    assert "orders" in page.inner_text("table.data")

    page.click("table.data >> text=YAML")
    page.wait_for_url(f"{live_server}/flows/manage/yaml?slug=orders")
    page.fill("#source", page.input_value("#source").replace("drop: 1d", "drop: soon"))
    page.click("text=Save as version 2")
    page.wait_for_selector("#problems")
    assert "timeouts.drop: 'soon' is not a duration" in page.inner_text("#problems")
    screenshot(page, "flow-editor-yaml-error")


def _file(name: str, text: str) -> FilePayload:
    return {"name": name, "mimeType": "application/yaml", "buffer": text.encode()}
