"""What the fast ingest path must keep: token checks that see revocations at once, and pooled
connections handed back in transaction mode whatever the request did."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Scope
from flowscope.db import Database, make_sessionmaker
from flowscope.deps import RecentTokens, recent_tokens
from flowscope.ingest import service
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.writer import GroupWriter
from flowscope.settings import Settings

URL = "/api/v2/bizevents/ingest"
WRITE = ("events:write", "admin")


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


T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def new_event(event_id: str, provider: str = "shop") -> NewEvent:
    return NewEvent(provider, event_id, "order.placed", T0, {"id": event_id})


def test_one_statement_for_several_requests_answers_each_on_its_own(
    clean_db: Database, make_token: Callable[..., str], session: Session
) -> None:
    writer = auth_service.hash_token(make_token("events:write"))
    reader = auth_service.hash_token(make_token("events:read"))
    unknown = auth_service.hash_token("fs_unknown")
    with service.autocommit_connection(clean_db) as conn:
        assert service.store_event_groups(conn, [(writer, [new_event("old")])], WRITE) == [(1, 0)]
        groups = [
            (writer, [new_event("b"), new_event("a"), new_event("b")]),  # a repeat inside
            (reader, [new_event("r")]),  # may not write
            (writer, [new_event("a"), new_event("old"), new_event("c")]),  # a: sent just before
            (unknown, [new_event("u")]),
        ]
        results = service.store_event_groups(conn, groups, WRITE)
    assert results == [(2, 1), None, (1, 2), None]
    rows = session.execute(text("select event_id from events order by seq")).scalars().all()
    assert rows == ["old", "b", "a", "c"]  # seq in the order sent, whatever the insert order


def test_group_writer_isolates_a_failing_request(
    clean_db: Database, make_token: Callable[..., str], session: Session
) -> None:
    token = auth_service.hash_token(make_token("events:write"))
    writer = GroupWriter(clean_db, WRITE)

    async def send_all() -> list[object]:
        requests = [[new_event(f"e{i}")] for i in range(20)]
        requests[7] = [new_event("too-long", provider="p" * 300)]  # violates varchar(256)
        return await asyncio.gather(
            *(writer.store(token, events) for events in requests), return_exceptions=True
        )

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in
    # the main thread for the whole session, and asyncio.run refuses to nest in it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = pool.submit(asyncio.run, send_all()).result()
    assert isinstance(results[7], DBAPIError | psycopg.Error)
    assert [r for i, r in enumerate(results) if i != 7] == [(1, 0)] * 19
    assert count_events(session) == 19
