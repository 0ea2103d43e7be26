"""A dashboard in real Chromium: build three tiles, change the timeframe, export, re-import."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.generator.run import run_generator
from flowscope.generator.service import create_generator, get_template
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.wiring import FLOW_CREATED_HOOKS
from tests.flows.correlation_support import drain


def _events(db: Database) -> None:
    """60 events, one every 3 minutes over the last 3 hours: 10 of them in the last 30 min."""
    now = datetime.now(UTC)
    types = ["order.placed", "order.paid", "order.shipped"]
    with db.sessions.begin() as s:
        store_events(
            s,
            [
                NewEvent("shop", f"e{i}", types[i % 3], now - timedelta(minutes=3 * i + 1), {})
                for i in range(60)
            ],
        )


def _add_tile(page: Page, title: str, viz: str, query: str = "", markdown: str = "") -> None:
    form = page.locator("#add-tile-form")
    form.get_by_label("Title", exact=True).fill(title)
    form.get_by_label("Kind").select_option("markdown" if markdown else "data")
    form.get_by_label("Visualization").select_option(viz)
    form.get_by_label("FQL query", exact=True).fill(query)
    form.get_by_label("Markdown", exact=True).fill(markdown)
    form.get_by_role("button", name="Add tile").click()
    expect(page.locator(".tile h2", has_text=title)).to_be_visible()


def test_build_a_dashboard_change_timeframe_export_and_import(
    page: Page,
    clean_db: Database,
    browser_login: Callable[[Page, Role], None],
    screenshot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    _events(clean_db)
    browser_login(page, Role.editor)
    page.goto("/query")
    page.get_by_role("navigation").get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    page.get_by_label("Name").fill("Shop overview")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#dashboard-name")).to_have_text("Shop overview")

    _add_tile(page, "About", "table", markdown="## Shop\nOrders **placed**, paid and shipped.")
    _add_tile(page, "Events", "single", "fetch bizevents | summarize events = count()")
    _add_tile(
        page,
        "Events over time",
        "line",
        "fetch bizevents | makeTimeseries events = count(), by: {event.type}",
    )
    # widen the chart to the full row
    chart_tile = page.locator(".tile", has=page.locator("h2", has_text="Events over time"))
    for width in range(5, 13):  # each click reloads the page: wait for it before the next
        chart_tile.get_by_role("button", name="Wider").click()
        expect(chart_tile).to_have_attribute("style", re.compile(f"span {width};"))
    # below the note (2 rows) and the single value (2 rows)
    expect(chart_tile).to_have_attribute("style", re.compile(r"1 / span 12; grid-row: 5 / span 3"))
    screenshot(page, "dashboard-editing")

    page.locator("#done-editing").click()
    expect(page.locator(".tile-value")).to_have_text("60")
    expect(page.locator(".tile-chart canvas")).to_have_count(1)
    expect(page.locator(".tile-body.markdown strong")).to_have_text("placed")
    screenshot(page, "dashboard-24h")

    page.locator("#dash-from").fill("-30m")
    page.locator("#apply-timeframe").click()
    expect(page.locator(".tile-value")).to_have_text("10")
    expect(page.locator(".tile-chart canvas")).to_have_count(1)
    assert "from=-30m" in page.url
    screenshot(page, "dashboard-30m")

    with page.expect_download() as download:
        page.locator("#export-link").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert [t["title"] for t in exported["tiles"]] == ["About", "Events", "Events over time"]
    exported["slug"] = "shop-overview-copy"
    exported["name"] = "Shop overview (copy)"
    file = tmp_path / "copy.dashboard.json"
    file.write_text(json.dumps(exported))

    page.goto("/dashboards")
    page.locator("#import-file").set_input_files(str(file))
    page.locator("#import-form").get_by_role("button", name="Import").click()
    expect(page.locator("#dashboard-name")).to_have_text("Shop overview (copy)")
    expect(page.locator(".tile-value")).to_have_text("60")
    expect(page.locator(".tile-chart canvas")).to_have_count(1)
    screenshot(page, "dashboard-imported")
    page.goto("/dashboards")
    expect(page.locator("#dashboard-list tbody tr")).to_have_count(2)

    # a generated flow comes with the template dashboard (the generator's hook)
    source = get_template("retail").source.replace("volume: 120", "volume: 6")
    with clean_db.sessions.begin() as s:
        generator = create_generator(s, source, "test")
        run_generator(s, generator, datetime.now(UTC), on_flow_created=FLOW_CREATED_HOOKS)
    drain(clean_db)
    page.goto("/dashboards")
    page.get_by_role("link", name="Online order fulfillment — overview").click()
    expect(page.locator(".tile-value")).to_have_count(3)
    expect(page.locator(".tile-chart canvas")).to_have_count(6)
    expect(page.locator(".tile-error")).to_have_count(0)
    screenshot(page, "dashboard-template-retail")
