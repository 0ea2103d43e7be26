"""The official CloudEvents SDK as a real client: structured, binary and batch mode."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import conversion as v1_conversion
from cloudevents.v1.http import CloudEvent as V1CloudEvent
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.events import INGEST_URL as URL
from tests.fixtures.events import stored

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def order_placed(event_id: str = "sdk-1", **attributes: Any) -> CloudEvent:
    return CloudEvent(
        attributes={
            "id": event_id,
            "source": "shop.checkout",
            "type": "order.placed",
            "time": T0,
            "subject": "order/A-1",
            "traceparent": TRACEPARENT,
            **attributes,
        },
        data={"order": {"id": "A-1", "amount": 99.5}},
    )


EXPECTED_ATTRIBUTES = {
    "order": {"id": "A-1", "amount": 99.5},
    "subject": "order/A-1",
    "traceparent": TRACEPARENT,
}


def test_sdk_structured_event_is_stored(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    message = ce_http.to_structured_event(order_placed(datacontenttype="application/json"))
    assert message.headers["content-type"].startswith("application/cloudevents+json")
    response = client.post(URL, content=message.body, headers={**write_headers, **message.headers})
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert (row["provider"], row["type"], row["event_id"]) == (
        "shop.checkout",
        "order.placed",
        "sdk-1",
    )
    assert row["timestamp"] == T0
    assert row["attributes"] == EXPECTED_ATTRIBUTES


def test_sdk_binary_event_with_json_content_type_is_stored(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    message = ce_http.to_binary_event(order_placed(datacontenttype="application/json"))
    assert message.headers["ce-specversion"] == "1.0"
    response = client.post(URL, content=message.body, headers={**write_headers, **message.headers})
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert (row["provider"], row["event_id"], row["timestamp"]) == ("shop.checkout", "sdk-1", T0)
    assert row["attributes"] == EXPECTED_ATTRIBUTES


def test_sdk_binary_event_without_datacontenttype_is_read_as_json(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    # The SDK sends no Content-Type when the event has no datacontenttype; CloudEvents' JSON
    # default applies.
    message = ce_http.to_binary_event(order_placed())
    assert "content-type" not in {k.lower() for k in message.headers}
    response = client.post(URL, content=message.body, headers={**write_headers, **message.headers})
    assert response.status_code == 202, response.text
    assert stored(session)[0]["attributes"] == EXPECTED_ATTRIBUTES


def test_sdk_binary_header_values_are_percent_decoded(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    # The HTTP binding percent-encodes space, '"', '%' and non-ASCII in ce-* headers.
    event = order_placed(
        source="shop checkout",
        type='order "placed" 100%',
        subject="Zürich",
        datacontenttype="application/json",
    )
    message = ce_http.to_binary_event(event)
    assert message.headers["ce-source"] == "shop%20checkout"
    response = client.post(URL, content=message.body, headers={**write_headers, **message.headers})
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert (row["provider"], row["type"]) == ("shop checkout", 'order "placed" 100%')
    assert row["attributes"]["subject"] == "Zürich"


def test_sdk_events_as_a_batch_are_stored(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    # The SDK has no batch writer: a batch is a JSON array of structured-mode events.
    fmt = JSONFormat()
    events = [order_placed(f"sdk-{i}", datacontenttype="application/json") for i in range(3)]
    body = b"[" + b",".join(fmt.write(e) for e in events) + b"]"
    headers = {**write_headers, "Content-Type": "application/cloudevents-batch+json"}
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 3, "duplicates": 0}
    rows = stored(session)
    assert [r["event_id"] for r in rows] == ["sdk-0", "sdk-1", "sdk-2"]
    assert all(r["attributes"] == EXPECTED_ATTRIBUTES for r in rows)


def test_sdk_event_round_trips_through_the_stored_row(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    """What the SDK reads back from our structured body equals what was sent."""
    sent = order_placed(datacontenttype="application/json")
    message = ce_http.to_structured_event(sent)
    response = client.post(URL, content=message.body, headers={**write_headers, **message.headers})
    assert response.status_code == 202
    parsed = ce_http.from_structured_event(ce_http.HTTPMessage(message.headers, message.body))
    [row] = stored(session)
    assert parsed.get_source() == row["provider"]
    assert parsed.get_id() == row["event_id"]
    assert parsed.get_time() == row["timestamp"]
    assert json.loads(json.dumps(parsed.get_data())) == {"order": row["attributes"]["order"]}


@pytest.mark.parametrize("convert", [v1_conversion.to_structured, v1_conversion.to_binary])
def test_classic_sdk_api_events_are_stored(
    client: TestClient,
    write_headers: dict[str, str],
    session: Session,
    convert: Callable[[V1CloudEvent], tuple[dict[str, str], bytes]],
) -> None:
    """The pre-2.0 API (`cloudevents.http`, now `cloudevents.v1`) that many clients still use."""
    event = V1CloudEvent(
        {
            "id": "v1-1",
            "source": "shop checkout",
            "type": "order.placed",
            "time": "2026-11-23T10:00:00Z",
            "traceparent": TRACEPARENT,
        },
        {"order": {"id": "A-1", "amount": 99.5}},
    )
    headers, body = convert(event)
    response = client.post(URL, content=body, headers={**write_headers, **headers})
    assert response.status_code == 202, response.text
    [row] = stored(session)
    assert (row["provider"], row["event_id"], row["timestamp"]) == ("shop checkout", "v1-1", T0)
    assert row["attributes"] == {"order": {"id": "A-1", "amount": 99.5}, "traceparent": TRACEPARENT}
