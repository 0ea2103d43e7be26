"""A few events with many keys of their own, or a widening query, keep the answer bounded."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.dashboards import tiles
from flowscope.dashboards.schemas import Tile
from flowscope.ingest.schemas import NewEvent
from flowscope.query import service
from flowscope.query.service import OTHER_ATTRIBUTES
from flowscope.settings import Settings
from tests.query.data import ingest

URL = "/api/v1/query"


def plant(session: Session, events: int, keys: int, *, shared: int = 0) -> None:
    """`events` events, each with `keys` attribute keys no other event has (and `shared` keys
    that all of them have)."""
    now = datetime.now(UTC)
    planted = []
    for i in range(events):
        attrs: dict[str, Any] = {f"k{i:03d}_{j:03d}": j for j in range(keys)}
        attrs.update({f"common{j}": f"c{j}" for j in range(shared)})
        planted.append(NewEvent("planted", f"e{i}", "odd", now - timedelta(minutes=1 + i), attrs))
    ingest(session, planted)


@pytest.fixture
def headers(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('events:read')}"}


def test_unique_keys_beyond_the_column_cap_share_one_json_column(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    plant(session, 30, 30, shared=2)  # 902 distinct keys: once 906 columns of every row
    client.app.state.settings.query_max_columns = 20  # type: ignore[attr-defined]
    body = client.post(URL, json={"query": "fetch bizevents"}, headers=headers).json()
    names = [c["name"] for c in body["columns"]]
    assert len(names) == 20
    assert names[:5] == ["timestamp", "event.provider", "event.type", "event.id", "event.kind"]
    assert names[5:7] == ["common0", "common1"]  # the keys every row has come first
    assert names[-1] == OTHER_ATTRIBUTES
    assert body["columns"][-1]["type"] == "json"
    for row in body["rows"]:  # nothing is lost: each event's 32 attributes are all there
        attrs = {n: v for n, v in zip(names[5:-1], row[5:-1], strict=True) if v is not None}
        attrs.update(row[-1] or {})
        event = int(row[3].removeprefix("e"))
        expected = {f"k{event:03d}_{j:03d}": j for j in range(30)} | {"common0": "c0"}
        assert attrs == expected | {"common1": "c1"}


def test_a_narrow_result_keeps_one_column_per_key(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    plant(session, 3, 4)
    body = client.post(URL, json={"query": "fetch bizevents"}, headers=headers).json()
    assert len(body["columns"]) == 5 + 12
    assert OTHER_ATTRIBUTES not in [c["name"] for c in body["columns"]]


def test_rows_stop_at_the_byte_cap_and_say_truncated(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    plant(session, 40, 10)
    client.app.state.settings.query_max_result_bytes = 4096  # type: ignore[attr-defined]
    body = client.post(URL, json={"query": "fetch bizevents"}, headers=headers).json()
    assert body["truncated"] is True
    assert 0 < body["row_count"] < 40
    assert len(json.dumps(body["rows"])) < 2 * 4096


def test_a_widening_query_is_cut_by_bytes_not_held_whole(
    session: Session,
) -> None:
    plant(session, 50, 1)
    wide = "fetch bizevents | fields x = concat(" + ", ".join(["event.id"] * 90) + ")"
    result = service.run_query(session, wide, max_bytes=10_000)
    assert result.truncated
    assert len(json.dumps(result.rows)) <= 10_000


def test_a_query_cut_early_leaves_the_session_as_it_was(session: Session) -> None:
    """Cutting the stream cancels the rest of the query; the caller's transaction goes on,
    read-write, and sees what it wrote before."""
    plant(session, 300, 1)
    result = service.run_query(session, "fetch bizevents", max_bytes=4_000)
    assert result.truncated
    assert 0 < result.row_count < 300
    session.execute(text("create temporary table after_cut (n int)"))  # still read-write
    again = service.run_query(session, "fetch bizevents | summarize n = count()")
    assert again.rows == [[300]]


def test_one_row_over_the_byte_cap_is_a_clear_400(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    plant(session, 1, 200)
    client.app.state.settings.query_max_result_bytes = 2048  # type: ignore[attr-defined]
    response = client.post(URL, json={"query": "fetch bizevents"}, headers=headers)
    assert response.status_code == 400
    assert "one row of the result is over" in response.json()["error"]["message"]


def test_a_function_over_the_database_argument_limit_is_a_400(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    plant(session, 1, 1)
    query = "fetch bizevents | fields x = concat(" + ", ".join(["event.id"] * 101) + ")"
    response = client.post(URL, json={"query": query}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "the query is too large for the database: cannot pass more than 100 arguments to a function"
    )


def test_more_named_columns_than_the_cap_is_a_clear_400(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    plant(session, 1, 1)
    client.app.state.settings.query_max_columns = 10  # type: ignore[attr-defined]
    fields = ", ".join(f"f{i} = 1" for i in range(11))
    query = f"fetch bizevents | fields {fields}"
    response = client.post(URL, json={"query": query}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "the result would have 11 columns; at most 10 are returned: use fields to pick fewer"
    )


def test_a_table_tile_fetches_only_the_rows_it_shows(session: Session, settings: Settings) -> None:
    plant(session, 250, 1)
    table = Tile(id="t", query="fetch bizevents", viz="table")
    frame = tiles.TimeframeText("-24h", "")
    view = tiles.tile_view(session, settings, table, frame, {})
    assert view.result is not None
    assert (view.result.row_count, view.result.truncated) == (tiles.TABLE_ROWS, True)
    bars = Tile(id="b", query="fetch bizevents | summarize count(), by: {event.id}", viz="bar")
    charted = tiles.tile_view(session, settings, bars, frame, {})
    assert charted.result is not None
    assert charted.result.row_count == 250  # a chart's rows are not cut to the table's
