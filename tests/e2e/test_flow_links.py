"""Issue 13, points 7 and 8 in the browser: 'Open in notebook' reproduces what was on screen
(the notebook runs the FQL and counts the same), trace ids link to the trace UI, money shows
its currency to the cent, no "longest wait" on a 0 s gap, and the events explorer searches by
correlation id with the busiest provider first."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database, transaction
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.service import save_flow
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.e2e.conftest import LIVE_SETTINGS
from tests.flows.correlation_support import drain
from tests.flows.views_support import SHOP, make_shop

Login = Callable[[Page, Role], None]
Shot = Callable[[Page, str], Path]
WIDTHS = [1280, 390]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def shop(clean_db: Database) -> None:
    make_shop(clean_db)


def _notebook_rows(page: Page) -> int:
    count = page.locator("#row-count")
    expect(count).to_be_visible()
    match = re.match(r"([\d,]+) rows?", count.inner_text())
    assert match, count.inner_text()
    return int(match.group(1).replace(",", ""))


def _badge_count(page: Page, state: str) -> int:
    text = page.locator(f"#overview .states .badge.{state}").inner_text()
    return int(text.split()[0].replace(",", ""))


@pytest.mark.parametrize("width", WIDTHS)
def test_open_in_notebook_from_the_flow_and_a_filter_counts_the_same(
    page: Page, shop: None, browser_login: Login, screenshot: Shot, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, Role.viewer)
    page.goto("/flows/orders?range=24h")
    started = sum(_badge_count(page, s) for s in ("completed", "in_progress", "stalled", "dropped"))
    assert started > 0
    screenshot(page, f"flow-open-in-notebook-{width}")
    page.locator(".timeframe-label a.open-notebook").click()
    page.wait_for_url(re.compile(r"/query\?"))
    expect(page.locator("#query-text")).to_have_value(re.compile(r'filter flow == "orders"'))
    assert _notebook_rows(page) == started
    screenshot(page, f"notebook-from-flow-{width}")

    # A drill-down filter (dropped flows at "Payment captured") opens as its own FQL.
    page.goto("/flows/orders?range=24h&step=paid&status=dropped")
    shown = page.locator("#drilldown table.data tbody tr").count()
    assert shown >= 1
    screenshot(page, f"drilldown-open-in-notebook-{width}")
    page.locator("#drilldown a.open-notebook").click()
    page.wait_for_url(re.compile(r"/query\?"))
    expect(page.locator("#query-text")).to_have_value(re.compile(r'state == "dropped"'))
    assert _notebook_rows(page) == shown

    # By state alone: the notebook's count is the page's badge.
    page.goto("/flows/orders?range=24h&status=dropped")
    dropped = _badge_count(page, "dropped")
    page.locator("#drilldown a.open-notebook").click()
    page.wait_for_url(re.compile(r"/query\?"))
    assert _notebook_rows(page) == dropped


@pytest.mark.parametrize("width", WIDTHS)
def test_open_in_notebook_from_a_step_alone_counts_the_same(
    page: Page, shop: None, browser_login: Login, screenshot: Shot, width: int
) -> None:
    """The "reached the step" list and the "exception at the step" list (issue 13, point 8):
    the notebook's FQL reads the instance's `steps` / `exception.steps`."""
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, Role.viewer)
    for url, fql, expected in (
        ("/flows/orders?range=24h&step=paid", 'in("paid", steps)', 5),
        (
            "/flows/orders?range=24h&step=shipped&status=exception",
            'in("shipped", exception.steps)',
            1,
        ),
    ):
        page.goto(url)
        total = page.locator("#drill-count strong")
        expect(total).to_be_visible()
        listed = int(total.inner_text().replace(",", ""))
        assert listed == expected
        screenshot(page, f"step-open-in-notebook-{expected}-{width}")
        page.locator("#drilldown a.open-notebook").click()
        page.wait_for_url(re.compile(r"/query\?"))
        expect(page.locator("#query-text")).to_have_value(re.compile(re.escape(fql)))
        assert _notebook_rows(page) == listed
        screenshot(page, f"notebook-from-step-{expected}-{width}")


def test_open_in_notebook_from_a_timeline_lists_its_events(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/flows/orders/instances/A-6")
    events = int(page.locator("dl.facts dt:text-is('Events') + dd").inner_text())
    page.locator("a.open-notebook").click()
    page.wait_for_url(re.compile(r"/query\?"))
    expect(page.locator("#query-text")).to_have_value(re.compile(r'`order.id` == "A-6"'))
    assert _notebook_rows(page) == events == 3
    screenshot(page, "notebook-from-timeline")


@pytest.fixture
def trace_url(live_server: str) -> Iterator[None]:
    # The live server's app is shared by the session: set its template for this test only.
    settings = LIVE_SETTINGS[-1]
    settings.trace_url = "https://jaeger.example/trace/{trace_id}"
    yield
    settings.trace_url = None


def test_trace_ids_link_to_the_configured_trace_ui(
    page: Page, shop: None, browser_login: Login, trace_url: None
) -> None:
    browser_login(page, Role.viewer)
    page.goto("/flows/orders/instances/A-6")
    link = page.locator("a.trace-link")
    expect(link).to_have_attribute("href", f"https://jaeger.example/trace/{TRACE}")
    expect(link).to_have_text(TRACE)


def _same_second_flow(db: Database) -> None:
    """A flow in USD whose two events arrive in the same second, and a 1,234.5 order."""
    data: dict[str, Any] = {
        **SHOP,
        "slug": "usd",
        "name": "US orders",
        "providers": ["us"],
        "revenue": {**SHOP["revenue"], "currency": "USD"},
    }
    now = datetime.now(UTC) - timedelta(minutes=30)
    attrs: dict[str, Any] = {"order": {"id": "U-1", "total": 1234.5}}
    events = [
        NewEvent(
            provider="us",
            event_id=uuid.uuid4().hex,
            type=t,
            timestamp=now + timedelta(milliseconds=100 * n),
            attributes=attrs,
        )
        for n, t in enumerate(["order.placed", "payment.captured"])
    ]
    with transaction(db.sessions) as session:
        save_flow(session, FlowDefinition.model_validate(data), "test")
        store_events(session, events)
    drain(db)


@pytest.mark.parametrize("width", WIDTHS)
def test_money_has_its_currency_and_cents_and_no_wait_badge_on_a_0s_gap(
    page: Page, clean_db: Database, browser_login: Login, screenshot: Shot, width: int
) -> None:
    _same_second_flow(clean_db)
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, Role.viewer)
    page.goto("/")
    expect(page.get_by_text("$1,234.50").first).to_be_visible()
    page.goto("/flows/usd?range=24h")
    expect(page.locator(".kpi .kpi-value").first).to_have_text("$1,234.50")
    page.goto("/flows/usd/instances/U-1")
    expect(page.locator("dl.facts")).to_contain_text("$1,234.50")
    expect(page.locator(".delta").nth(1)).to_have_text("+0 s")
    expect(page.get_by_text("longest wait", exact=True)).to_have_count(0)
    screenshot(page, f"timeline-money-{width}")


def test_events_explorer_finds_a_correlation_id_and_puts_the_busiest_provider_first(
    page: Page, shop: None, clean_db: Database, browser_login: Login, screenshot: Shot
) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    with transaction(clean_db.sessions) as session:
        store_events(
            session,
            [
                NewEvent(
                    provider="quiet", event_id="q1", type="ping", timestamp=old, attributes={}
                ),
                NewEvent(
                    provider="aaa.small",
                    event_id="s1",
                    type="hello",
                    timestamp=datetime.now(UTC),
                    attributes={},
                ),
            ],
        )
    browser_login(page, Role.viewer)
    page.goto("/events")
    captions = page.locator("table.data caption").all_inner_texts()
    assert captions == ["shop", "aaa.small"]  # busiest first; "quiet" had nothing in 24 h
    page.get_by_label("Correlation id").fill("A-3")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"cid=A-3"))
    items = page.locator("ol.events-list > li")
    expect(items).to_have_count(2)  # placed, paid
    for item in items.all():
        assert '"A-3"' in (item.locator("pre").text_content() or "")
    screenshot(page, "events-by-correlation-id")


def test_a_timeframe_in_a_query_result_reads_as_text(
    page: Page, shop: None, browser_login: Login, screenshot: Shot
) -> None:
    browser_login(page, Role.viewer)
    query = "fetch bizevents | makeTimeseries n = count(), interval: 1h"
    page.goto(f"/query?q={quote(query)}&from=-6h")
    cell = page.locator("table.data tbody tr").first.locator("td").first
    expect(cell).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC – .+ UTC$"))
    screenshot(page, "notebook-timeframe-text")
