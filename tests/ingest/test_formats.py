"""Body formats: CloudEvents (structured, batch, binary), NDJSON, and the timestamp forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.events import INGEST_URL as URL
from tests.fixtures.events import count_events, make_event, stored

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def cloudevent(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "shop.checkout",
        "type": "order.placed",
        "time": "2026-11-23T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {"order": {"id": "A-1"}, "amount": 10},
    }
    event.update(overrides)
    return event


def post(client: TestClient, headers: dict[str, str], body: Any, content_type: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(URL, content=raw, headers={**headers, "Content-Type": content_type})


@pytest.mark.parametrize(
    "content_type",
    [
        "application/cloudevents+json",
        "application/cloudevent+json",
        "application/cloudevents+json; charset=utf-8",
    ],
)
def test_structured_cloudevent_maps_context_to_columns(
    client: TestClient, write_headers: dict[str, str], session: Session, content_type: str
) -> None:
    response = post(client, write_headers, cloudevent(), content_type)
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert row["provider"] == "shop.checkout"
    assert row["type"] == "order.placed"
    assert row["event_id"] == "ce-1"
    assert row["timestamp"] == T0
    assert row["attributes"] == {"order": {"id": "A-1"}, "amount": 10}


def test_cloudevent_extension_attributes_are_kept(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    extensions = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "dtcontext": "FW4;129;12345",
        "subject": "order/A-1",
        "dataschema": "https://example.com/schema/order.json",
    }
    response = post(client, write_headers, cloudevent(**extensions), "application/cloudevents+json")
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert row["attributes"] == {"order": {"id": "A-1"}, "amount": 10, **extensions}


def test_cloudevent_with_non_object_data_keeps_it_under_data(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    response = post(client, write_headers, cloudevent(data=[1, 2]), "application/cloudevents+json")
    assert response.status_code == 202
    assert stored(session)[0]["attributes"] == {"data": [1, 2]}


def test_cloudevents_batch_stores_each_event(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [cloudevent(id=f"ce-{i}") for i in range(3)]
    response = post(client, write_headers, batch, "application/cloudevents-batch+json")
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert [r["event_id"] for r in stored(session)] == ["ce-0", "ce-1", "ce-2"]


def test_cloudevents_batch_names_the_invalid_member(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    batch = [cloudevent(), cloudevent(id="ce-2", specversion="0.3"), cloudevent(id="ce-3")]
    del batch[2]["source"]
    response = post(client, write_headers, batch, "application/cloudevents-batch+json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "specversion"), (2, "source")]
    assert count_events(session) == 1


def test_structured_cloudevent_that_is_not_an_object_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    response = post(client, write_headers, [cloudevent()], "application/cloudevents+json")
    assert response.status_code == 400
    assert "one JSON object" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_binary_cloudevent_reads_context_from_headers(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    headers = {
        **write_headers,
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "shop.checkout",
        "ce-type": "order.placed",
        "ce-time": "2026-11-23T10:00:00Z",
        "ce-traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    response = client.post(URL, content=b'{"order": {"id": "A-1"}}', headers=headers)
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert (row["provider"], row["type"], row["event_id"]) == (
        "shop.checkout",
        "order.placed",
        "b-1",
    )
    assert row["timestamp"] == T0
    assert row["attributes"] == {
        "order": {"id": "A-1"},
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }


def test_binary_cloudevent_without_required_header_names_it(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    headers = {
        **write_headers,
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "shop.checkout",
    }
    response = client.post(URL, content=b"{}", headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "type"
    assert count_events(session) == 0


def test_ndjson_stores_one_event_per_line(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    lines = [json.dumps(make_event(**{"event.id": f"l-{i}"})) for i in range(3)]
    body = ("\n".join(lines) + "\n\n").encode()
    response = post(client, write_headers, body, "application/x-ndjson")
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert [r["event_id"] for r in stored(session)] == ["l-0", "l-1", "l-2"]


def test_ndjson_bad_line_is_reported_and_others_stored(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = "\n".join(
        [json.dumps(make_event()), "{not json", json.dumps(make_event(**{"event.id": "o-2"}))]
    )
    response = post(client, write_headers, body.encode(), "application/x-ndjson")
    assert response.status_code == 400
    assert response.json()["accepted"] == 2
    [problem] = response.json()["errors"]
    assert problem["index"] == 1
    assert "invalid JSON" in problem["message"]
    assert count_events(session) == 2


def test_binary_cloudevent_with_non_json_data_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    headers = {
        **write_headers,
        "Content-Type": "text/plain",
        "ce-specversion": "1.0",
        "ce-source": "s",
        "ce-type": "t",
    }
    response = client.post(URL, content=b"hello", headers=headers)
    assert response.status_code == 415
    assert "must be JSON" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_binary_cloudevent_header_with_an_encoded_nul_is_refused(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    headers = {
        **write_headers,
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-source": "shop%00checkout",
        "ce-type": "order.placed",
    }
    response = client.post(URL, content=b"{}", headers=headers)
    assert response.status_code == 400, response.text
    [problem] = response.json()["errors"]
    assert problem["field"] == "source"
    assert "NUL" in problem["message"]
    assert count_events(session) == 0


def test_structured_content_type_wins_over_stray_ce_headers(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    # HTTP binding: the application/cloudevents+json content type marks structured mode.
    headers = {
        **write_headers,
        "Content-Type": "application/cloudevents+json",
        "ce-specversion": "1.0",
        "ce-source": "from.header",
        "ce-type": "from.header",
    }
    response = client.post(URL, content=json.dumps(cloudevent()).encode(), headers=headers)
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert (row["provider"], row["type"]) == ("shop.checkout", "order.placed")
    assert row["attributes"] == {"order": {"id": "A-1"}, "amount": 10}
