"""JSON routes of the flow analysis: auth, filters, keyset pagination, timeline, variants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowscope.auth.models import Role
from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import correlate
from tests.flows.correlation_support import drain, event, ingest, make_flow
from tests.flows.factories import make_shop_flow

BASE = "/api/v1/flows/orders"


@pytest.fixture
def shop(clean_db: Database) -> list[dict[str, Any]]:
    """23 completed orders (ties in duration, revenue on some) and a few unfinished ones."""
    make_shop_flow(clean_db, tier=True)
    expected, events = [], []
    for n in range(23):
        cid = f"ord-{n:02d}"
        attrs: dict[str, Any] = {"tier": "gold" if n % 3 == 0 else "silver"}
        if n % 2 == 0:
            attrs["order"] = {"total": n * 10}
        duration = 10 + (n % 5) * 10
        events += [
            event(cid, "order.placed", n, attrs=attrs),
            event(cid, "payment.captured", n + 5),
            event(cid, "parcel.shipped", n + duration),
        ]
        expected.append(
            {
                "correlation_id": cid,
                "duration": duration * 60.0,
                "last": n + duration,
                "revenue": n * 10 if n % 2 == 0 else None,
            }
        )
    events += [
        event("stuck-1", "order.placed", 0),
        event("stuck-2", "order.placed", 0),
        event("stuck-2", "payment.captured", 3),
        event("bad-1", "order.placed", 0),
        event("bad-1", "payment.declined", 2),
        event("bad-1", "payment.declined", 9),
    ]
    ingest(clean_db, events)
    drain(clean_db)
    return expected


@pytest.fixture
def api(client: TestClient, make_token: Callable[..., str]) -> TestClient:
    client.headers["Authorization"] = f"Api-Token {make_token('events:read')}"
    return client


def test_routes_need_the_read_scope_or_a_signed_in_viewer(
    shop: list[dict[str, Any]],
    client: TestClient,
    make_token: Callable[..., str],
    sign_in: Callable[..., TestClient],
) -> None:
    assert client.get(f"{BASE}/analysis").status_code == 401
    # Authentication comes before the flow is looked up: a 404 would tell who exists.
    assert client.get("/api/v1/flows/nope/analysis").status_code == 401
    headers = {"Authorization": f"Api-Token {make_token('events:write')}"}
    assert client.get(f"{BASE}/analysis", headers=headers).status_code == 403
    viewer = sign_in(Role.viewer)
    assert viewer.get(f"{BASE}/variants").status_code == 200


def test_analysis_route(shop: list[dict[str, Any]], api: TestClient) -> None:
    response = api.get(
        f"{BASE}/analysis", params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kpis"]["current"]["started"] == 26
    assert body["kpis"]["current"]["completed"] == 23
    assert body["build"]["state"] == "ready"
    assert [s["key"] for s in body["steps"]] == ["placed", "paid", "shipped"]
    assert (
        api.get(f"{BASE}/analysis", params={"from": "2026-11-02", "to": "2026-11-01"})
        .json()["error"]["message"]
        .startswith("from:")
    )


@pytest.mark.parametrize("sort", ["last_activity", "duration", "revenue"])
def test_keyset_pages_cover_every_instance_once_in_a_stable_order(
    shop: list[dict[str, Any]], api: TestClient, sort: str
) -> None:
    key = {
        "last_activity": lambda e: e["last"],
        "duration": lambda e: e["duration"],
        "revenue": lambda e: float("-inf") if e["revenue"] is None else e["revenue"],
    }[sort]
    completed = sorted(shop, key=lambda e: (key(e), e["correlation_id"]), reverse=True)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"status": "completed", "sort": sort, "limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = api.get(f"{BASE}/instances", params=params).json()
        seen += [item["correlation_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["correlation_id"] for e in completed]


def test_instance_filters(shop: list[dict[str, Any]], api: TestClient) -> None:
    def ids(**params: Any) -> set[str]:
        response = api.get(f"{BASE}/instances", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return {item["correlation_id"] for item in response.json()["items"]}

    assert ids(status="dropped") == {"stuck-1", "stuck-2", "bad-1"}  # weeks old, unfinished
    assert ids(step="paid", status="dropped") == {"stuck-2", "bad-1"}
    assert ids(step="placed", status="dropped") == {"stuck-1"}
    assert ids(status="exception") == {"bad-1"}
    assert ids(step="paid", status="exception") == {"bad-1"}
    assert ids(step="shipped", status="exception") == set()
    assert ids(q="ORD-1") == {f"ord-{n}" for n in range(10, 20)}
    assert ids(property="tier:gold", status="completed") == {
        f"ord-{n:02d}" for n in range(0, 23, 3)
    }
    assert len(ids(step="shipped")) == 23
    assert ids(status="in_progress") == set()


def test_bad_requests_name_the_field(shop: list[dict[str, Any]], api: TestClient) -> None:
    def error(path: str, **params: Any) -> tuple[int, str]:
        response = api.get(path, params=params)
        return response.status_code, response.json()["error"]["message"]

    status, message = error(f"{BASE}/instances", cursor="not-a-cursor")
    assert status == 400
    assert message.startswith("cursor:")
    assert error(f"{BASE}/instances", property="tier")[1].startswith("property:")
    assert error(f"{BASE}/instances", step="nope")[1].startswith("step:")
    assert error(f"{BASE}/instances", status="lost")[0] == 400
    assert error("/api/v1/flows/nope/analysis")[0] == 404
    assert error(f"{BASE}/instances/unknown")[0] == 404


def test_a_cursor_of_one_sort_is_refused_by_another(
    shop: list[dict[str, Any]], api: TestClient
) -> None:
    cursor = api.get(f"{BASE}/instances", params={"limit": 2}).json()["next_cursor"]
    response = api.get(f"{BASE}/instances", params={"cursor": cursor, "sort": "revenue"})
    assert response.status_code == 400
    assert "another sort" in response.json()["error"]["message"]


def test_timeline_of_one_instance(shop: list[dict[str, Any]], api: TestClient) -> None:
    body = api.get(f"{BASE}/instances/ord-04").json()
    events = body["events"]
    assert [e["step"] for e in events] == ["placed", "paid", "shipped"]
    assert [e["delta_s"] for e in events] == [None, 300.0, 2700.0]
    assert body["longest_gap_index"] == 2
    assert events[0]["attributes"]["order"]["total"] == 40
    assert events[0]["step_name"] == "Placed"
    assert body["instance"]["state"] == "completed"
    bad = api.get(f"{BASE}/instances/bad-1").json()
    assert [e["exception"] for e in bad["events"]] == [None, "declined", "declined"]
    assert [e["type"] for e in bad["events"]][1] == "payment.declined"


def test_variants_route(shop: list[dict[str, Any]], api: TestClient) -> None:
    body = api.get(f"{BASE}/variants").json()
    assert body["total"] == 26
    assert body["variants"][0] == {
        "steps": ["placed", "paid", "shipped"],
        "count": 23,
        "completed": 23,
        "share": pytest.approx(23 / 26),
        "avg_duration_s": pytest.approx(sum(e["duration"] for e in shop) / 23),
    }
    repeated = body["conformance"]["out_of_order_transitions"]
    assert repeated == [{"from": "paid", "to": "paid", "count": 1, "examples": ["bad-1"]}]


def test_builds_route_shows_a_rebuild_in_progress(
    shop: list[dict[str, Any]], api: TestClient, clean_db: Database
) -> None:
    make_flow(clean_db, correlation="order.ref")  # version 2: another correlation field
    with transaction(clean_db.sessions) as session:
        correlate(session, batch_size=10, backfill_batches=1)
    body = api.get(f"{BASE}/builds").json()
    assert body["version"] == 2
    newest, shown = body["builds"][0], body["builds"][1]
    assert (newest["version"], newest["state"]) == (2, "building")
    # 75 stored events, of which the 2 payment.declined are not part of version 2
    assert (newest["events_done"], newest["events_total"]) == (10, 73)
    assert (shown["version"], shown["state"]) == (1, "ready")
    analysis = api.get(f"{BASE}/analysis", params={"from": "2026-11-01", "to": "2026-11-02"})
    assert analysis.json()["version"] == 1  # the old results stay readable meanwhile
    assert analysis.json()["build"]["state"] == "building"
    assert analysis.json()["kpis"]["current"]["started"] == 26
    drain(clean_db)
    analysis = api.get(f"{BASE}/analysis", params={"from": "2026-11-01", "to": "2026-11-02"})
    assert analysis.json()["version"] == 2
    assert analysis.json()["kpis"]["current"]["started"] == 0  # no event has order.ref
