"""The idempotency guarantee: an event past its provider's retention is refused at ingest, so
an event that retention deleted is never stored again, even after retention is lengthened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from flowscope.db import Database, transaction
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.retention import service
from flowscope.retention.rules import rules_cache
from tests.fixtures.events import INGEST_URL, make_event
from tests.retention.support import event_ids, run_at

NOW = datetime.now(UTC)


def _at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def test_an_event_older_than_the_default_retention_is_refused_naming_the_field(
    client: TestClient, write_headers: dict[str, str], clean_db: Database
) -> None:
    response = client.post(
        INGEST_URL,
        json=[
            make_event(**{"event.id": "old", "timestamp": _at(36)}),
            make_event(**{"event.id": "new", "timestamp": _at(34)}),
        ],
        headers=write_headers,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"] == 1
    [problem] = body["errors"]
    assert problem["index"] == 0
    assert problem["field"] == "timestamp"
    assert "older than the retention of provider 'shop.checkout' (35 days)" in problem["message"]
    assert event_ids(clean_db) == {"new"}


def test_cloudevents_name_their_time_field(
    client: TestClient, write_headers: dict[str, str]
) -> None:
    response = client.post(
        INGEST_URL,
        json={"specversion": "1.0", "source": "s", "type": "t", "id": "1", "time": _at(40)},
        headers={**write_headers, "Content-Type": "application/cloudevents+json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "time"


def test_a_longer_override_accepts_older_events(
    client: TestClient, write_headers: dict[str, str], clean_db: Database
) -> None:
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "shop.checkout", 400, default_days=35)
    rules_cache(client.app).load()
    response = client.post(INGEST_URL, json=make_event(timestamp=_at(300)), headers=write_headers)
    assert response.status_code == 202, response.text


def test_kept_forever_accepts_any_age_until_retention_deletes(
    client: TestClient, write_headers: dict[str, str], clean_db: Database
) -> None:
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "shop.checkout", 0, default_days=35)
    rules_cache(client.app).load()
    ancient = make_event(**{"event.id": "a", "timestamp": "0001-01-01T05:00:00+01:00"})
    assert client.post(INGEST_URL, json=ancient, headers=write_headers).status_code == 202
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "shop.checkout", 35, default_days=35)
    run_at(clean_db, NOW, days=35)
    with transaction(clean_db.sessions) as s:  # forever again: the deletion's horizon stays
        service.set_retention(s, "shop.checkout", 0, default_days=35)
    rules_cache(client.app).load()
    again = client.post(INGEST_URL, json=ancient, headers=write_headers)
    assert again.status_code == 400
    assert "kept forever, after older ones were deleted" in again.text
    assert event_ids(clean_db) == set()


def test_a_deleted_event_is_never_stored_again(
    client: TestClient, write_headers: dict[str, str], clean_db: Database
) -> None:
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "shop.checkout", 100, default_days=35)
    rules_cache(client.app).load()
    old = make_event(**{"event.id": "e-1", "timestamp": _at(50)})
    assert client.post(INGEST_URL, json=old, headers=write_headers).status_code == 202
    with transaction(clean_db.sessions) as s:  # shortened: the next run deletes it
        service.set_retention(s, "shop.checkout", 40, default_days=35)
    run_at(clean_db, NOW, days=35)
    assert event_ids(clean_db) == set()
    rules_cache(client.app).load()
    again = client.post(INGEST_URL, json=old, headers=write_headers)
    assert again.status_code == 400
    assert again.json()["errors"][0]["field"] == "timestamp"
    # lengthened again: the horizon of the deletion still holds
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "shop.checkout", 100, default_days=35)
    rules_cache(client.app).load()
    third = client.post(INGEST_URL, json=old, headers=write_headers)
    assert third.status_code == 400
    assert "events before" in third.json()["errors"][0]["message"]
    assert event_ids(clean_db) == set()
    newer = make_event(**{"event.id": "e-2", "timestamp": _at(20)})
    assert client.post(INGEST_URL, json=newer, headers=write_headers).status_code == 202


def test_the_insert_refuses_events_behind_the_horizon_whatever_validation_saw(
    clean_db: Database,
) -> None:
    """Writers that skip validation (the generator, a stale copy of the rules) meet the same
    horizon in the insert statement: the event is skipped, not stored again."""
    old = NewEvent("p", "e-1", "t", NOW - timedelta(days=10), {})
    with transaction(clean_db.sessions) as s:
        assert store_events(s, [old]) == (1, 0)
    run_at(clean_db, NOW, days=5)
    with transaction(clean_db.sessions) as s:
        assert store_events(s, [old]) == (0, 1)
        fresh = NewEvent("p", "e-2", "t", NOW, {})
        assert store_events(s, [fresh]) == (1, 0)
    assert event_ids(clean_db) == {"e-2"}
