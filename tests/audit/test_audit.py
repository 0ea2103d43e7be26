"""The audit log: who changed what, when and from where; the admin page and the JSON API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.generator import service as generator_service
from tests.auth.test_web_login import HTML, login_post, make_user
from tests.conftest import PASSWORD, csrf_from
from tests.flows.factories import definition

SignIn = Callable[..., TestClient]
API = "/api/v1/audit"


def entries(session: Session) -> list[tuple[Any, ...]]:
    session.commit()  # a fresh snapshot
    rows = session.execute(
        text("select actor_kind, actor_name, ip, action, target from audit_log order by id")
    )
    return [tuple(row) for row in rows]


@pytest.fixture
def admin_api(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('admin', name='auditor')}"}


def test_a_flow_saved_with_a_token_names_the_token_and_its_address(
    client: TestClient, admin_api: dict[str, str], session: Session
) -> None:
    body = definition().model_dump(mode="json", by_alias=True, exclude_none=True)
    assert client.put("/api/v1/flows/online-orders", json=body, headers=admin_api).is_success
    assert ("token", "token:auditor", "testclient", "flow.created", "flow:online-orders") in (
        entries(session)
    )


def test_changes_made_in_the_ui_name_the_user(sign_in: SignIn, session: Session) -> None:
    browser = sign_in(Role.editor, username="erin")
    form = browser.get("/generators/new", params={"template": "power-outage"})
    source = generator_service.get_template("power-outage").source
    data = {"source": source, "template": "power-outage", "csrf_token": csrf_from(form.text)}
    assert browser.post("/generators/new", data=data, follow_redirects=False).status_code == 303
    token = csrf_from(browser.get("/dashboards").text)
    browser.post("/dashboards", data={"name": "Ops", "csrf_token": token})
    mine = [e for e in entries(session) if e[1] == "erin"]
    assert ("user", "erin", "testclient", "generator.created", "generator:power-outage-ticket") in (
        mine
    )
    assert ("dashboard.created", "dashboard:ops") in [(e[3], e[4]) for e in mine]


def test_sign_ins_and_failures_are_recorded(
    client: TestClient, clean_db: Database, session: Session
) -> None:
    make_user(clean_db)
    assert login_post(client, "ann", "wrong password").status_code == 401
    assert login_post(client, "ghost", "wrong password").status_code == 401
    assert login_post(client, "ann", PASSWORD).status_code == 303
    token = csrf_from(client.get("/events").text)
    client.post("/logout", data={"csrf_token": token})
    logins = [e for e in entries(session) if e[3].startswith(("login", "logout"))]
    assert logins == [
        ("anonymous", "anonymous", "testclient", "login.failed", "user:ann"),
        ("anonymous", "anonymous", "testclient", "login.failed", "user:ghost"),
        ("user", "ann", "testclient", "login.succeeded", "user:ann"),
        ("user", "ann", "testclient", "logout", "user:ann"),
    ]
    reasons = session.scalars(
        text("select details->>'reason' from audit_log where action = 'login.failed' order by id")
    ).all()
    assert reasons == ["wrong password", "unknown user"]


def test_tokens_created_and_revoked_in_the_ui_are_recorded(
    sign_in: SignIn, session: Session
) -> None:
    browser = sign_in(Role.admin, username="boss")
    token = csrf_from(browser.get("/admin/tokens", headers=HTML).text)
    browser.post(
        "/admin/tokens", data={"name": "shop", "scopes": "events:write", "csrf_token": token}
    )
    token_id = session.scalar(text("select id from api_tokens"))
    browser.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": token})
    actions = [(e[1], e[3], e[4]) for e in entries(session) if e[3].startswith("token.")]
    assert actions == [
        ("boss", "token.created", f"token:{token_id}"),
        ("boss", "token.revoked", f"token:{token_id}"),
    ]


def test_without_an_actor_the_entry_names_the_system_caller(session: Session) -> None:
    audit.record(session, "flow.updated", "flow:x", by="generator")
    session.commit()
    assert entries(session) == [("system", "generator", None, "flow.updated", "flow:x")]


def seed(clean_db: Database) -> None:
    with clean_db.sessions.begin() as s:
        audit.act_as(s, audit.Actor("user", "ann", 1, "10.0.0.1"))
        audit.record(s, "flow.created", "flow:orders")
        audit.record(s, "flow.updated", "flow:orders")
        audit.record(s, "dashboard.created", "dashboard:ops")
        audit.act_as(s, audit.Actor("token", "token:ci", 2, "10.0.0.2"))
        audit.record(s, "flow.created", "flow:returns")
        audit.record(s, "flowers.picked", "garden:rose")  # "flow" must not match "flowers"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            ["flowers.picked", "flow.created", "dashboard.created", "flow.updated", "flow.created"],
        ),
        ({"action": "flow"}, ["flow.created", "flow.updated", "flow.created"]),
        ({"action": "flow.created"}, ["flow.created", "flow.created"]),
        ({"actor": "token:ci"}, ["flowers.picked", "flow.created"]),
        ({"target": "flow:orders"}, ["flow.updated", "flow.created"]),
        ({"target": "dashboard"}, ["dashboard.created"]),
        ({"ip": "10.0.0.1", "action": "dashboard"}, ["dashboard.created"]),
    ],
)
def test_the_api_filters_newest_first(
    client: TestClient,
    clean_db: Database,
    admin_api: dict[str, str],
    params: dict[str, str],
    expected: list[str],
) -> None:
    seed(clean_db)
    response = client.get(API, params=params, headers=admin_api)
    assert response.status_code == 200
    assert [e["action"] for e in response.json()["entries"] if e["actor"]["kind"] != "system"] == (
        expected
    )


def test_the_api_pages_back_with_next_before(
    client: TestClient, clean_db: Database, admin_api: dict[str, str]
) -> None:
    seed(clean_db)
    params: dict[str, Any] = {"limit": 2, "actor": "ann"}
    first = client.get(API, params=params, headers=admin_api).json()
    assert [e["action"] for e in first["entries"]] == ["dashboard.created", "flow.updated"]
    params["before"] = first["next_before"]
    second = client.get(API, params=params, headers=admin_api).json()
    assert [e["action"] for e in second["entries"]] == ["flow.created"]
    assert second["next_before"] is None
    entry = second["entries"][0]
    assert entry["actor"] == {"kind": "user", "name": "ann", "id": 1}
    assert entry["ip"] == "10.0.0.1"
    assert datetime.fromisoformat(entry["at"]).tzinfo is not None


def test_the_api_filters_by_time(
    client: TestClient, clean_db: Database, admin_api: dict[str, str]
) -> None:
    seed(clean_db)
    with clean_db.engine.begin() as conn:
        conn.execute(
            text("update audit_log set at = '2026-01-01T00:00:00Z' where target = 'flow:returns'")
        )
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    recent = client.get(API, params={"since": since, "action": "flow"}, headers=admin_api).json()
    assert [e["target"] for e in recent["entries"]] == ["flow:orders", "flow:orders"]
    old = client.get(API, params={"until": "2026-01-02T00:00:00"}, headers=admin_api).json()
    assert [e["target"] for e in old["entries"]] == ["flow:returns"]


def test_the_api_is_for_admin_tokens_and_admins(
    client: TestClient, make_token: Callable[..., str], sign_in: SignIn
) -> None:
    assert client.get(API).status_code == 401
    writer = {"Authorization": f"Api-Token {make_token('events:write')}"}
    assert client.get(API, headers=writer).status_code == 403
    sign_in(Role.editor)
    assert client.get(API).status_code == 403


def test_an_admin_reads_the_api_with_the_session(sign_in: SignIn) -> None:
    browser = sign_in(Role.admin)
    response = browser.get(API, params={"action": "login"})
    assert response.status_code == 200
    assert [e["action"] for e in response.json()["entries"]] == ["login.succeeded"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"since": "yesterday"}, "since"), ({"limit": "0"}, "limit"), ({"before": "-1"}, "before")],
)
def test_bad_parameters_are_400_naming_the_field(
    client: TestClient, admin_api: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = client.get(API, params=params, headers=admin_api)
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == field


def test_the_audit_page_lists_and_filters_for_admins(sign_in: SignIn, clean_db: Database) -> None:
    seed(clean_db)
    browser = sign_in(Role.admin)
    page = browser.get("/admin/audit", params={"actor": "token:ci", "action": ""}, headers=HTML)
    assert page.status_code == 200
    rows = page.text.split("<tbody>", 1)[1]
    assert "flow:returns" in rows
    assert "flow:orders" not in rows
    assert 'value="token:ci"' in page.text


def test_the_audit_page_refuses_editors(sign_in: SignIn) -> None:
    browser = sign_in(Role.editor)
    assert browser.get("/admin/audit", headers=HTML).status_code == 403


def test_the_audit_page_takes_empty_and_local_times_and_names_a_bad_one(
    sign_in: SignIn, clean_db: Database
) -> None:
    seed(clean_db)
    browser = sign_in(Role.admin)
    empty = {"actor": "", "action": "", "since": "", "until": ""}
    assert browser.get("/admin/audit", params=empty, headers=HTML).status_code == 200
    later = browser.get("/admin/audit", params={"since": "2999-01-01T00:00"}, headers=HTML)
    assert "No entries match these filters." in later.text
    bad = browser.get("/admin/audit", params={"since": "yesterday"}, headers=HTML)
    assert bad.status_code == 400
    assert "since: &#39;yesterday&#39; is not a time" in bad.text


@pytest.mark.parametrize("field", ["actor", "action", "target", "ip", "since", "until"])
def test_the_api_refuses_text_the_database_cannot_store(
    client: TestClient, clean_db: Database, admin_api: dict[str, str], field: str
) -> None:
    response = client.get(API, params={field: "a\x00b"}, headers=admin_api)
    assert response.status_code in (400, 422), response.text
    assert field in response.text
