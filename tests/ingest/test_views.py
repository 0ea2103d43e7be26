"""The events explorer page and its JSON twin (latest events)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

NOW = datetime.now(UTC)


@pytest.fixture
def stored(clean_db: Database) -> None:
    events = [
        NewEvent(
            "shop", "e1", "order.placed", NOW - timedelta(minutes=5), {"order": {"id": "A-1"}}
        ),
        NewEvent("shop", "e2", "payment.captured", NOW - timedelta(minutes=4), {"amount": 12.5}),
        NewEvent("crm", "e3", "ticket.opened", NOW - timedelta(days=3), {"ticket": {"no": 7}}),
    ]
    with clean_db.sessions.begin() as s:
        store_events(s, events)


def test_explorer_shows_counts_and_latest_events(
    stored: None, sign_in: Callable[..., TestClient]
) -> None:
    page = sign_in(Role.viewer).get("/events")
    assert page.status_code == 200
    assert "<caption>shop</caption>" in page.text
    assert "<caption>crm</caption>" in page.text  # a type older than the window still shows
    assert page.text.count('<li class="event">') == 2  # ticket.opened is older than 24 h
    assert '<span class="key">amount</span>: <span class="val num">12.5</span>' in page.text


def test_explorer_filters_by_provider_type_and_window(
    stored: None, sign_in: Callable[..., TestClient]
) -> None:
    client = sign_in(Role.viewer)
    page = client.get("/events?provider=crm&window=7d")
    assert "<caption>shop</caption>" not in page.text
    assert page.text.count('<li class="event">') == 1
    assert "ticket.opened" in page.text
    page = client.get("/events?provider=shop&type=order.placed&window=1h&limit=20")
    assert page.text.count('<li class="event">') == 1
    assert "payment.captured</code>" not in page.text
    assert client.get("/events?window=2y").status_code == 400
    assert client.get("/events?limit=7").status_code == 400


def test_latest_events_json(
    stored: None, client: TestClient, make_token: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Api-Token {make_token('events:read')}"}
    body = client.get("/api/v1/events?provider=shop", headers=headers).json()
    assert [e["event_id"] for e in body["events"]] == ["e2", "e1"]
    since = (NOW - timedelta(days=1)).replace(tzinfo=None).isoformat()
    body = client.get(f"/api/v1/events?since={since}", headers=headers).json()
    assert {e["event_id"] for e in body["events"]} == {"e1", "e2"}
    assert client.get("/api/v1/events").status_code == 401
