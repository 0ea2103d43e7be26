"""`flowscope users list|disable|enable|set-password|set-role|end-sessions`, as subprocesses."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.auth.models import Role
from flowscope.db import Database
from tests.auth.test_web_login import login_post, signed_in
from tests.conftest import PASSWORD
from tests.test_cli import assert_one_line_error, run

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(clean_db: Database) -> Cli:
    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run(*args, database_url=clean_db.url, env=env)

    return call


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_users_list_shows_role_status_and_sessions(
    cli: Cli,
    sign_in: Callable[..., TestClient],
) -> None:
    sign_in(Role.editor, username="ann")
    lines = ok(cli("users", "list")).splitlines()
    assert lines == ["ann\teditor\tactive\t1 session(s)"]


def test_users_disable_ends_sessions_and_enable_lets_them_back(
    cli: Cli,
    sign_in: Callable[..., TestClient],
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    assert "1 session(s) ended" in ok(cli("users", "disable", "ann"))
    assert not signed_in(browser)
    assert login_post(browser, "ann", PASSWORD).status_code == 401
    ok(cli("users", "enable", "ann"))
    assert login_post(browser, "ann", PASSWORD).status_code == 303


def test_users_set_password_ends_sessions(
    cli: Cli,
    sign_in: Callable[..., TestClient],
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    env = {"FLOWSCOPE_NEW_PASSWORD": "a new password for ann"}
    assert "1 session(s) ended" in ok(cli("users", "set-password", "ann", env=env))
    assert not signed_in(browser)
    assert login_post(browser, "ann", "a new password for ann").status_code == 303


def test_users_set_role_and_end_sessions(
    cli: Cli,
    sign_in: Callable[..., TestClient],
    session: Session,
) -> None:
    browser = sign_in(Role.viewer, username="ann")
    ok(cli("users", "set-role", "ann", "admin"))
    assert session.scalar(text("select role from users where username = 'ann'")) == "admin"
    ok(cli("users", "end-sessions", "ann"))
    assert not signed_in(browser)


def test_cli_changes_are_audited_as_the_shell_user(
    cli: Cli,
    sign_in: Callable[..., TestClient],
    session: Session,
) -> None:
    sign_in(Role.viewer, username="ann")
    ok(cli("users", "disable", "ann"))
    kind, name, action = session.execute(
        text("select actor_kind, actor_name, action from audit_log order by id desc limit 1")
    ).one()
    assert (kind, action) == ("cli", "user.disabled")
    assert name.startswith("cli:")


def test_unknown_user_is_a_one_line_error(cli: Cli) -> None:
    assert_one_line_error(cli("users", "disable", "nobody"), "nobody", "does not exist")


def test_the_last_admin_cannot_be_disabled(cli: Cli, clean_db: Database) -> None:
    ok(cli("users", "create", "root", "--role", "admin", env={"FLOWSCOPE_NEW_PASSWORD": "x" * 12}))
    assert_one_line_error(cli("users", "disable", "root"), "only enabled admin")
