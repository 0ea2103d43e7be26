"""Every page on a 390 px phone (issue 13, point 5): no sideways page scroll, wide tables and
charts scroll inside their own box with a visible hint, ordinary words never break mid-word,
and dashboards fall into one column."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.generator.run import run_generator
from flowscope.generator.service import create_generator, get_template
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.wiring import FLOW_CREATED_HOOKS
from tests.flows.correlation_support import drain
from tests.flows.views_support import make_shop

Login = Callable[[Page, Role], None]
Shot = Callable[[Page, str], Path]
PHONE = {"width": 390, "height": 844}

# A query whose answer is wider than a phone: it must scroll inside its own box.
WIDE_QUERY = (
    "fetch bizevents | fields timestamp, event.provider, event.type, event.id, received_at,"
    " order.id | limit 20"
)


@pytest.fixture
def world(clean_db: Database) -> None:
    """The retail generator's flow, events and template dashboard, plus the shop flow."""
    source = get_template("retail").source.replace("volume: 120", "volume: 8")
    with clean_db.sessions.begin() as s:
        generator = create_generator(s, source, "test")
        run_generator(s, generator, datetime.now(UTC), on_flow_created=FLOW_CREATED_HOOKS)
    drain(clean_db)
    make_shop(clean_db)


# Finds words that the browser wrapped across two lines. A word is a run of non-space
# characters in one text node; it is broken when its glyphs sit on more than one line box.
# Text meant to break anywhere (secrets, code blocks, editors, ids) is skipped.
BROKEN_WORDS_JS = """
() => {
  const skip = "pre, textarea, script, style, .secret, .CodeMirror, [data-break-anywhere], svg";
  const broken = [];
  const main = document.querySelector("main") || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const host = node.parentElement;
    if (!host || host.closest(skip)) continue;
    if (!host.getClientRects().length) continue;
    const text = node.textContent;
    const re = /[^\\s\\-/|]{2,}/g;
    let m;
    while ((m = re.exec(text)) !== null) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set();
      for (const r of range.getClientRects()) {
        if (r.width > 0) tops.add(Math.round(r.top));
      }
      if (tops.size > 1) broken.push(m[0]);
    }
  }
  return broken;
}
"""

# Boxes that are wider inside than outside: each must scroll itself and show a hint.
OVERFLOWING_JS = """
() => {
  const out = [];
  for (const box of document.querySelectorAll("main *")) {
    if (box.closest("svg") || box.closest(".CodeMirror")) continue;
    if (box.scrollWidth > box.clientWidth + 1 && box.clientWidth > 0) {
      const style = getComputedStyle(box);
      if (!["auto", "scroll"].includes(style.overflowX)) continue;
      out.push({
        tag: box.tagName.toLowerCase() + (box.className ? "." + String(box.className) : ""),
        hint: box.dataset.scrolls === "x",
      });
    }
  }
  return out;
}
"""


# The outermost elements that reach past the right edge of the window, to name the culprit.
SIDEWAYS_JS = """
() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => e.parentElement.getBoundingClientRect().right <= window.innerWidth + 0.5)
  .slice(0, 5)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} ${e.getBoundingClientRect().right}`)
"""


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    if width > viewport:
        culprits = page.evaluate(SIDEWAYS_JS)
        raise AssertionError(
            f"{page.url}: the page scrolls sideways ({width}px > {viewport}px): {culprits}"
        )


def _whole_words(page: Page) -> None:
    broken = page.evaluate(BROKEN_WORDS_JS)
    assert broken == [], f"{page.url}: words broken mid-word: {broken}"


def _settle(page: Page) -> None:
    """Wait until HTMX has loaded every lazy part (dashboard tiles, query results)."""
    expect(page.locator(".loading:visible")).to_have_count(0, timeout=20_000)
    page.wait_for_load_state("networkidle")


