"""POST /api/v1/query: scopes, result shape, errors with line and column."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.ingest.schemas import NewEvent
from tests.query.data import ingest

URL = "/api/v1/query"


def recent_events(session: Session) -> None:
    now = datetime.now(UTC)
    ingest(
        session,
        [
            NewEvent(
                "shop",
                f"e{i}",
                "order.placed" if i % 3 else "order.paid",
                now - timedelta(minutes=5 + i),
                {"amount": i},
            )
            for i in range(9)
        ],
    )


def reader(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('events:read')}"}


def test_token_with_events_read_runs_a_query(
    client: TestClient, session: Session, make_token: Callable[..., str]
) -> None:
    recent_events(session)
    response = client.post(
        URL,
        json={
            "query": "fetch bizevents | summarize n = count(), by: {event.type} | sort event.type"
        },
        headers=reader(make_token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == [
        {"name": "event.type", "type": "string"},
        {"name": "n", "type": "number"},
    ]
    assert body["rows"] == [["order.paid", 3], ["order.placed", 6]]
    assert body["row_count"] == 2
    assert body["truncated"] is False
    assert body["elapsed_ms"] >= 0
    assert set(body["timeframe"]) == {"start", "end"}
    assert "interval" not in body


def test_timeframe_parameters_apply_when_the_query_has_none(
    client: TestClient, session: Session, make_token: Callable[..., str]
) -> None:
    recent_events(session)
    headers = reader(make_token)
    query = {"query": "fetch bizevents | summarize count()"}
    assert client.post(URL, json={**query, "from": "-8m"}, headers=headers).json()["rows"] == [[3]]
    assert client.post(URL, json={**query, "from": "-1h", "to": "-10m"}, headers=headers).json()[
        "rows"
    ] == [[4]]
    bad = client.post(URL, json={**query, "from": "last week"}, headers=headers)
    assert bad.status_code == 400
    assert "from" in bad.json()["error"]["message"]


def test_time_series_answers_carry_timeframe_and_interval(
    client: TestClient, session: Session, make_token: Callable[..., str]
) -> None:
    recent_events(session)
    response = client.post(
        URL,
        json={
            "query": "fetch bizevents | makeTimeseries n = count(), interval: 10m",
            "from": "-1h",
        },
        headers=reader(make_token),
    )
    body = response.json()
    assert body["interval"] == 600 * 10**9
    assert sum(body["rows"][0][2]) == 9
    assert set(body["query_timeframe"]) == {"start", "end"}


def test_query_errors_are_400_with_line_and_column(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    response = client.post(
        URL, json={"query": 'fetch bizevents\n| filter x == "open'}, headers=reader(make_token)
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["line"], error["column"]) == (2, 15)
    assert "unterminated string" in error["message"]
    assert error["code"] == "query_error"


def test_scopes_and_roles(
    client: TestClient,
    make_token: Callable[..., str],
    sign_in: Callable[..., TestClient],
) -> None:
    query = {"query": "fetch bizevents | limit 1"}
    assert client.post(URL, json=query).status_code == 401
    writer = {"Authorization": f"Api-Token {make_token('events:write')}"}
    assert client.post(URL, json=query, headers=writer).status_code == 403
    admin = {"Authorization": f"Api-Token {make_token('admin', name='admin')}"}
    assert client.post(URL, json=query, headers=admin).status_code == 200
    viewer = sign_in(Role.viewer)
    assert viewer.post(URL, json=query).status_code == 200


def test_row_cap_from_settings_truncates(
    client: TestClient, session: Session, make_token: Callable[..., str]
) -> None:
    recent_events(session)
    client.app.state.settings.query_row_cap = 4  # type: ignore[attr-defined]
    response = client.post(URL, json={"query": "fetch bizevents"}, headers=reader(make_token))
    body = response.json()
    assert (body["row_count"], body["truncated"]) == (4, True)
    assert len(body["rows"]) == 4


def test_null_values_stay_in_rows(
    client: TestClient, session: Session, make_token: Callable[..., str]
) -> None:
    recent_events(session)
    response = client.post(
        URL,
        json={"query": "fetch bizevents | limit 1 | fields missing, n = null, t = event.type"},
        headers=reader(make_token),
    )
    (row,) = response.json()["rows"]
    assert row[:2] == [None, None]
    assert row[2] in ("order.paid", "order.placed")
