"""Changing retention: API, page and CLI, each audited; bad input changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from flowscope.audit.models import AuditEntry
from flowscope.auth.models import Role
from flowscope.cli import app as cli_app
from flowscope.db import Database
from flowscope.retention.models import RetentionProvider
from flowscope.settings import get_settings
from tests.conftest import csrf_from
from tests.flows.correlation_support import event, ingest


def _rows(db: Database) -> dict[str, int | None]:
    with db.sessions() as s:
        return {r.provider: r.days for r in s.scalars(select(RetentionProvider))}


def _audit(db: Database) -> list[tuple[str, str, dict[str, object]]]:
    with db.sessions() as s:
        return [
            (e.action, e.target, e.details)
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith("retention")
        ]


def test_api_sets_and_resets_a_provider_with_audit_entries(
    client: TestClient, make_token: Callable[..., str], clean_db: Database
) -> None:
    ingest(clean_db, [event(None, "t", provider="shop")])
    headers = {"Authorization": f"Api-Token {make_token('admin')}"}
    put = client.put("/api/v1/retention/shop.checkout", json={"days": 90}, headers=headers)
    assert put.status_code == 200, put.text
    assert put.json() == {
        "provider": "shop.checkout",
        "days": 90,
        "override": True,
        "purged_before": None,
    }
    listed = client.get("/api/v1/retention", headers=headers).json()
    assert listed["default_days"] == 35
    assert [(p["provider"], p["days"], p["override"]) for p in listed["providers"]] == [
        ("shop", 35, False),
        ("shop.checkout", 90, True),
    ]
    reset = client.put("/api/v1/retention/shop.checkout", json={"days": None}, headers=headers)
    assert reset.json()["days"] == 35
    assert not reset.json()["override"]
    assert _audit(clean_db) == [
        ("retention.set", "provider:shop.checkout", {"days": 90, "previous": None}),
        ("retention.reset", "provider:shop.checkout", {"days": None, "previous": 90}),
    ]


def test_api_refuses_bad_days_and_other_scopes(
    client: TestClient, make_token: Callable[..., str], clean_db: Database
) -> None:
    admin = {"Authorization": f"Api-Token {make_token('admin')}"}
    for days in (-1, 36_501, "x", 1.5):
        response = client.put("/api/v1/retention/p", json={"days": days}, headers=admin)
        assert response.status_code == 400, (days, response.text)
        assert "days" in response.text
    writer = {"Authorization": f"Api-Token {make_token('events:write')}"}
    assert client.put("/api/v1/retention/p", json={"days": 5}, headers=writer).status_code == 403
    assert _rows(clean_db) == {}
    assert _audit(clean_db) == []


def test_the_page_sets_a_provider_and_shows_errors(
    sign_in: Callable[..., TestClient], clean_db: Database
) -> None:
    client = sign_in(Role.admin)
    page = client.get("/admin/retention")
    assert page.status_code == 200
    assert "35 days" in page.text
    token = csrf_from(page.text)
    done = client.post(
        "/admin/retention",
        data={"provider": "<b>shop</b>", "days": "60", "csrf_token": token},
        follow_redirects=True,
    )
    assert "&lt;b&gt;shop&lt;/b&gt;: events kept 60 days." in done.text
    bad = client.post(
        "/admin/retention", data={"provider": "shop", "days": "-1", "csrf_token": token}
    )
    assert bad.status_code == 400
    assert "days: must be between 1 and 36500" in bad.text
    words = client.post(
        "/admin/retention", data={"provider": "shop", "days": "ten", "csrf_token": token}
    )
    assert words.status_code == 400
    assert "is not a whole number" in words.text
    empty = client.post(
        "/admin/retention", data={"provider": "  ", "days": "3", "csrf_token": token}
    )
    assert empty.status_code == 400
    assert "provider: must not be empty" in empty.text
    assert _rows(clean_db) == {"<b>shop</b>": 60}


def test_viewers_cannot_see_or_change_retention(
    sign_in: Callable[..., TestClient], clean_db: Database
) -> None:
    client = sign_in(Role.viewer)
    assert client.get("/admin/retention").status_code == 403


def test_cli_sets_lists_and_runs(
    clean_db: Database, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv("FLOWSCOPE_DATABASE_URL", clean_db.url)
    monkeypatch.setenv("FLOWSCOPE_RETENTION_DAYS", "35")
    get_settings.cache_clear()  # a page rendered earlier may have cached the suite's settings
    request.addfinalizer(get_settings.cache_clear)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["retention", "set", "shop", "90"])
    assert result.exit_code == 0, result.output
    assert "shop: events kept 90 days" in result.output
    listed = runner.invoke(cli_app, ["retention", "list"])
    assert "shop\t90 days (set)" in listed.output
    bad = runner.invoke(cli_app, ["retention", "set", "shop", "-1"])
    assert bad.exit_code != 0
    ingest(clean_db, [event(None, "t", provider="shop")])  # 2026-11-01: within 90 days
    run = runner.invoke(cli_app, ["retention", "run"])
    assert run.exit_code == 0, run.output
    assert "0 events deleted" in run.output
    reset = runner.invoke(cli_app, ["retention", "set", "shop", "--default"])
    assert reset.exit_code == 0
    assert "35 days" in reset.output
    assert _audit(clean_db)[0][2] == {"days": 90, "previous": None}
    assert _audit(clean_db)[0][0] == "retention.set"
