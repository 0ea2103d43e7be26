"""The ingest endpoint's contract: what is stored, what is answered, idempotency, batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.events import INGEST_URL as URL
from tests.fixtures.events import count_events, make_event, stored


def test_json_object_is_stored_with_nested_attributes(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = make_event(order={"id": "A-1", "lines": [{"sku": "x", "qty": 2}]})
    response = client.post(URL, json=body, headers=write_headers)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    [row] = stored(session)
    assert row["provider"] == "shop.checkout"
    assert row["event_id"] == "o-1"
    assert row["type"] == "order.placed"
    assert row["timestamp"] == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert row["attributes"] == {"order": {"id": "A-1", "lines": [{"sku": "x", "qty": 2}]}}


def test_json_array_is_stored_in_the_order_sent(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    # ids and providers deliberately not in sorted order: `seq` must follow the request
    ids = ["o-9", "o-1", "o-5", "o-0", "o-7"]
    body = [
        make_event(**{"event.id": i, "event.provider": f"p{9 - n}", "n": n})
        for n, i in enumerate(ids)
    ]
    response = client.post(URL, json=body, headers=write_headers)
    assert response.status_code == 202
    assert response.json() == {"accepted": 5, "duplicates": 0}
    assert [r["event_id"] for r in stored(session)] == ids


def test_nested_event_keys_are_read_like_flat_ones(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = {
        "event": {"provider": "shop.checkout", "type": "order.placed", "id": "n-1"},
        "timestamp": 1_700_000_000,
        "amount": 12.5,
    }
    response = client.post(URL, json=body, headers=write_headers)
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert (row["provider"], row["type"], row["event_id"]) == (
        "shop.checkout",
        "order.placed",
        "n-1",
    )
    assert row["attributes"] == {"amount": 12.5}


def test_other_keys_under_event_stay_attributes(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = {"event": {"provider": "p", "type": "t", "kind": "RUM"}, "x": 1}
    assert client.post(URL, json=body, headers=write_headers).status_code == 202
    [row] = stored(session)
    assert row["attributes"] == {"event": {"kind": "RUM"}, "x": 1}


def test_duplicate_event_id_is_stored_once(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    first = client.post(URL, json=make_event(v=1), headers=write_headers)
    again = client.post(URL, json=make_event(v=2), headers=write_headers)
    assert first.json() == {"accepted": 1, "duplicates": 0}
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 1}
    [row] = stored(session)
    assert row["attributes"] == {"v": 1}  # the first one wins


def test_retried_batch_answers_202_and_counts_duplicates(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [make_event(**{"event.id": f"r-{i}"}) for i in range(3)]
    assert client.post(URL, json=batch[:2], headers=write_headers).json()["accepted"] == 2
    retry = client.post(URL, json=batch, headers=write_headers)
    assert retry.status_code == 202
    assert retry.json() == {"accepted": 1, "duplicates": 2}
    assert count_events(session) == 3


def test_duplicates_inside_one_batch_are_stored_once(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [make_event(v=1), make_event(v=2), make_event(**{"event.id": "o-2"})]
    response = client.post(URL, json=batch, headers=write_headers)
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 1}
    rows = stored(session)
    assert [(r["event_id"], r["attributes"]) for r in rows] == [("o-1", {"v": 1}), ("o-2", {})]


def test_same_event_id_from_two_providers_is_two_events(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [make_event(**{"event.provider": "a"}), make_event(**{"event.provider": "b"})]
    assert client.post(URL, json=batch, headers=write_headers).json() == {
        "accepted": 2,
        "duplicates": 0,
    }
    assert sorted(r["provider"] for r in stored(session)) == ["a", "b"]


def test_missing_event_id_gets_a_generated_uuid(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [make_event(**{"event.id": None}), make_event(**{"event.id": None})]
    assert client.post(URL, json=batch, headers=write_headers).json()["accepted"] == 2
    ids = [r["event_id"] for r in stored(session)]
    assert len(set(ids)) == 2
    for value in ids:
        assert uuid.UUID(value).version == 4


def test_missing_timestamp_means_receive_time(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    before = datetime.now(UTC)
    assert (
        client.post(URL, json=make_event(timestamp=None), headers=write_headers).status_code == 202
    )
    after = datetime.now(UTC)
    [row] = stored(session)
    assert before <= row["timestamp"] <= after


def test_batch_with_invalid_events_stores_the_valid_ones_and_lists_every_problem(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [
        make_event(**{"event.id": "ok-1"}),
        make_event(**{"event.id": "bad-1", "event.type": None}),
        make_event(**{"event.id": "ok-2"}),
        make_event(**{"event.id": "bad-2", "timestamp": "yesterday"}),
        "not an object",
    ]
    response = client.post(URL, json=batch, headers=write_headers)
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 0
    assert body["rejected"] == 3
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "event.type"),
        (3, "timestamp"),
        (4, ""),
    ]
    assert "required" in body["errors"][0]["message"]
    assert "yesterday" in body["errors"][1]["message"]
    assert "object" in body["errors"][2]["message"]
    assert [r["event_id"] for r in stored(session)] == ["ok-1", "ok-2"]


def test_atomic_batch_with_one_invalid_event_stores_nothing(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [make_event(), make_event(**{"event.id": "o-2", "event.provider": ""})]
    response = client.post(URL, params={"atomic": "true"}, json=batch, headers=write_headers)
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 0
    assert body["errors"] == [
        {"index": 1, "field": "event.provider", "message": "must not be empty"}
    ]
    assert count_events(session) == 0


def test_atomic_batch_without_problems_is_stored(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [make_event(), make_event(**{"event.id": "o-2"})]
    response = client.post(URL, params={"atomic": "true"}, json=batch, headers=write_headers)
    assert response.status_code == 202
    assert count_events(session) == 2


def test_malformed_body_stores_nothing(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = b'[{"event.provider": "p", "event.type": "t"}, {"event.provider": '
    headers = {**write_headers, "Content-Type": "application/json"}
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_body"
    assert "line 1" in error["message"]
    assert count_events(session) == 0


def test_json_scalar_body_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    response = client.post(URL, json="hello", headers=write_headers)
    assert response.status_code == 400
    assert "object or an array" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_empty_array_is_accepted_as_nothing(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    response = client.post(URL, json=[], headers=write_headers)
    assert response.status_code == 202
    assert response.json() == {"accepted": 0, "duplicates": 0}
