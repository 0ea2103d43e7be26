"""The alerts JSON API: scopes, the shapes of the issue, bad input refused with 4xx naming
the field and changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flowscope.alerts.evaluator import evaluate_due
from flowscope.alerts.models import AlertRule
from flowscope.audit.models import AuditEntry
from flowscope.db import Database, transaction
from tests.alerts.support import shop_with_flows
from tests.flows.correlation_support import T0

RULE: dict[str, Any] = {
    "name": "Exceptions up",
    "source": {"flow": "orders", "kpi": "exceptions"},
    "analyzer": {"type": "static", "condition": "above", "threshold": 10},
    "samples": {"violating": 3, "of": 5, "dealerting": 5},
    "interval_seconds": 60,
}


@pytest.fixture
def admin(make_token: Callable[..., str], clean_db: Database) -> dict[str, str]:
    shop_with_flows(clean_db)
    return {"Authorization": f"Api-Token {make_token('admin')}"}


@pytest.fixture
def reader(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('events:read', name='reader')}"}


def _rules(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AlertRule)) or 0)


def test_create_read_update_delete(
    client: TestClient, admin: dict[str, str], reader: dict[str, str], clean_db: Database
) -> None:
    created = client.post("/api/v1/alert-rules", json=RULE, headers=admin)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    got = client.get(f"/api/v1/alert-rules/{rule_id}", headers=reader).json()
    assert got["name"] == "Exceptions up"
    assert got["source"] == {"flow": "orders", "kpi": "exceptions", "step": None}
    assert got["open_alerts"] == 0
    listed = client.get("/api/v1/alert-rules", headers=reader).json()
    assert [r["id"] for r in listed] == [rule_id]
    changed = {**RULE, "severity": "critical", "analyzer": {"type": "adaptive", "n": 2}}
    put = client.put(f"/api/v1/alert-rules/{rule_id}", json=changed, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json()["analyzer"]["type"] == "adaptive"
    assert client.delete(f"/api/v1/alert-rules/{rule_id}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/alert-rules/{rule_id}", headers=reader).status_code == 404
    with clean_db.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target.startswith("alert_rule:"))
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["alert_rule.create", "alert_rule.update", "alert_rule.delete"]


def test_a_query_rule_is_accepted(client: TestClient, admin: dict[str, str]) -> None:
    body = {
        **RULE,
        "source": {"query": "fetch bizevents | makeTimeseries count(), interval: 1m"},
    }
    assert client.post("/api/v1/alert-rules", json=body, headers=admin).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"analyzer": {"type": "static", "treshold": 3}}, "analyzer.treshold"),
        ({"analyzer": {"type": "magic"}}, "analyzer"),
        ({"source": {"flow": "orders", "kpi": "happiness"}}, "source"),
        ({"source": {"flow": "nope", "kpi": "started"}}, "source.flow"),
        ({"source": {"flow": "orders", "kpi": "reached", "step": "nope"}}, "source.step"),
        ({"source": {"query": "fetch bizevents | frobnicate"}}, "source.query"),
        ({"source": {"query": "x", "flow": "orders"}}, "source.flow"),
        ({"samples": {"violating": 6, "of": 5}}, "samples"),
        ({"interval_seconds": 1}, "interval_seconds"),
        ({"interval_seconds": "soon"}, "interval_seconds"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"name": ""}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"analyzer": {"type": "static", "threshold": "Infinity"}}, "analyzer.threshold"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    client: TestClient,
    admin: dict[str, str],
    clean_db: Database,
    change: dict[str, Any],
    field: str,
) -> None:
    response = client.post("/api/v1/alert-rules", json={**RULE, **change}, headers=admin)
    assert response.status_code in (400, 422), response.text
    assert field in response.json()["error"]["message"]
    assert _rules(clean_db) == 0


def test_bodies_that_are_not_rules(client: TestClient, admin: dict[str, str]) -> None:
    for body in ([], "rule", None):
        response = client.post("/api/v1/alert-rules", json=body, headers=admin)
        assert 400 <= response.status_code < 500, response.text
    response = client.post(
        "/api/v1/alert-rules",
        content=b"{not json",
        headers={**admin, "content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500


def test_scopes(client: TestClient, admin: dict[str, str], reader: dict[str, str]) -> None:
    assert client.get("/api/v1/alert-rules").status_code == 401
    assert client.post("/api/v1/alert-rules", json=RULE, headers=reader).status_code == 403
    assert client.get("/api/v1/alerts", headers=reader).status_code == 200
    rule_id = client.post("/api/v1/alert-rules", json=RULE, headers=admin).json()["id"]
    assert client.delete(f"/api/v1/alert-rules/{rule_id}", headers=reader).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/alert-rules/0",
        "/api/v1/alert-rules/99999999999999999999999",
        "/api/v1/alert-rules/abc",
        "/api/v1/alerts?state=closed",
        "/api/v1/alerts?rule=-1",
        "/api/v1/alerts?limit=100000",
        "/api/v1/alerts/99",
    ],
)
def test_bad_ids_and_filters_are_4xx(client: TestClient, reader: dict[str, str], path: str) -> None:
    response = client.get(path, headers=reader)
    assert 400 <= response.status_code < 500, response.text


def test_alerts_list_filter_and_acknowledge(
    client: TestClient, admin: dict[str, str], reader: dict[str, str], clean_db: Database
) -> None:
    rule = {
        **RULE,
        "analyzer": {"type": "static", "condition": "above", "threshold": 0},
        "samples": {"violating": 1, "of": 1, "dealerting": 2},
        "interval_seconds": 600,
    }
    rule_id = client.post("/api/v1/alert-rules", json=rule, headers=admin).json()["id"]
    with transaction(clean_db.sessions) as session:
        evaluate_due(session, (), T0 + timedelta(minutes=20), rule_ids=[rule_id])
    open_ = client.get(f"/api/v1/alerts?state=open&rule={rule_id}", headers=reader).json()
    assert len(open_) == 1
    assert open_[0]["rule"]["name"] == "Exceptions up"
    assert open_[0]["threshold"] == "above 0"
    assert client.get("/api/v1/alerts?state=resolved", headers=reader).json() == []
    assert client.get("/api/v1/alert-rules", headers=reader).json()[0]["open_alerts"] == 1
    alert_id = open_[0]["id"]
    acked = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=admin).json()
    assert acked["acknowledged_by"].startswith("token:")
    assert acked["acknowledged_at"] is not None


def test_silences(client: TestClient, admin: dict[str, str], reader: dict[str, str]) -> None:
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = client.post(
        "/api/v1/alert-silences", json={"ends_at": until, "reason": "deploy"}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.json()["rule"] is None
    assert [s["reason"] for s in client.get("/api/v1/alert-silences", headers=reader).json()] == [
        "deploy"
    ]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    bad = client.post("/api/v1/alert-silences", json={"ends_at": past}, headers=admin)
    assert bad.status_code == 422
    assert "ends_at" in bad.json()["error"]["message"]
    unknown_rule = client.post(
        "/api/v1/alert-silences", json={"ends_at": until, "rule": 42}, headers=admin
    )
    assert unknown_rule.status_code == 404
    silence_id = made.json()["id"]
    assert client.delete(f"/api/v1/alert-silences/{silence_id}", headers=admin).status_code == 204
    assert client.get("/api/v1/alert-silences", headers=reader).json() == []


def test_preview_of_a_saved_and_an_unsaved_rule(
    client: TestClient, admin: dict[str, str], reader: dict[str, str]
) -> None:
    rule_id = client.post("/api/v1/alert-rules", json=RULE, headers=admin).json()["id"]
    saved = client.get(f"/api/v1/alert-rules/{rule_id}/preview", headers=reader)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["threshold"] == "above 10"
    assert body["interval_seconds"] == 60
    assert len(body["groups"][0]["points"]) == 7 * 24 * 60
    unsaved = client.post("/api/v1/alert-rules/preview", json=RULE, headers=reader)
    assert unsaved.status_code == 200
    bad = client.post("/api/v1/alert-rules/preview", json={**RULE, "x": 1}, headers=reader)
    assert bad.status_code == 422


def test_yaml_export_and_import_round_trip(
    client: TestClient, admin: dict[str, str], clean_db: Database
) -> None:
    client.post("/api/v1/alert-rules", json=RULE, headers=admin)
    exported = client.get("/api/v1/alert-rules/export", headers=admin)
    assert exported.status_code == 200
    assert "Exceptions up" in exported.text
    text = exported.text.replace("threshold: 10.0", "threshold: 20.0")
    second = text.replace("name: Exceptions up", "name: Second")
    imported = client.post(
        "/api/v1/alert-rules/import",
        content=text + second.split("alert_rules:\n", 1)[1],
        headers={**admin, "content-type": "application/yaml"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"created": 1, "updated": 1}
    rules = client.get("/api/v1/alert-rules", headers=admin).json()
    assert [r["analyzer"]["threshold"] for r in rules] == [20.0, 20.0]
    broken = (
        "alert_rules:\n  - name: x\n    source: {flow: orders, kpi: started}\n"
        "    analyzer: {type: static}\n"
    )
    refused = client.post("/api/v1/alert-rules/import", content=broken, headers=admin)
    assert refused.status_code == 422
    assert "alert_rules[0].analyzer.threshold" in refused.json()["error"]["message"]
    assert _rules(clean_db) == 2
