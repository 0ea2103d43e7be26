"""What the fast ingest path must keep: token checks that see revocations at once, and pooled
connections handed back in transaction mode whatever the request did."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Scope
from flowscope.db import Database, make_sessionmaker
from flowscope.deps import RecentTokens, recent_tokens
from flowscope.settings import Settings

URL = "/api/v2/bizevents/ingest"


def event(event_id: str) -> dict[str, str]:
    return {"event.provider": "shop", "event.type": "order.placed", "event.id": event_id}


def count_events(session: Session) -> int:
    return int(session.scalar(text("select count(*) from events")) or 0)


def test_token_revoked_while_remembered_stores_nothing(
    client: TestClient, clean_db: Database, session: Session
) -> None:
    with clean_db.sessions.begin() as s:
        token, secret = auth_service.create_token(s, "shop", ["events:write"])
        token_id = token.id
    headers = {"Authorization": f"Api-Token {secret}"}
    assert client.post(URL, json=event("a"), headers=headers).status_code == 202
    token_hash = auth_service.hash_token(secret)
    assert recent_tokens.recently_valid(token_hash, Scope.events_write)

    with clean_db.sessions.begin() as s:
        auth_service.revoke_token(s, token_id)
    batch = [event("b"), event("c")]
    response = client.post(URL, json=batch, headers=headers)

    assert response.status_code == 401
    assert count_events(session) == 1
    assert not recent_tokens.recently_valid(token_hash, Scope.events_write)


def test_remembered_revoked_token_with_only_invalid_events_is_401(
    client: TestClient, clean_db: Database
) -> None:
    with clean_db.sessions.begin() as s:
        token, secret = auth_service.create_token(s, "shop", ["events:write"])
        token_id = token.id
    headers = {"Authorization": f"Api-Token {secret}"}
    assert client.post(URL, json=event("a"), headers=headers).status_code == 202
    with clean_db.sessions.begin() as s:
        auth_service.revoke_token(s, token_id)
    response = client.post(URL, json=[{"event.type": "no provider"}], headers=headers)
    assert response.status_code == 401


def test_admin_token_may_ingest(client: TestClient, make_token: Callable[..., str]) -> None:
    headers = {"Authorization": f"Api-Token {make_token('admin')}"}
    for _ in range(2):  # checked before parsing, then only inside the insert
        response = client.post(URL, json=[event("a"), event("b")], headers=headers)
        assert response.status_code == 202
    assert response.json() == {"accepted": 0, "duplicates": 2}


def test_recent_tokens_forget_and_expire() -> None:
    tokens = RecentTokens(ttl_seconds=0.0)
    scope = Scope.events_write
    tokens.remember("h", scope)
    assert not tokens.recently_valid("h", scope)  # expired at once
    tokens = RecentTokens(ttl_seconds=60, max_entries=2)
    tokens.remember("h", scope)
    assert tokens.recently_valid("h", scope)
    assert not tokens.recently_valid("h", Scope.events_read)
    tokens.forget("h")
    assert not tokens.recently_valid("h", scope)
    for name in ("a", "b", "c"):
        tokens.remember(name, scope)
    assert tokens.recently_valid("c", scope)  # full: cleared, then the newest kept


@pytest.fixture
def one_connection_client(clean_db: Database, settings: Settings) -> Iterator[TestClient]:
    """The app on a pool of exactly one connection, so every request reuses the same one."""
    engine = create_engine(clean_db.url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    db = Database(url=clean_db.url, engine=engine, sessions=make_sessionmaker(engine))
    with TestClient(create_app(settings, database=db)) as client:
        yield client
    engine.dispose()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'[{"event.provider": "p", "event.type": "t", "event.id": "1"}]', 202),
        (b'[{"event.provider": "p"}]', 400),
        (b"[not json", 400),
    ],
)
def test_ingest_hands_its_connection_back_in_transaction_mode(
    one_connection_client: TestClient, make_token: Callable[..., str], body: bytes, status: int
) -> None:
    headers = {"Authorization": f"Api-Token {make_token()}", "Content-Type": "application/json"}
    assert one_connection_client.post(URL, content=body, headers=headers).status_code == status
    db: Database = one_connection_client.app.state.db  # type: ignore[attr-defined]
    with db.sessions() as s:
        # The same pooled connection: a write that is rolled back must leave nothing behind.
        s.execute(text("create temporary table probe (x int)"))
        assert s.connection().connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        s.rollback()
        leaked = s.scalar(text("select count(*) from pg_tables where tablename = 'probe'"))
    assert leaked == 0
