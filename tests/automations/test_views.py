"""The automation pages over HTTP: roles, inline errors naming the field, nothing saved on an
error, the form's edit buttons, secrets never in a page."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from flowscope.auth.models import Role
from tests.conftest import csrf_from


def _form(csrf: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "name": "Nightly",
        "enabled": "on",
        "trigger_type": "schedule",
        "schedule_cron": "0 2 * * *",
        "a0_type": "http",
        "a0_when": "succeeded",
        "a0_method": "POST",
        "a0_url": "https://hooks.example/x",
        "a0_headers": "X-Team: ops",
        "a0_secret_headers": "Authorization: Bearer page-secret",
        "a0_body": "{}",
        **fields,
    }


def test_the_form_reports_the_field_saves_nothing_then_creates(
    sign_in: Callable[..., TestClient],
) -> None:
    client = sign_in(Role.editor)
    csrf = csrf_from(client.get("/automations/new").text)
    bad = client.post("/automations/new", data=_form(csrf, schedule_cron="61 * * * *"))
    assert bad.status_code == 400
    assert "trigger.schedule: Value error, cron:" in bad.text
    assert "No automations yet" in client.get("/automations").text

    added = client.post("/automations/new", data=_form(csrf, op="add"))
    assert added.status_code == 200
    assert 'name="a1_type"' in added.text  # a second action, nothing saved yet
    assert "No automations yet" in client.get("/automations").text

    created = client.post("/automations/new", data=_form(csrf))
    assert created.status_code == 200
    assert 'id="signing-secret"' in created.text
    assert "page-secret" not in created.text
    listing = client.get("/automations").text
    assert "Nightly" in listing
    assert "cron 0 2 * * * (UTC)" in listing
    edit = client.get("/automations/1/edit").text
    assert "Authorization: ••• set" in edit
    assert "page-secret" not in edit
    assert "page-secret" not in client.get("/automations/1").text


def test_a_viewer_reads_but_cannot_change_or_run(
    sign_in: Callable[..., TestClient], make_token: Callable[..., str]
) -> None:
    admin = {"Authorization": f"Api-Token {make_token('admin')}"}
    client = sign_in(Role.viewer)
    created = client.post(
        "/api/v1/automations",
        json={
            "name": "Manual",
            "trigger": {"type": "manual"},
            "actions": [{"type": "fql", "query": "fetch bizevents | limit 1"}],
        },
        headers=admin,
    )
    assert created.status_code == 201
    page = client.get("/automations/1")
    assert page.status_code == 200
    assert 'id="run-now"' not in page.text
    csrf = csrf_from(client.get("/automations").text)
    assert client.post("/automations/1/run", data={"csrf_token": csrf}).status_code == 403
    assert client.get("/automations/new").status_code == 403
    assert client.get(f"/automations/{2**70}").status_code == 400
    assert client.get("/automations/5").status_code == 404