PAGES = [
    ("flows", "/"),
    ("flow", "/flows/retail-orders"),
    ("flow-shop-step", "/flows/orders?step=paid"),
    ("flow-variants", "/flows/orders?tab=variants"),
    ("timeline", "/flows/orders/instances/A-6"),
    ("events", "/events"),
    ("generators", "/generators"),
    ("generator-new", "/generators/new"),
    ("generator", "/generators/retail-orders"),
    ("generator-edit", "/generators/retail-orders/edit"),
    ("query", "/query?q=fetch%20bizevents%20%7C%20limit%205&run=1"),
    ("dashboards", "/dashboards"),
    ("dashboard", "/dashboards/retail-orders"),
    ("dashboard-edit", "/dashboards/retail-orders?edit=1"),
    ("flows-manage", "/flows/manage"),
    ("flow-new", "/flows/manage/new"),
    ("flow-edit", "/flows/manage/orders/edit"),
    ("flow-history", "/flows/manage/orders/history"),
    ("tokens", "/admin/tokens"),
    ("users", "/admin/users"),
    ("audit", "/admin/audit"),
]


def _dashboard_slug(page: Page) -> str:
    page.goto("/dashboards")
    link = page.locator("#dashboard-list tbody a").first
    href = link.get_attribute("href")
    assert href
    return href


@pytest.mark.parametrize("width", [390, 1280])
def test_every_page_fits_the_screen_without_broken_words(
    page: Page, world: None, browser_login: Login, screenshot: Shot, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    browser_login(page, Role.admin)
    board = _dashboard_slug(page)
    problems: list[str] = []
    for name, path in PAGES:
        path = path.replace("/dashboards/retail-orders", board)
        response = page.goto(path)
        assert response is not None
        assert response.status < 400, f"{path}: {response.status}"
        _settle(page)
        screenshot(page, f"narrow-{name}" if width == PHONE["width"] else f"wide-{name}")
        for check in (_fits, _whole_words):
            try:
                check(page)
            except AssertionError as exc:
                problems.append(f"{name}: {exc}")
    assert problems == [], "\n".join(problems)


def test_the_sign_in_page_fits_a_phone(page: Page, screenshot: Shot) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/login")
    _fits(page)
    _whole_words(page)
    screenshot(page, "narrow-login")


def test_dashboard_is_one_column_on_a_phone_and_its_numbers_show_whole(
    page: Page, world: None, browser_login: Login, screenshot: Shot
) -> None:
    page.set_viewport_size(PHONE)
    browser_login(page, Role.viewer)
    page.goto(_dashboard_slug(page))
    _settle(page)
    expect(page.locator(".tile-chart canvas").first).to_be_visible()
    tiles: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('#dashboard-grid .tile')].map(t => {
             const r = t.getBoundingClientRect();
             return {left: r.left, width: r.width, top: r.top};
           })"""
    )
    grid_width = page.evaluate("document.getElementById('dashboard-grid').clientWidth")
    assert len(tiles) >= 4
    for tile in tiles:
        assert abs(tile["left"] - tiles[0]["left"]) < 1, tiles
        assert tile["width"] >= grid_width - 1, (tile, grid_width)
    tops = [t["top"] for t in tiles]
    assert len(set(tops)) == len(tops), "two tiles share a row"
    # a single value is shown whole: its text fits its tile
    for value in page.locator(".tile-value").all():
        fits = value.evaluate("v => v.scrollWidth <= v.closest('.tile-body').clientWidth")
        assert fits, value.inner_text()
    # charts get the tile's width, not a sliver
    for chart in page.locator(".tile-chart canvas").all():
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 250, box
    _fits(page)
    screenshot(page, "narrow-dashboard-one-column")


def test_a_wide_query_result_scrolls_in_its_box_with_a_hint(
    page: Page, world: None, browser_login: Login, screenshot: Shot
) -> None:
    page.set_viewport_size(PHONE)
    browser_login(page, Role.viewer)
    page.goto("/query")
    run = page.get_by_role("button", name="Run", exact=True)
    box = run.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= PHONE["width"], box
    page.goto(f"/query?q={quote(WIDE_QUERY)}")
    expect(page.locator("#result-table tbody tr")).to_have_count(20)
    # the hints are drawn on the animation frame after htmx settles the result: wait for one
    # before reading every box, or the read can land between the swap and that frame
    expect(page.locator(".scroll-hint").first).to_be_visible()
    _fits(page)
    boxes = page.evaluate(OVERFLOWING_JS)
    assert boxes, "the wide result should overflow its own box"
    assert all(b["hint"] for b in boxes), boxes
    hint = page.locator(".scroll-hint").first
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("Scroll sideways")
    screenshot(page, "narrow-query-wide")
    # on a wide screen the same table fits, and no hint is shown
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.locator(".scroll-hint:visible")).to_have_count(0)
    screenshot(page, "wide-query")


def test_the_flow_diagram_scrolls_in_its_box_with_a_hint(
    page: Page, world: None, browser_login: Login, screenshot: Shot
) -> None:
    page.set_viewport_size(PHONE)
    browser_login(page, Role.viewer)
    page.goto("/flows/retail-orders")
    _fits(page)
    wrap = page.locator(".diagram-wrap")
    overflows = wrap.evaluate("w => w.scrollWidth > w.clientWidth")
    if overflows:
        expect(wrap).to_have_attribute("data-scrolls", "x")
        expect(page.locator(".scroll-hint + .diagram-wrap")).to_have_count(1)
    screenshot(page, "narrow-flow-diagram")


LONG_PROVIDER = "warehouse.fulfillment.service-eu-west-1.production"
CHECKBOXES_JS = """
() => [...document.querySelectorAll("main input[type=checkbox]")]
  .filter(c => c.getClientRects().length)
  .map(c => {
    const r = c.getBoundingClientRect();
    return {name: c.name, width: Math.round(r.width), height: Math.round(r.height)};
  })
