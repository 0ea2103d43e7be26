"""What the notebook completes: commands, functions with signatures, field names from data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from flowscope.query import completion
from flowscope.query.completion import MAX_FIELDS, TTL_S, field_names
from tests.query.data import ingest

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_cache() -> None:
    completion._cache.clear()  # each test's database starts empty under the same URL


def _events(session: Session, attributes: list[dict[str, object]], start: int = 0) -> None:
    ingest(
        session,
        [
            NewEvent("shop", f"c{start + i}", "order.placed", NOW - timedelta(minutes=i), a)
            for i, a in enumerate(attributes)
        ],
    )


def test_field_names_are_standard_fields_then_attribute_paths_most_used_first(
    session: Session,
) -> None:
    _events(
        session,
        [{"loyalty": {"tier": "gold"}, "orderId": "O-1"}, {"orderId": "O-2"}, {"rare": 1}],
    )
    names = field_names(session, now=1_000.0)
    assert names[:5] == ["timestamp", "event.provider", "event.type", "event.id", "event.kind"]
    assert "steps" in names  # fetch flows' fields too
    attributes = [n for n in names if n in ("orderId", "loyalty", "loyalty.tier", "rare")]
    assert attributes == ["orderId", "loyalty", "loyalty.tier", "rare"]


def test_field_names_are_cached_for_a_while_and_bounded(session: Session) -> None:
    _events(session, [{"first": 1}])
    assert "first" in field_names(session, now=5_000.0)
    _events(session, [{f"k{i}": i for i in range(2 * MAX_FIELDS)}], start=10)
    cached = field_names(session, now=5_000.0 + TTL_S / 2)
    assert "k0" not in cached
    fresh = field_names(session, now=5_000.0 + TTL_S + 1)
    assert "k0" in fresh
    assert len(fresh) == MAX_FIELDS


def test_the_completions_api_answers_readers(
    client: TestClient, session: Session, make_token: Callable[..., str]
) -> None:
    _events(session, [{"orderId": "O-1"}])
    answer = client.get(
        "/api/v1/query/completions",
        headers={"Authorization": f"Api-Token {make_token('events:read')}"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert "join" in body["commands"]
    assert {"name": "splitString", "signature": 'splitString(text, delimiter: ",")'} in body[
        "functions"
    ]
    assert "orderId" in body["fields"]
    assert client.get("/api/v1/query/completions").status_code == 401
