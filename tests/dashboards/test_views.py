"""Dashboard pages and JSON routes: roles, CSRF, tiles loaded one by one, safe markdown."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.dashboards import service
from flowscope.dashboards.models import Dashboard, DashboardChange
from flowscope.dashboards.schemas import DashboardSpec
from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.conftest import csrf_from

SPEC = {
    "name": "Checkout",
    "variables": [{"name": "Provider", "values": ["shop.a", "shop.b"]}],
    "tiles": [
        {"id": "notes", "kind": "markdown", "w": 12, "h": 1,
         "markdown": "# Notes\n<script>alert(1)</script> [x](javascript:alert(1))"},
        {"id": "count", "viz": "single", "y": 1,
         "query": "fetch bizevents | filter event.provider == $Provider | summarize n = count()"},
        {"id": "types", "viz": "bar", "x": 4, "y": 1,
         "query": "fetch bizevents | summarize n = count(), by: {event.type}"},
    ],
}  # fmt: skip


@pytest.fixture
def events(session: Session) -> None:
    now = datetime.now(UTC)
    store_events(
        session,
        [
            NewEvent("shop.a", f"a{i}", "order.placed", now - timedelta(minutes=i + 1), {})
            for i in range(3)
        ]
        + [NewEvent("shop.b", "b1", "order.paid", now - timedelta(hours=3), {})],
    )
    session.commit()


def token(client: TestClient) -> str:
    return csrf_from(client.get("/dashboards").text)


def put(client: TestClient, slug: str = "checkout", spec: object = SPEC) -> dict[str, object]:
    response = client.put(
        f"/api/v1/dashboards/{slug}", json=spec, headers={"X-CSRF-Token": token(client)}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_editor_creates_through_the_api_and_viewer_reads(
    sign_in: Callable[..., TestClient], events: None
) -> None:
    editor = sign_in(Role.editor)
    assert put(editor)["version"] == 1
    listed = editor.get("/api/v1/dashboards").json()
    assert [d["slug"] for d in listed] == ["checkout"]
    body = editor.get("/api/v1/dashboards/checkout").json()
    assert body["spec"]["tiles"][1]["id"] == "count"


def test_viewer_cannot_change_and_put_without_csrf_is_refused(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    viewer = sign_in(Role.viewer)
    refused = viewer.put("/api/v1/dashboards/x", json=SPEC, headers={"X-CSRF-Token": token(viewer)})
    assert refused.status_code == 403
    page = viewer.post("/dashboards", data={"name": "Mine", "csrf_token": token(viewer)})
    assert page.status_code == 403
    assert session.scalar(select(Dashboard.id)) is None


def test_viewer_sees_the_dashboard_without_edit_controls(
    sign_in: Callable[..., TestClient], clean_db: Database
) -> None:
    with clean_db.sessions.begin() as s:
        service.create(s, DashboardSpec.model_validate(SPEC), "ann", slug="checkout")
    viewer = sign_in(Role.viewer)
    page = viewer.get("/dashboards/checkout", params={"edit": "1"})
    assert page.status_code == 200
    assert 'id="tile-count"' in page.text
    assert "edit-dashboard" not in page.text
    assert 'id="add-tile-form"' not in page.text
    assert 'class="tile-tools"' not in page.text
    assert viewer.get("/dashboards/checkout/tiles/count").status_code == 200
    moved = viewer.post(
        "/dashboards/checkout/tiles/count/move", data={"csrf_token": token(viewer), "op": "left"}
    )
    assert moved.status_code == 403


def test_forms_need_the_csrf_token(sign_in: Callable[..., TestClient], session: Session) -> None:
    editor = sign_in(Role.editor)
    assert editor.post("/dashboards", data={"name": "Mine"}).status_code == 403
    assert session.scalar(select(Dashboard.id)) is None
    created = editor.post(
        "/dashboards", data={"name": "Mine", "csrf_token": token(editor)}, follow_redirects=False
    )
    assert created.status_code == 303
    assert created.headers["location"].endswith("/dashboards/mine?edit=1")


def test_page_loads_each_tile_separately_with_timeframe_and_variables(
    sign_in: Callable[..., TestClient], events: None
) -> None:
    editor = sign_in(Role.editor)
    put(editor)
    page = editor.get("/dashboards/checkout", params={"from": "-2h", "var_Provider": "shop.a"})
    assert page.status_code == 200
    urls = [unescape(u) for u in re.findall(r'hx-get="([^"]+)"', page.text)]
    assert len(urls) == 2  # the markdown tile is in the page, each data tile loads on its own
    assert all("from=-2h" in u and "var_Provider=shop.a" in u for u in urls)
    assert 'hx-trigger="load"' in page.text
    # markdown: raw HTML shown as text, javascript: links dropped
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert 'href="javascript:' not in page.text
    single = editor.get(urls[0])
    assert single.status_code == 200
    assert re.search(r'class="tile-value">3<', single.text)
    chart = editor.get(urls[1])
    spec = json.loads(unescape(re.search(r"data-spec='([^']+)'", chart.text).group(1)))  # type: ignore[union-attr]
    assert spec == {"type": "bar", "categories": ["order.placed"], "values": [3], "name": "n"}
    refreshed = editor.get("/dashboards/checkout", params={"refresh": "1"})
    assert 'hx-trigger="load, every 60s"' in refreshed.text


def test_a_hostile_variable_value_is_just_a_value(
    sign_in: Callable[..., TestClient], events: None
) -> None:
    viewer = sign_in(Role.editor)
    put(viewer)
    tile = viewer.get(
        "/dashboards/checkout/tiles/count",
        params={"from": "-1d", "var_Provider": '" or true or "'},
    )
    assert tile.status_code == 200
    assert re.search(r'class="tile-value">0<', tile.text)


def test_a_broken_query_shows_its_error_in_its_tile_only(
    sign_in: Callable[..., TestClient], events: None
) -> None:
    editor = sign_in(Role.editor)
    broken = {
        **SPEC,
        "tiles": [*SPEC["tiles"], {"id": "bad", "query": 'fetch bizevents | filter a == "x'}],
    }  # type: ignore[list-item]
    put(editor, spec=broken)
    bad = editor.get("/dashboards/checkout/tiles/bad")
    assert bad.status_code == 200
    assert "tile-error" in bad.text
    assert "line 1" in bad.text
    assert editor.get("/dashboards/checkout/tiles/types").status_code == 200


def test_edit_forms_add_move_resize_delete_and_record_changes(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    editor = sign_in(Role.editor)
    put(editor)
    csrf = token(editor)
    base = "/dashboards/checkout"
    editor.post(f"{base}/tiles", data={"csrf_token": csrf, "kind": "data", "viz": "table",
                "title": "Latest", "query": "fetch bizevents | limit 5"})  # fmt: skip
    spec = editor.get("/api/v1/dashboards/checkout").json()["spec"]
    new = spec["tiles"][-1]
    assert (new["title"], new["y"]) == ("Latest", 4)
    for op in ("right", "wider", "taller", "down"):
        editor.post(f"{base}/tiles/{new['id']}/move", data={"csrf_token": csrf, "op": op})
    moved = editor.get("/api/v1/dashboards/checkout").json()["spec"]["tiles"][-1]
    assert (moved["x"], moved["y"], moved["w"], moved["h"]) == (1, 5, 5, 4)
    editor.post(f"{base}/tiles/notes/delete", data={"csrf_token": csrf})
    final = editor.get("/api/v1/dashboards/checkout").json()
    assert "notes" not in [t["id"] for t in final["spec"]["tiles"]]
    assert final["version"] == 7
    summaries = session.scalars(select(DashboardChange.summary).order_by(DashboardChange.version))
    assert list(summaries)[-1] == "deleted tile notes"
    error = editor.post(f"{base}/tiles", data={"csrf_token": csrf, "kind": "data", "query": ""})
    assert error.status_code == 400
    assert "needs a query" in error.text


def test_export_and_import_through_the_api_and_the_form(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    editor = sign_in(Role.editor)
    put(editor)
    exported = editor.get("/api/v1/dashboards/checkout/export")
    assert "attachment" in exported.headers["content-disposition"]
    document = exported.json()
    document["slug"] = "copy"
    imported = editor.post(
        "/api/v1/dashboards/import", json=document, headers={"X-CSRF-Token": token(editor)}
    )
    assert imported.json()["slug"] == "copy"
    document["slug"] = "copy-two"
    form = editor.post(
        "/dashboards/import",
        data={"csrf_token": token(editor), "document": json.dumps(document)},
        follow_redirects=False,
    )
    assert form.status_code == 303
    copy = editor.get("/api/v1/dashboards/copy-two/export").json()
    assert copy == document
    bad = editor.post("/dashboards/import", data={"csrf_token": token(editor), "document": "{"})
    assert bad.status_code == 400
    assert "not JSON" in bad.text


def test_dashboard_from_a_flow(sign_in: Callable[..., TestClient], session: Session) -> None:
    from flowscope.flows.definitions.service import save_flow
    from tests.flows.factories import definition

    save_flow(session, definition(), "test")
    session.commit()
    editor = sign_in(Role.editor)
    listing = editor.get("/dashboards")
    assert "Create dashboard for Online orders" in listing.text
    created = editor.post(
        "/dashboards/from-flow/online-orders",
        data={"csrf_token": token(editor)},
        follow_redirects=False,
    )
    assert created.status_code == 303
    slug = created.headers["location"].rsplit("/", 1)[-1]
    body = editor.get(f"/api/v1/dashboards/{slug}").json()
    assert body["flow"] == "online-orders"
    assert body["spec"]["tiles"][0]["kind"] == "markdown"


def test_a_variable_takes_its_choices_from_a_query(
    sign_in: Callable[..., TestClient], events: None
) -> None:
    editor = sign_in(Role.editor)
    variable = {
        "name": "Provider",
        "query": "fetch bizevents | summarize n = count(), by: {event.provider}"
        " | sort event.provider | fields event.provider",
    }
    put(editor, spec={**SPEC, "variables": [variable]})
    page = editor.get("/dashboards/checkout", params={"from": "-1d"})
    select_html = re.search(r'<select id="var-Provider".*?</select>', page.text, re.S)
    assert select_html is not None
    assert re.findall(r"<option[^>]*>([^<]+)</option>", select_html.group(0)) == [
        "shop.a",
        "shop.b",
    ]
    # the first choice is used until the viewer picks another
    assert "var_Provider=shop.a" in unescape(page.text)


def test_variable_and_settings_forms(sign_in: Callable[..., TestClient], session: Session) -> None:
    editor = sign_in(Role.editor)
    put(editor, spec={"name": "Empty"})
    csrf = token(editor)
    base = "/dashboards/checkout"
    editor.post(f"{base}/variables", data={"csrf_token": csrf, "name": "$Tier",
                "values": "gold, silver", "default": "silver"})  # fmt: skip
    editor.post(f"{base}/settings", data={"csrf_token": csrf, "name": "Tiers",
                "time_from": "-2h", "refresh_seconds": "30"})  # fmt: skip
    spec = editor.get("/api/v1/dashboards/checkout").json()["spec"]
    assert spec["variables"] == [
        {"name": "Tier", "label": "", "values": ["gold", "silver"], "query": "",
         "default": "silver"}
    ]  # fmt: skip
    assert (spec["name"], spec["time_from"], spec["refresh_seconds"]) == ("Tiers", "-2h", 30)
    editor.post(f"{base}/variables/Tier/delete", data={"csrf_token": csrf})
    assert editor.get("/api/v1/dashboards/checkout").json()["spec"]["variables"] == []
    bad = editor.post(f"{base}/settings", data={"csrf_token": csrf, "refresh_seconds": "1"})
    assert bad.status_code == 400
    assert "refresh_seconds" in bad.text


def test_an_edit_from_a_stale_page_is_refused(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    editor = sign_in(Role.editor)
    put(editor)
    csrf = token(editor)
    page = editor.get("/dashboards/checkout", params={"edit": "1"})
    assert '<input type="hidden" name="version" value="1">' in page.text
    data = {"csrf_token": csrf, "op": "down", "version": "1"}
    assert editor.post("/dashboards/checkout/tiles/count/move", data=data).status_code == 200
    stale = editor.post("/dashboards/checkout/tiles/types/move", data=data)
    assert stale.status_code == 409
    assert "changed since you opened it" in stale.text
    assert editor.get("/api/v1/dashboards/checkout").json()["version"] == 2
