"""Edge values on every route that takes a time, and integer ids that reach SQL: a 400 that
names the field, never a 500 (after a 500 the client's keep-alive connection was reset)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from flowscope.auth.models import Role
from flowscope.dashboards.models import Dashboard
from flowscope.db import Database, transaction
from flowscope.flows.definitions.service import save_flow
from tests.conftest import csrf_from
from tests.flows.factories import definition

SignIn = Callable[..., TestClient]
# Each refused for its own reason: an offset past any datetime, years 0 and 10000, a time that
# is in year 0 once in UTC, and one just before the supported range.
BAD_TIMES = [
    "-99999999999999d",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+05:00",
    "1969-12-31T23:59:59Z",
]
INT4_OVERFLOW = 2**31 + 1


@pytest.fixture
def reader(client: TestClient, make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('events:read')}"}


@pytest.fixture
def flow(clean_db: Database) -> str:
    with transaction(clean_db.sessions) as session:
        save_flow(session, definition(), "test")
    return "online-orders"


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith(f"{field}: "), message


@pytest.mark.parametrize("value", BAD_TIMES)
def test_query_api_refuses_edge_times_as_parameters(
    client: TestClient, reader: dict[str, str], value: str
) -> None:
    body = {"query": "fetch bizevents | limit 1", "from": "-1h", "to": value}
    _refused(client.post("/api/v1/query", json=body, headers=reader), "to")


@pytest.mark.parametrize(
    "clause",
    [
        'from: "0000-01-01"',
        'from: "10000-01-01T00:00:00Z"',
        'from: "1970-01-01" - 1d',
        "from: -106751d-106751d-106751d-106751d-106751d-106751d-106751d-106751d-106751d",
        'to: "0001-01-01T00:00:00+05:00"',
    ],
)
def test_query_api_refuses_edge_times_in_fql_with_their_position(
    client: TestClient, reader: dict[str, str], clause: str
) -> None:
    prefix = "fetch bizevents, "
    body = {"query": f"{prefix}{clause} | limit 1"}
    response = client.post("/api/v1/query", json=body, headers=reader)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "query_error"
    assert error["message"].startswith(clause[:2])
    # A literal is reported where it starts; arithmetic at the operator that left the range.
    value_column = len(prefix) + clause.index(" ") + 2
    assert error["line"] == 1
    assert value_column <= error["column"] < len(prefix) + len(clause)
    if '"' in clause and " - " not in clause:
        assert error["column"] == value_column


@pytest.mark.parametrize("value", BAD_TIMES)
def test_flow_api_routes_refuse_edge_times(
    client: TestClient, reader: dict[str, str], flow: str, value: str
) -> None:
    for path in (
        "/api/v1/overview",
        f"/api/v1/flows/{flow}/analysis",
        f"/api/v1/flows/{flow}/instances",
        f"/api/v1/flows/{flow}/variants",
    ):
        _refused(client.get(path, params={"from": value}, headers=reader), "from")
    _refused(client.get("/api/v1/overview", params={"to": value}, headers=reader), "to")


def test_flow_api_takes_the_same_syntax_as_queries(
    client: TestClient, reader: dict[str, str], flow: str
) -> None:
    overview = client.get("/api/v1/overview", params={"from": "now-2h"}, headers=reader)
    assert overview.status_code == 200, overview.text
    window = overview.json()["window"]
    assert window["to"] > window["from"]
    oldest = client.get("/api/v1/overview", params={"from": "1970-01-01"}, headers=reader)
    assert oldest.status_code == 200, oldest.text
    assert oldest.json()["previous_window"]["from"].startswith("1970-01-01")


@pytest.mark.parametrize("value", BAD_TIMES)
def test_flow_page_refuses_edge_times(sign_in: SignIn, flow: str, value: str) -> None:
    viewer = sign_in(Role.viewer)
    page = viewer.get(
        f"/flows/{flow}", params={"range": "custom", "from": value}, headers={"accept": "text/html"}
    )
    assert page.status_code == 400
    assert "from: " in page.text


def _put_dashboard(client: TestClient, spec: dict[str, Any]) -> Any:
    csrf = csrf_from(client.get("/dashboards").text)
    return client.put("/api/v1/dashboards/edges", json=spec, headers={"X-CSRF-Token": csrf})


@pytest.mark.parametrize("value", BAD_TIMES)
def test_dashboard_with_an_edge_time_is_not_saved(sign_in: SignIn, value: str) -> None:
    editor = sign_in(Role.editor)
    refused = _put_dashboard(editor, {"name": "Edges", "time_from": value})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("time_from: ")
    assert editor.get("/api/v1/dashboards/edges").status_code == 404
    empty = _put_dashboard(editor, {"name": "Edges", "time_from": "-1h", "time_to": "-2h"})
    assert empty.status_code == 400
    assert "time_from: must be earlier than time_to" in empty.json()["error"]["message"]


def test_dashboard_form_refuses_an_edge_time(sign_in: SignIn) -> None:
    editor = sign_in(Role.editor)
    assert _put_dashboard(editor, {"name": "Edges"}).status_code == 200
    csrf = csrf_from(editor.get("/dashboards").text)
    form = {"csrf_token": csrf, "time_from": "-99999999999999d", "refresh_seconds": "60"}
    refused = editor.post("/dashboards/edges/settings", data=form)
    assert refused.status_code == 400
    assert "time_from: " in refused.text
    assert editor.get("/api/v1/dashboards/edges").json()["spec"]["time_from"] == "-24h"


def test_stored_edge_time_is_an_error_on_each_tile_not_a_500(
    sign_in: SignIn, clean_db: Database
) -> None:
    editor = sign_in(Role.editor)
    tile = {"id": "n", "viz": "single", "query": "fetch bizevents | summarize n = count()"}
    assert _put_dashboard(editor, {"name": "Edges", "tiles": [tile]}).status_code == 200
    with transaction(clean_db.sessions) as session:  # as an older version could have stored it
        stored = {"name": "Edges", "time_from": "0000-01-01", "tiles": [tile]}
        session.execute(update(Dashboard).where(Dashboard.slug == "edges").values(spec=stored))
    viewer = sign_in(Role.viewer, "another-viewer")
    assert viewer.get("/dashboards/edges").status_code == 200
    shown = viewer.get("/dashboards/edges/tiles/n")
    assert shown.status_code == 200
    assert "from: &#39;0000-01-01&#39; is not a time" in shown.text
    fixed = viewer.get("/dashboards/edges/tiles/n", params={"from": "-1h"})
    assert "is not a time" not in fixed.text


def test_an_int4_overflowing_version_is_a_400(
    client: TestClient, reader: dict[str, str], flow: str
) -> None:
    response = client.get(
        f"/api/v1/flows/{flow}/export.yaml", params={"version": INT4_OVERFLOW}, headers=reader
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("version: ")


def test_int4_overflowing_ids_of_pages_are_a_4xx(sign_in: SignIn) -> None:
    admin = sign_in(Role.admin)
    csrf = csrf_from(admin.get("/dashboards").text)
    html = {"accept": "text/html"}
    saved = admin.get("/query", params={"saved": INT4_OVERFLOW}, headers=html)
    assert 400 <= saved.status_code < 500
    for path in (f"/query/saved/{INT4_OVERFLOW}/delete", f"/admin/tokens/{INT4_OVERFLOW}/revoke"):
        response = admin.post(path, data={"csrf_token": csrf}, headers=html)
        assert 400 <= response.status_code < 500, path
