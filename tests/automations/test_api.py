"""The automations API: shapes, scopes, write-only secrets, YAML round trip, audit entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from flowscope.audit.models import AuditEntry
from flowscope.automations.dispatcher import dispatch
from flowscope.db import Database
from flowscope.settings import Settings
from tests.automations.receivers import Recorder

SECRET = "Bearer top-secret-value"
SLACK = "https://hooks.slack.example/services/T1/B2/very-secret"


def body(receiver_url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return {
        "name": "Notify",
        "trigger": {"type": "alert", "rules": [1], "on": ["opened", "resolved"]},
        "actions": [
            {
                "type": "http",
                "method": "POST",
                "url": receiver_url + "/hook",
                "headers": [{"name": "Authorization", "value": SECRET, "secret": True}],
                "body": "{{ alert.rule.name }}",
            },
            {"type": "slack", "url": SLACK, "text": "{{ alert.rule.name }}"},
            {"type": "email", "to": ["ops@example.com"], "subject": "s", "body": "b"},
        ],
    }


def headers(make_token: Callable[..., str], *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token(*scopes, name='-'.join(scopes))}"}


def test_create_read_update_delete_with_secrets_never_shown(
    client: TestClient, make_token: Callable[..., str], clean_db: Database
) -> None:
    admin = headers(make_token, "admin")
    reader = headers(make_token, "events:read")
    created = client.post("/api/v1/automations", json=body(), headers=admin)
    assert created.status_code == 201, created.text
    automation = created.json()
    assert len(automation["signing_secret"]) >= 40
    automation_id = automation["id"]

    listed = client.get("/api/v1/automations", headers=reader)
    one = client.get(f"/api/v1/automations/{automation_id}", headers=reader)
    exported = client.get("/api/v1/automations/export.yaml", headers=reader)
    for response in (created, listed, one, exported):
        assert response.status_code == 200 or response.status_code == 201
        assert SECRET not in response.text
        assert "very-secret" not in response.text
    assert one.json()["actions"][0]["headers"][0]["value"] == "••• set"
    assert one.json()["actions"][1]["url"] == "••• set"
    assert automation["signing_secret"] not in one.text + listed.text + exported.text
    assert "signing_secret" not in one.json()

    # PUT what GET gave (masks included): the stored secrets stay.
    update = {k: one.json()[k] for k in ("name", "trigger", "actions")}
    update["name"] = "Notify ops"
    put = client.put(f"/api/v1/automations/{automation_id}", json=update, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json()["actions"][0]["headers"][0]["value"] == "••• set"
    with clean_db.sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.actor_name)
            .where(AuditEntry.action.startswith("automation."))
            .order_by(AuditEntry.id)
        ).all()
    assert [r.action for r in rows] == ["automation.created", "automation.updated"]
    assert rows[0].target == f"automation:{automation_id}"
    assert rows[0].actor_name == "token:admin"
    with clean_db.engine.connect() as conn:  # encrypted at rest, not merely hidden
        stored = conn.exec_driver_sql("select secrets::text, actions::text from automations")
        for text in stored.one():
            assert "top-secret-value" not in text
            assert "very-secret" not in text

    assert client.delete(f"/api/v1/automations/{automation_id}", headers=reader).status_code == 403
    assert client.delete(f"/api/v1/automations/{automation_id}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/automations/{automation_id}", headers=reader).status_code == 404


def test_a_put_without_the_secret_keeps_it_and_a_new_value_replaces_it(
    client: TestClient,
    make_token: Callable[..., str],
    clean_db: Database,
    settings: Settings,
    receiver: Recorder,
) -> None:
    admin = headers(make_token, "admin")
    data = body(receiver.url)
    data["trigger"] = {"type": "manual"}
    data["actions"] = data["actions"][:1]
    data["actions"][0]["body"] = "run {{ run.id }} of {{ automation.name }}"
    automation_id = client.post("/api/v1/automations", json=data, headers=admin).json()["id"]
    data["actions"][0]["headers"][0]["value"] = None
    assert client.put(f"/api/v1/automations/{automation_id}", json=data, headers=admin).is_success
    run = client.post(f"/api/v1/automations/{automation_id}/run", headers=admin)
    assert run.status_code == 202
    dispatch(clean_db, settings, budget_seconds=5)
    data["actions"][0]["headers"][0]["value"] = "Bearer rotated"
    assert client.put(f"/api/v1/automations/{automation_id}", json=data, headers=admin).is_success
    client.post(f"/api/v1/automations/{automation_id}/run", headers=admin)
    dispatch(clean_db, settings, budget_seconds=5)
    sent = [h.headers["Authorization"] for h in receiver.at("/hook")]
    assert sent == [SECRET, "Bearer rotated"]
    assert receiver.at("/hook")[0].body == b"run 1 of Notify"

    history = client.get(
        f"/api/v1/automations/{automation_id}/runs", headers=headers(make_token, "events:read")
    )
    assert history.status_code == 200
    runs = history.json()
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    step = runs[0]["steps"][0]
    assert step["response_status"] == 200
    assert step["attempts"] == 1
    assert step["request"]["headers"]["Authorization"] == "••• set"
    assert "rotated" not in history.text


def test_bad_input_answers_4xx_naming_the_field_and_changes_nothing(
    client: TestClient, make_token: Callable[..., str], clean_db: Database
) -> None:
    admin = headers(make_token, "admin")
    cases: list[tuple[Any, int, str]] = [
        ({**body(), "name": ""}, 422, "name"),
        ({**body(), "actions": []}, 422, "actions"),
        ({**body(), "trigger": {"type": "nope"}}, 422, "trigger"),
        ({**body(), "actions": [{"type": "http", "url": "x", "body": "{{ a"}]}, 422, "actions.0"),
        (
            {**body(), "actions": [{"type": "email", "to": ["x"], "subject": "", "body": ""}]},
            422,
            "actions.0.email.to",
        ),
        ({**body(), "actions": [{"type": "slack", "text": "hi"}]}, 422, "actions.0.url"),
        ({**body(), "surprise": 1}, 422, "surprise"),
        ([1, 2], 422, "body"),
    ]
    for data, status, field in cases:
        response = client.post("/api/v1/automations", json=data, headers=admin)
        assert response.status_code == status, (data, response.text)
        assert response.json()["error"]["message"].startswith(field), response.json()
    not_json = client.post("/api/v1/automations", content=b"{", headers=admin)
    assert not_json.status_code == 400
    assert client.get("/api/v1/automations/99", headers=admin).status_code == 404
    assert client.get(f"/api/v1/automations/{2**70}", headers=admin).status_code == 400
    assert client.post("/api/v1/automations/99/run", headers=admin).status_code == 404
    assert client.get("/api/v1/automations", headers=admin).json() == []
    assert client.post("/api/v1/automations", json=body()).status_code == 401
    created = client.post("/api/v1/automations", json=body(), headers=admin)
    again = client.post("/api/v1/automations", json=body(), headers=admin)
    assert created.status_code == 201
    assert again.status_code == 409


def test_yaml_export_and_import_round_trip_keeping_secrets(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    admin = headers(make_token, "admin")
    client.post("/api/v1/automations", json=body(), headers=admin)
    exported = client.get("/api/v1/automations/export.yaml", headers=admin).text
    document = yaml.safe_load(exported)
    assert document["automations"][0]["actions"][0]["headers"][0]["value"] is None
    document["automations"][0]["enabled"] = False
    document["automations"].append({**body(), "name": "Second"})
    imported = client.post(
        "/api/v1/automations/import",
        content=yaml.safe_dump(document),
        headers={**admin, "Content-Type": "application/yaml"},
    )
    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert [(r["name"], r["created"]) for r in result] == [("Notify", False), ("Second", True)]
    assert result[0]["signing_secret"] is None
    listed = {a["name"]: a for a in client.get("/api/v1/automations", headers=admin).json()}
    assert listed["Notify"]["enabled"] is False
    assert listed["Notify"]["actions"][1]["url"] == "••• set"  # kept from before the import
    broken = client.post(
        "/api/v1/automations/import",
        content=b"automations:\n  - name: x\n    trigger: {type: manual}\n    actions: []\n",
        headers=admin,
    )
    assert broken.status_code == 422
    assert json.loads(broken.text)["error"]["message"].startswith("automations[0].actions")