"""


def test_checkboxes_keep_their_size_on_a_phone(
    page: Page, world: None, clean_db: Database, browser_login: Login, screenshot: Shot
) -> None:
    """Issue 13, point 10: a checkbox whose label wraps (a long provider name in the flow
    editor) was drawn oversized at 390 px."""
    with clean_db.sessions.begin() as s:
        store_events(s, [NewEvent(LONG_PROVIDER, "long-1", "a.b", datetime.now(UTC), {})])
    page.set_viewport_size(PHONE)
    browser_login(page, Role.admin)
    board = _dashboard_slug(page)
    seen = 0
    for _name, path in PAGES:
        page.goto(path.replace("/dashboards/retail-orders", board))
        boxes: list[dict[str, Any]] = page.evaluate(CHECKBOXES_JS)
        seen += len(boxes)
        for box in boxes:
            assert 10 <= box["width"] <= 24, (path, box)
            assert 10 <= box["height"] <= 24, (path, box)
    assert seen >= 6


def test_next_page_keeps_the_list_in_view_on_a_phone(
    page: Page, world: None, browser_login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13, point 10: after "Next page" at the foot of a long list the reader must see the
    top of the new page, not the foot of the page below the diagram."""
    from flowscope.flows.analysis import views

    monkeypatch.setattr(views, "PAGE_SIZE", 3)  # the live server runs in this process
    page.set_viewport_size(PHONE)
    browser_login(page, Role.viewer)
    page.goto("/flows/orders")
    following = page.get_by_role("link", name="Next page »")
    following.scroll_into_view_if_needed()
    first_rows = page.locator("#drilldown tbody tr").all_inner_texts()
    following.click()
    expect(page.get_by_role("link", name="« First page")).to_be_attached()
    assert page.locator("#drilldown tbody tr").all_inner_texts() != first_rows
    assert "cursor=" in page.url
    top = page.locator("#drill-title").evaluate("t => t.getBoundingClientRect().top")
    assert 0 <= top < PHONE["height"] / 2, top
    focused = page.evaluate("document.activeElement && document.activeElement.id")
    assert focused == "drill-title"
    _fits(page)
