"""The `flowscope` command, run as a real subprocess against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.orm import Session

from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Database
from tests.fixtures.database import create_test_database, drop_test_database, server_url
from tests.fixtures.events import INGEST_URL, make_event

FLOWSCOPE = str(Path(sys.executable).parent / "flowscope")
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"


def run(
    *args: str, database_url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSCOPE_")}
    environment = {**inherited, "FLOWSCOPE_DATABASE_URL": database_url, **(env or {})}
    return subprocess.run(
        [FLOWSCOPE, *args], capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture
def cli(clean_db: Database) -> Callable[..., subprocess.CompletedProcess[str]]:
    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run(*args, database_url=clean_db.url, env=env)

    return call


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    servers = server_url()
    admin_url = next(servers)
    url = create_test_database(admin_url)
    try:
        yield url
    finally:
        drop_test_database(admin_url, url)
        servers.close()


def test_db_upgrade_builds_the_schema_of_an_empty_database(empty_database_url: str) -> None:
    result = run("db", "upgrade", database_url=empty_database_url)
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout
    engine = create_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"events", "users", "api_tokens", "alembic_version"} <= tables
    # and running it again is harmless
    assert run("db", "upgrade", database_url=empty_database_url).returncode == 0


def test_tokens_create_prints_the_secret_once_and_it_works(
    cli: Callable[..., subprocess.CompletedProcess[str]], client: TestClient, session: Session
) -> None:
    result = cli("tokens", "create", "--name", "shop", "--scope", "events:write")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith(auth_service.TOKEN_PREFIX)
    assert len(result.stdout.splitlines()) == 1  # stdout is only the secret, for scripts
    assert "not shown again" in result.stderr
    stored = session.scalar(text("select token_hash from api_tokens"))
    assert stored == auth_service.hash_token(secret)
    headers = {"Authorization": f"Api-Token {secret}"}
    assert client.post(INGEST_URL, json=make_event(), headers=headers).status_code == 202


def test_tokens_list_never_shows_secrets_and_revoke_takes_effect(
    cli: Callable[..., subprocess.CompletedProcess[str]], client: TestClient
) -> None:
    secrets = [
        cli("tokens", "create", "--name", name, "--scope", "events:write").stdout.strip()
        for name in ("shop", "crm")
    ]
    listing = cli("tokens", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.strip().splitlines()
    assert len(lines) == 2
    for secret, line in zip(secrets, lines, strict=True):
        assert secret not in listing.stdout
        assert secret[:10] in line  # the prefix, to recognise it
        assert line.endswith("active")

    token_id = lines[0].split("\t")[0]
    revoked = cli("tokens", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert cli("tokens", "list").stdout.splitlines()[0].endswith("revoked")
    headers = {"Authorization": f"Api-Token {secrets[0]}"}
    assert client.post(INGEST_URL, json=make_event(), headers=headers).status_code == 401
    other = {"Authorization": f"Api-Token {secrets[1]}"}
    assert client.post(INGEST_URL, json=make_event(), headers=other).status_code == 202


def test_users_create_with_password_from_the_environment(
    cli: Callable[..., subprocess.CompletedProcess[str]], clean_db: Database
) -> None:
    result = cli(
        "users", "create", "erin", "--role", "editor", env={"FLOWSCOPE_NEW_PASSWORD": "s3cret-pass"}
    )
    assert result.returncode == 0, result.stderr
    assert "erin" in result.stdout
    with clean_db.sessions() as s:
        user = auth_service.authenticate(s, "erin", "s3cret-pass")
        assert user is not None
        assert user.role is Role.editor


def test_unknown_scope_is_one_line_error(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = cli("tokens", "create", "--name", "x", "--scope", "events:everything")
    assert_one_line_error(result, "unknown scope", "events:everything")


def test_duplicate_user_is_one_line_error(
    cli: Callable[..., subprocess.CompletedProcess[str]], clean_db: Database
) -> None:
    with clean_db.sessions.begin() as s:
        auth_service.create_user(s, "erin", "s3cret-pass", Role.viewer)
    result = cli("users", "create", "erin", env={"FLOWSCOPE_NEW_PASSWORD": "other-pass"})
    assert_one_line_error(result, "already exists")


def test_short_password_is_one_line_error(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = cli("users", "create", "erin", env={"FLOWSCOPE_NEW_PASSWORD": "short"})
    assert_one_line_error(result, "password", "8")


def test_revoking_an_unknown_token_is_one_line_error(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    assert_one_line_error(cli("tokens", "revoke", "4242"), "4242", "does not exist")


@pytest.mark.parametrize(
    "args",
    [
        ("db", "upgrade"),
        ("tokens", "list"),
        ("tokens", "create", "--name", "x", "--scope", "admin"),
    ],
)
def test_unreachable_database_is_one_line_error(args: tuple[str, ...]) -> None:
    result = run(*args, database_url=UNREACHABLE)
    assert_one_line_error(result, "cannot reach the database")


def test_invalid_role_is_a_usage_error_without_traceback(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = cli(
        "users", "create", "erin", "--role", "owner", env={"FLOWSCOPE_NEW_PASSWORD": "x" * 9}
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "owner" in result.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [("not-a-url", "is not a URL"), ("mysql://user@host/db", "must be a PostgreSQL URL")],
)
def test_database_url_that_is_not_postgresql_is_one_line_error(url: str, reason: str) -> None:
    assert_one_line_error(run("tokens", "list", database_url=url), "FLOWSCOPE_DATABASE_URL", reason)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FLOWSCOPE_POOL_SIZE": "many"}, ("FLOWSCOPE_POOL_SIZE", "integer")),
        ({"FLOWSCOPE_ENV": "production"}, ("FLOWSCOPE_SECRET_KEY",)),
    ],
)
def test_invalid_setting_is_one_line_error(env: dict[str, str], words: tuple[str, ...]) -> None:
    assert_one_line_error(run("tokens", "list", database_url=UNREACHABLE, env=env), *words)


def test_db_upgrade_never_prints_the_database_password(database_url: str) -> None:
    # The test server trusts local connections, so any password is accepted and ignored.
    url = make_url(database_url).set(password="hunter2-secret")
    result = run("db", "upgrade", database_url=url.render_as_string(hide_password=False))
    assert result.returncode == 0, result.stderr
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "***" in result.stdout
