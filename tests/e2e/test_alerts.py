"""JOURNEY step 5 in a real browser: New alert on a flow's KPI card opens the rule form
prefilled, the preview chart is drawn, Suggest values fills the threshold, the rule is saved,
the evaluator (driven here as the scheduler would) opens an alert on fresh business
exceptions, and the alert shows on the Alerts page with the nav badge."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.alerts.evaluator import evaluate_due
from flowscope.auth.models import Role
from flowscope.db import Database, transaction
from flowscope.ingest.schemas import NewEvent
from tests.flows.correlation_support import drain, ingest
from tests.flows.factories import make_shop_flow

Login = Callable[[Page, Role], None]
Shot = Callable[[Page, str], Path]


def _orders(db: Database, n: int, minutes_ago: float, declined: bool) -> None:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    events = []
    for _ in range(n):
        cid = uuid.uuid4().hex[:10]
        order = {"order": {"id": cid, "total": 25}}
        events.append(NewEvent("shop", uuid.uuid4().hex, "order.placed", at, order))
        kind = "payment.declined" if declined else "payment.captured"
        events.append(NewEvent("shop", uuid.uuid4().hex, kind, at + timedelta(seconds=20), order))
    ingest(db, events)


def test_new_alert_from_a_kpi_card_to_the_alerts_page(
    page: Page, clean_db: Database, browser_login: Login, screenshot: Shot
) -> None:
    make_shop_flow(clean_db, timeouts={"stall": "10m", "drop": "1h"})
    for hours in range(1, 12):
        _orders(clean_db, 3, hours * 60, declined=hours % 4 == 0)
    drain(clean_db)
    browser_login(page, Role.editor)
    page.goto("/flows/orders")
    card = page.locator(".kpi", has=page.get_by_role("heading", name="Business exceptions"))
    card.get_by_role("link", name="New alert").click()
    expect(page).to_have_url(re.compile(r"/alert-rules/new\?flow=orders&kpi=exceptions"))
    expect(page.get_by_label("Name")).to_have_value("Business exceptions of orders")
    # the live preview: the series over the last 7 days, drawn as SVG
    expect(page.locator("#preview svg polyline.series")).to_be_visible()
    expect(page.locator("#preview")).to_contain_text("Would have opened")
    page.get_by_role("button", name="Suggest values").click()
    expect(page.locator("#suggestion")).to_contain_text("p99 + 1.5 × IQR")
    page.get_by_label("Threshold").fill("0")
    page.locator("#violating").fill("1")
    page.locator("#of").fill("5")
    page.locator("#interval_seconds").fill("60")
    page.locator("#rule-form").dispatch_event("change")
    # the threshold: a flat line (no height, so checked by its points)
    expect(page.locator("#preview svg polyline.bound")).to_have_attribute(
        "points", re.compile(r"\d")
    )
    expect(page.locator("#preview")).to_contain_text("above 0")
    expect(page.locator("#preview")).not_to_contain_text("No threshold yet")
    screenshot(page, "alert-rule-form")
    page.set_viewport_size({"width": 390, "height": 900})
    screenshot(page, "alert-rule-form-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("heading", name="Business exceptions of orders")).to_be_visible()
    expect(page.locator("#preview svg")).to_be_visible()

    # fresh business exceptions, then one evaluator tick as the scheduler would run it
    _orders(clean_db, 2, 2, declined=True)
    drain(clean_db)
    with transaction(clean_db.sessions) as session:
        report = evaluate_due(session, (), datetime.now(UTC) + timedelta(minutes=1))
    assert report.opened == 1, report

    page.get_by_role("link", name="Alerts", exact=False).first.click()
    expect(page.locator("#nav-alerts .nav-badge")).to_have_text("1")
    row = page.locator("#alerts tbody tr").first
    expect(row).to_contain_text("Business exceptions of orders")
    expect(row).to_contain_text("open")
    expect(row).to_contain_text("warning")
    screenshot(page, "alerts-page")
    page.set_viewport_size({"width": 390, "height": 900})
    screenshot(page, "alerts-page-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/flows/orders")
    expect(page.locator("#flow-alerts")).to_contain_text("Business exceptions of orders")
    screenshot(page, "flow-page-with-alert")
