"""Embedded PostgreSQL (no FLOWSCOPE_DATABASE_URL): data survives a restart; close() stops it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.db import Database, open_database
from flowscope.ingest import service as ingest_service
from flowscope.ingest.schemas import NewEvent
from flowscope.settings import Settings
from tests.fixtures.events import INGEST_URL, make_event


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under /tmp and nowhere private: as root the server makes every parent directory of its
    # data directory world-traversable.
    path = Path(tempfile.mkdtemp(prefix="flowscope-embedded-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def postmaster_pid(db: Database) -> int:
    assert db.embedded is not None
    pidfile = db.embedded.data_dir / "pgdata" / "postmaster.pid"
    return int(pidfile.read_text().splitlines()[0])


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie not yet reaped by init counts as stopped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def connects(url: str) -> bool:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.mark.slow
def test_embedded_database_keeps_events_across_restarts_and_close_stops_it(
    data_dir: Path,
) -> None:
    settings = Settings(
        env="test", database_url=None, data_dir=data_dir, bootstrap_admin=False, pool_size=2
    )

    # First life: the app starts the server itself, takes events over HTTP, stops it on exit.
    app = create_app(settings)
    with TestClient(app) as client:
        db: Database = app.state.db
        assert db.embedded is not None
        first_pid = postmaster_pid(db)
        with db.sessions.begin() as s:
            _, secret = auth_service.create_token(s, "shop", ["events:write"])
        headers = {"Authorization": f"Api-Token {secret}"}
        batch = [make_event(**{"event.id": f"e-{i}", "n": i}) for i in range(3)]
        assert client.post(INGEST_URL, json=batch, headers=headers).status_code == 202
        url = db.url
    assert not running(first_pid), "the app's shutdown must stop the embedded server"
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    assert not connects(url)

    # Second life: open_database starts it again on the same data directory.
    db = open_database(settings)
    try:
        second_pid = postmaster_pid(db)
        assert second_pid != first_pid
        with db.sessions.begin() as s:
            rows = s.execute(text("select event_id, attributes from events order by seq")).all()
            assert [(r.event_id, r.attributes) for r in rows] == [
                ("e-0", {"n": 0}),
                ("e-1", {"n": 1}),
                ("e-2", {"n": 2}),
            ]
            event = NewEvent("shop", "e-3", "order.placed", datetime.now(UTC), {})
            assert ingest_service.store_events(s, [event]) == (1, 0)
    finally:
        db.close()
    assert not running(second_pid)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    assert not connects(db.url)

    # Third life: the event stored directly is there too.
    db = open_database(settings)
    try:
        with db.sessions() as s:
            assert s.scalar(text("select count(*) from events")) == 4
    finally:
        db.close()
