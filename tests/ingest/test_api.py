from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

URL = "/api/v2/bizevents/ingest"


def stored(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        text('select provider, event_id, type, "timestamp", attributes from events order by seq')
    )
    return [dict(r._mapping) for r in rows]


def test_json_object_is_stored_with_nested_attributes(
    client: TestClient, write_headers: dict[str, str], session: Session
) -> None:
    body = {
        "event.provider": "shop.checkout",
        "event.type": "order.placed",
        "event.id": "o-1",
        "timestamp": "2026-11-23T10:00:00Z",
        "order": {"id": "A-1", "lines": [{"sku": "x", "qty": 2}]},
    }
    response = client.post(URL, json=body, headers=write_headers)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    [row] = stored(session)
    assert row["provider"] == "shop.checkout"
    assert row["event_id"] == "o-1"
    assert row["attributes"] == {"order": {"id": "A-1", "lines": [{"sku": "x", "qty": 2}]}}
