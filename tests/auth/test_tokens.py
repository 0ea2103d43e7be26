"""API tokens on the ingest route: header forms, unknown and revoked tokens, scopes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.errors import FlowscopeError
from tests.fixtures.events import INGEST_URL as URL
from tests.fixtures.events import count_events, make_event


@pytest.mark.parametrize("scheme", ["Api-Token", "Bearer", "api-token", "bearer"])
def test_write_token_may_ingest_with_either_scheme(
    client: TestClient, make_token: Callable[..., str], session: Session, scheme: str
) -> None:
    headers = {"Authorization": f"{scheme} {make_token('events:write')}"}
    assert client.post(URL, json=make_event(), headers=headers).status_code == 202
    assert count_events(session) == 1


def test_admin_token_may_ingest(
    client: TestClient, make_token: Callable[..., str], session: Session
) -> None:
    headers = {"Authorization": f"Api-Token {make_token('admin')}"}
    assert client.post(URL, json=make_event(), headers=headers).status_code == 202
    assert count_events(session) == 1


def test_request_without_authorization_is_401(client: TestClient, session: Session) -> None:
    response = client.post(URL, json=make_event())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Api-Token, Bearer"
    assert "Api-Token" in response.json()["error"]["message"]
    assert count_events(session) == 0


@pytest.mark.parametrize(
    "header", ["Api-Token", "Api-Token ", "Basic dXNlcjpwYXNz", "Token abc", "fs_abcdef"]
)
def test_malformed_authorization_header_is_401(
    client: TestClient, session: Session, header: str
) -> None:
    response = client.post(URL, json=make_event(), headers={"Authorization": header})
    assert response.status_code == 401
    assert count_events(session) == 0


def test_unknown_token_is_401(client: TestClient, session: Session) -> None:
    headers = {"Authorization": "Api-Token fs_not-a-real-token"}
    response = client.post(URL, json=make_event(), headers=headers)
    assert response.status_code == 401
    assert "unknown or revoked" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_revoked_token_is_401(client: TestClient, clean_db: Database, session: Session) -> None:
    with clean_db.sessions.begin() as s:
        token, secret = auth_service.create_token(s, "shop", ["events:write"])
        token_id = token.id
    headers = {"Authorization": f"Api-Token {secret}"}
    assert client.post(URL, json=make_event(), headers=headers).status_code == 202
    with clean_db.sessions.begin() as s:
        auth_service.revoke_token(s, token_id)
    response = client.post(URL, json=make_event(**{"event.id": "o-2"}), headers=headers)
    assert response.status_code == 401
    assert count_events(session) == 1


def test_read_only_token_is_403(
    client: TestClient, make_token: Callable[..., str], session: Session
) -> None:
    headers = {"Authorization": f"Api-Token {make_token('events:read')}"}
    response = client.post(URL, json=make_event(), headers=headers)
    assert response.status_code == 403
    assert "events:write" in response.json()["error"]["message"]
    assert count_events(session) == 0


def test_signed_in_user_without_token_cannot_ingest(
    sign_in: Callable[..., TestClient], session: Session
) -> None:
    browser = sign_in(Role.admin)
    assert browser.post(URL, json=make_event()).status_code == 401
    assert count_events(session) == 0


def test_only_a_hash_of_the_secret_is_stored(clean_db: Database, session: Session) -> None:
    with clean_db.sessions.begin() as s:
        _, secret = auth_service.create_token(s, "shop", ["events:write"])
    [(token_hash, prefix)] = session.execute(text("select token_hash, prefix from api_tokens"))
    assert token_hash == auth_service.hash_token(secret)
    assert secret not in token_hash
    assert secret.startswith(prefix)
    assert len(prefix) < len(secret) // 2


def test_unknown_scope_is_refused(clean_db: Database) -> None:
    with (
        clean_db.sessions.begin() as s,
        pytest.raises(FlowscopeError, match="unknown scope 'events:all'"),
    ):
        auth_service.create_token(s, "x", ["events:all"])
