"""The events explorer page and its JSON twin (latest events)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.service import save_flow
from flowscope.ingest.explorer import latest_events, type_overview
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.flows.views_support import SHOP

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
    assert "<caption>crm</caption>" not in page.text  # nothing in the window: hidden
    assert "1 event type without events in it is not shown" in page.text
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


def test_providers_come_busiest_first_and_show_again_in_a_wider_window(
    stored: None, clean_db: Database, sign_in: Callable[..., TestClient]
) -> None:
    with clean_db.sessions.begin() as s:
        store_events(
            s,
            [
                NewEvent("crm", f"c{n}", "ticket.closed", NOW - timedelta(minutes=n), {})
                for n in range(3)
            ],
        )
    page = sign_in(Role.viewer).get("/events?window=7d")
    assert page.text.index("<caption>crm</caption>") < page.text.index("<caption>shop</caption>")


def test_latest_events_by_correlation_id_under_any_flows_field(
    stored: None, clean_db: Database, sign_in: Callable[..., TestClient]
) -> None:
    with clean_db.sessions.begin() as s:
        save_flow(s, FlowDefinition.model_validate(SHOP), "test")
        store_events(
            s,
            [NewEvent("shop", "flat", "x", NOW - timedelta(minutes=1), {"order.id": "A-1"}),
             NewEvent("shop", "num", "x", NOW - timedelta(minutes=1), {"order": {"id": 1}})],
        )  # fmt: skip
    client = sign_in(Role.viewer)
    page = client.get("/events", params={"cid": "A-1"})
    assert page.text.count('<li class="event">') == 2  # nested and flat-keyed
    assert "e2</code>" not in page.text
    assert client.get("/events", params={"cid": "1"}).text.count('<li class="event">') == 1
    assert client.get("/events", params={"cid": "A-9"}).text.count('<li class="event">') == 0
    assert client.get("/events", params={"cid": "x" * 300}).status_code in (400, 422)


def shows(page: str, n: int) -> bool:
    return f'<span class="key">n</span>: <span class="val num">{n}</span>' in page


def test_older_events_page_by_keyset_and_counts_stop_at_the_cap(
    clean_db: Database, sign_in: Callable[..., TestClient]
) -> None:
    with clean_db.sessions.begin() as s:
        store_events(
            s,
            [NewEvent("shop", "old", "order.placed", NOW - timedelta(days=2), {"n": -1})]
            + [
                NewEvent("shop", f"o{n}", "order.placed", NOW - timedelta(minutes=60 - n), {"n": n})
                for n in range(45)
            ],
        )
    with clean_db.sessions() as s:
        [row] = type_overview(s, NOW - timedelta(days=1), cap=44)
        assert (row["recent"], row["recent_more"], row["total"], row["total_more"]) == (
            44,
            True,
            44,
            True,
        )
        [row] = type_overview(s, NOW - timedelta(days=1), cap=45)
        assert (row["recent"], row["recent_more"], row["total_more"]) == (45, False, True)
        assert row["latest"] == NOW - timedelta(minutes=16)
    client = sign_in(Role.viewer)
    page = client.get("/events?limit=20&window=7d")
    assert page.text.count('<li class="event">') == 20
    assert [n for n in range(-1, 45) if shows(page.text, n)] == list(range(25, 45))
    older = re.search(r'<a class="older" href="([^"]+)"', page.text)
    assert older is not None
    page = client.get(html.unescape(older.group(1)))
    assert [n for n in range(-1, 45) if shows(page.text, n)] == list(range(5, 25))
    last = re.search(r'<a class="older" href="([^"]+)"', page.text)
    assert last is not None
    page = client.get(html.unescape(last.group(1)))
    assert [n for n in range(-1, 45) if shows(page.text, n)] == list(range(-1, 5))
    assert '<a class="older"' not in page.text
    assert client.get("/events?before=0").status_code in (400, 422)


def test_latest_events_follow_event_time_and_page_through_equal_times(
    clean_db: Database, sign_in: Callable[..., TestClient]
) -> None:
    """Imported history arrives after live events: the list follows the events' own time, and
    a page boundary inside a run of equal timestamps loses and repeats nothing (seq breaks the
    tie)."""
    same = NOW - timedelta(minutes=10)
    with clean_db.sessions.begin() as s:
        store_events(s, [NewEvent("shop", f"live{n}", "a", same, {"n": n}) for n in range(5)])
        store_events(
            s,
            [NewEvent("shop", f"old{n}", "b", NOW - timedelta(hours=n + 1), {"n": 10 + n})
             for n in range(5)],
        )  # fmt: skip
    with clean_db.sessions() as s:
        for kwargs in ({}, {"provider": "shop"}, {"provider": "shop", "type_": "b"}):
            seen: list[int] = []
            before = None
            while True:
                page = latest_events(s, limit=3, before=before, **kwargs)  # type: ignore[arg-type]
                seen.extend(e["attributes"]["n"] for e in page)
                if len(page) < 3:
                    break
                before = page[-1]["seq"]
            expected = [4, 3, 2, 1, 0, 10, 11, 12, 13, 14]
            assert seen == (expected if "type_" not in kwargs else expected[5:]), kwargs
    page = sign_in(Role.viewer).get("/events?window=all&limit=20")
    assert [n for n in range(15) if shows(page.text, n)] == list(range(5)) + list(range(10, 15))
    assert page.text.index(">live4<") < page.text.index(">old0<")
