"""Alert pages through the test client: the form (prefilled, invalid, saved), preview and
Suggest values fragments, the rule and Alerts pages, the nav badge and the flow page's cards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from flowscope.alerts.evaluator import evaluate_due
from flowscope.auth.models import Role
from flowscope.db import Database, transaction
from tests.alerts.support import shop_with_flows
from tests.conftest import csrf_from
from tests.flows.correlation_support import T0

FORM = {
    "name": "Exceptions up",
    "severity": "critical",
    "source_kind": "kpi",
    "flow": "orders",
    "kpi": "exceptions",
    "step": "",
    "type": "static",
    "condition": "above",
    "threshold": "0",
    "violating": "1",
    "of": "1",
    "dealerting": "2",
    "interval_seconds": "600",
    "enabled": "on",
}


@pytest.fixture
def editor(clean_db: Database, sign_in: Callable[..., TestClient]) -> TestClient:
    shop_with_flows(clean_db)
    return sign_in(Role.editor)


def _csrf(client: TestClient) -> str:
    return csrf_from(client.get("/alerts").text)


def test_new_alert_form_is_prefilled_from_a_kpi_card(editor: TestClient) -> None:
    page = editor.get("/alert-rules/new?flow=orders&kpi=conversion")
    assert page.status_code == 200
    assert 'value="Conversion of orders"' in page.text
    assert '<option value="conversion" selected>' in page.text


def test_create_from_the_form_then_pages(editor: TestClient, clean_db: Database) -> None:
    token = _csrf(editor)
    saved = editor.post(
        "/alert-rules/new", data={**FORM, "csrf_token": token}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    rule_url = saved.headers["location"]
    rule_id = int(rule_url.rsplit("/", 1)[1])
    page = editor.get(rule_url)
    assert page.status_code == 200
    assert "Exceptions up" in page.text
    assert "<svg" in page.text
    with transaction(clean_db.sessions) as session:
        evaluate_due(session, (), T0 + timedelta(minutes=20), rule_ids=[rule_id])
    alerts = editor.get("/alerts?state=open")
    assert "Exceptions up" in alerts.text
    assert 'class="nav-badge"' in alerts.text
    flow = editor.get("/flows/orders")
    assert 'id="flow-alerts"' in flow.text
    assert "/alert-rules/new?flow=orders&amp;kpi=exceptions" in flow.text
    alert_page = editor.get("/alerts/1")
    assert alert_page.status_code == 200
    assert "/flows/orders?range=custom" in alert_page.text
    acked = editor.post("/alerts/1/acknowledge", data={"csrf_token": token}, follow_redirects=False)
    assert acked.status_code == 303
    assert "editor-user" in editor.get("/alerts/1").text


def test_an_invalid_form_names_the_field_and_saves_nothing(editor: TestClient) -> None:
    token = _csrf(editor)
    bad = editor.post("/alert-rules/new", data={**FORM, "threshold": "lots", "csrf_token": token})
    assert bad.status_code == 400
    assert "analyzer.threshold" in bad.text
    assert "No rules yet" in editor.get("/alerts").text


def test_preview_and_suggest_fragments(editor: TestClient) -> None:
    token = _csrf(editor)
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    preview = editor.post("/alert-rules/preview", data=FORM, headers=headers)
    assert preview.status_code == 200
    assert 'id="preview"' in preview.text
    assert "Would have opened" in preview.text
    broken = editor.post("/alert-rules/preview", data={**FORM, "flow": "nope"}, headers=headers)
    assert broken.status_code == 200
    assert "no flow has the slug" in broken.text
    suggested = editor.post("/alert-rules/suggest", data=FORM, headers=headers)
    assert suggested.status_code == 200
    assert 'id="threshold-field"' in suggested.text
    assert "p99 + 1.5 × IQR" in suggested.text


def test_viewers_see_but_cannot_edit(
    clean_db: Database, sign_in: Callable[..., TestClient]
) -> None:
    shop_with_flows(clean_db)
    viewer = sign_in(Role.viewer)
    assert viewer.get("/alerts").status_code == 200
    assert viewer.get("/alert-rules/new").status_code == 403
    assert "New alert" not in viewer.get("/flows/orders").text


def test_silence_from_the_page(editor: TestClient) -> None:
    token = _csrf(editor)
    made = editor.post(
        "/alert-silences",
        data={"duration": "1h", "reason": "deploy", "csrf_token": token},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert "every rule" in editor.get("/alerts").text
    bad = editor.post("/alert-silences", data={"duration": "forever", "csrf_token": token})
    assert bad.status_code == 422
