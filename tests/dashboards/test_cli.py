"""`flowscope generate` creates the template dashboard with the flow, as the scheduler does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from flowscope.cli import app as cli
from flowscope.dashboards.models import Dashboard
from flowscope.db import Database
from flowscope.settings import get_settings


@pytest.fixture
def cli_env(clean_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The CLI on the test database. The command wires the hook itself: no app is built."""
    monkeypatch.setenv("FLOWSCOPE_DATABASE_URL", clean_db.url)
    get_settings.cache_clear()
    yield {"FLOWSCOPE_DATABASE_URL": clean_db.url}
    get_settings.cache_clear()


def test_generate_creates_the_flow_with_its_dashboard(
    cli_env: dict[str, str], session: Session
) -> None:
    result = CliRunner().invoke(cli, ["generate", "loan", "--hours", "1"], env=cli_env)
    assert result.exit_code == 0, result.output
    board = session.scalars(select(Dashboard)).one()
    assert board.flow_slug == "loan-application"
    assert board.updated_by == "generator"
