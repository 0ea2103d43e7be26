"""Event timestamps: RFC 3339 and epoch forms, the receive time default, and the limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.db import Database
from flowscope.settings import Settings
from tests.fixtures.events import INGEST_URL as URL
from tests.fixtures.events import count_events, make_event, stored

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T10:00:00Z", T0),
        ("2026-11-23T11:00:00+01:00", T0),
        ("2026-11-23T10:00:00.250Z", T0 + timedelta(milliseconds=250)),
        (int(T0.timestamp()), T0),
        (T0.timestamp() + 0.5, T0 + timedelta(milliseconds=500)),
        (int(T0.timestamp()) * 1000, T0),
        (int(T0.timestamp()) * 1_000_000, T0),
        (int(T0.timestamp()) * 1_000_000_000, T0),
        ("2010-03-01T00:00:00Z", datetime(2010, 3, 1, tzinfo=UTC)),
        (1_267_401_600, datetime(2010, 3, 1, tzinfo=UTC)),
    ],
)
def test_timestamp_forms_are_understood(
    client: TestClient,
    write_headers: dict[str, str],
    session: Session,
    value: Any,
    expected: datetime,
) -> None:
    response = client.post(URL, json=make_event(timestamp=value), headers=write_headers)
    assert response.status_code == 202, response.text
    assert stored(session)[0]["timestamp"] == expected


def test_timestamp_far_in_the_future_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    response = client.post(URL, json=make_event(timestamp=ahead), headers=write_headers)
    assert response.status_code == 400
    [problem] = response.json()["errors"]
    assert problem["field"] == "timestamp"
    assert "in the future" in problem["message"]
    assert count_events(session) == 0


def test_timestamp_a_few_minutes_ahead_is_accepted(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    response = client.post(URL, json=make_event(timestamp=ahead), headers=write_headers)
    assert response.status_code == 202


@pytest.fixture
def strict_client(clean_db: Database, settings: Settings) -> Iterator[TestClient]:
    """An app that refuses any timestamp more than 60 s ahead."""
    app = create_app(settings.model_copy(update={"max_future_seconds": 60}), database=clean_db)
    with TestClient(app) as c:
        yield c


def test_future_limit_is_configurable(
    strict_client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    response = strict_client.post(URL, json=make_event(timestamp=ahead), headers=write_headers)
    assert response.status_code == 400
    assert "at most 60 s ahead" in response.json()["errors"][0]["message"]
    assert count_events(session) == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("23/11/2026", "RFC 3339"),
        (True, "boolean"),
        ({"at": 1}, "an object"),
        (1e30, "outside the supported time range"),
    ],
)
def test_invalid_timestamps_are_refused_with_the_reason(
    client: TestClient, write_headers: dict[str, str], session: Session, value: Any, reason: str
) -> None:
    response = client.post(URL, json=make_event(timestamp=value), headers=write_headers)
    assert response.status_code == 400
    [problem] = response.json()["errors"]
    assert problem["field"] == "timestamp"
    assert reason in problem["message"]
    assert count_events(session) == 0


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", -62_135_596_801])
def test_timestamp_before_year_1_in_utc_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session, value: Any
) -> None:
    response = client.post(URL, json=make_event(timestamp=value), headers=write_headers)
    assert response.status_code == 400, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == "timestamp"
    assert "outside the supported time range" in problem["message"]
    assert count_events(session) == 0


def test_timestamp_with_an_offset_is_stored_as_the_same_instant(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = make_event(timestamp="0001-01-01T05:00:00+01:00")
    assert client.post(URL, json=body, headers=write_headers).status_code == 202
    assert stored(session)[0]["timestamp"] == datetime(1, 1, 1, 4, tzinfo=UTC)
