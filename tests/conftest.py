"""Shared fixtures: a migrated test database, sessions, the app and signed-in clients.

Isolation: tests commit for real (ingest must commit before it answers, concurrency tests need
several connections), so instead of rolling back, every table is truncated after each test
that used the database.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Base, Database, make_engine, make_sessionmaker, upgrade_database
from flowscope.models import load_all_models
from flowscope.settings import Settings
from tests.fixtures.database import create_test_database, drop_test_database, server_url

PASSWORD = "correct horse battery"

# The suite sends events stamped with fixed dates (2023 on, and year 1) and runs the CLI in
# subprocesses: events are kept forever here, except where tests/retention sets its own.
# Explicit Settings(...) arguments still win over this.
os.environ.setdefault("FLOWSCOPE_RETENTION_DAYS", "0")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    servers = server_url()
    admin_url = next(servers)
    url = create_test_database(admin_url)
    try:
        upgrade_database(url)
        yield url
    finally:
        drop_test_database(admin_url, url)
        servers.close()


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    engine = make_engine(database_url, pool_size=5)
    db = Database(url=database_url, engine=engine, sessions=make_sessionmaker(engine))
    yield db
    engine.dispose()


def _truncate_all(db: Database) -> None:
    """Empty every table. A browser test's last request may still be running in the live
    server when the test ends; the truncate then waits for it, or loses a deadlock against it
    and tries again once that request has finished."""
    load_all_models()
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    for attempt in range(5):
        try:
            with db.engine.begin() as conn:
                conn.execute(text("set local lock_timeout = '10s'"))
                conn.execute(text(f"truncate {names} restart identity cascade"))
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.5)


@pytest.fixture
def clean_db(database: Database) -> Iterator[Database]:
    """The database, emptied after the test."""
    yield database
    _truncate_all(database)


@pytest.fixture
def session(clean_db: Database) -> Iterator[Session]:
    """A session whose work the test commits itself (or not)."""
    with clean_db.sessions() as s:
        yield s


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        bootstrap_admin=False,
        log_format="text",
        scheduler_enabled=False,  # scheduler tests start their own
    )


@pytest.fixture
def client(clean_db: Database, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, database=clean_db)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_token(clean_db: Database) -> Callable[..., str]:
    def make(*scopes: str, name: str = "test") -> str:
        with clean_db.sessions.begin() as s:
            _, secret = auth_service.create_token(s, name, scopes or ("events:write",))
        return secret

    return make


@pytest.fixture
def write_headers(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Api-Token {make_token('events:write')}"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def sign_in(clean_db: Database, client: TestClient) -> Callable[..., TestClient]:
    """Create a user with `role` and sign the test client in as them."""

    def login(role: Role = Role.viewer, username: str | None = None) -> TestClient:
        name = username or f"{role.value}-user"
        with clean_db.sessions.begin() as s:
            auth_service.create_user(s, name, PASSWORD, role)
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"username": name, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return client

    return login
