"""`flowscope generate` and the demo mode of `flowscope serve`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from flowscope.app import create_app
from flowscope.cli import app as cli
from flowscope.db import Database
from flowscope.generator.models import Generator, GeneratorRun
from flowscope.settings import Settings, get_settings
from tests.generator.factories import config_data


@pytest.fixture
def cli_env(clean_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("FLOWSCOPE_DATABASE_URL", clean_db.url)
    get_settings.cache_clear()
    yield {"FLOWSCOPE_DATABASE_URL": clean_db.url}
    get_settings.cache_clear()


def count(session: Session, provider: str) -> int:
    query = text("select count(*) from events where provider = :p")
    return int(session.scalar(query, {"p": provider}) or 0)


def test_generate_a_template_for_some_hours(cli_env: dict[str, str], session: Session) -> None:
    result = CliRunner().invoke(cli, ["generate", "loan", "--hours", "3"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "loan-application (bank.loans.v001)" in result.output
    written = count(session, "bank.loans.v001")
    assert written > 0
    assert f"{written} events written" in result.output
    generator = session.scalars(select(Generator)).one()
    assert not generator.enabled  # runs once; `--enable` keeps it going
    again = CliRunner().invoke(cli, ["generate", "loan", "--hours", "3"], env=cli_env)
    assert again.exit_code == 0, again.output
    # The clock moved on between the two commands, so a few events may be new; everything
    # generated before is recognised and stored once.
    match = re.search(r"(\d+) events written, (\d+) already there", again.output)
    assert match, again.output
    new, duplicates = int(match[1]), int(match[2])
    assert duplicates > 0
    assert count(session, "bank.loans.v001") == written + new


def test_generate_a_yaml_file(cli_env: dict[str, str], session: Session, tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(yaml.safe_dump(config_data(backfill="2h")))
    result = CliRunner().invoke(cli, ["generate", str(path), "--enable"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "backfilled" in result.output
    assert count(session, "test.orders.v001") > 0
    assert session.scalars(select(Generator.enabled)).one() is True


def test_generate_reports_bad_input_in_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    unknown = subprocess.run(
        [sys.executable, "-m", "flowscope", "generate", "spaceship"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: template 'spaceship' does not exist; templates: ")
    assert len(unknown.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\n")
    result = CliRunner().invoke(cli, ["generate", str(broken)], env=cli_env)
    assert "provider: Field required" in str(result.exception)


def test_demo_mode_has_retail_data_soon_after_start(
    clean_db: Database, settings: Settings, session: Session
) -> None:
    app = create_app(settings.model_copy(update={"demo": True}), database=clean_db)
    with TestClient(app):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and count(session, "retail.orders.v001") == 0:
            time.sleep(0.2)
        assert count(session, "retail.orders.v001") > 1000
    run = session.scalars(select(GeneratorRun)).one()
    assert run.trigger == "demo"
    hours = session.execute(
        text(
            "select count(distinct date_trunc('hour', \"timestamp\")) from events "
            "where provider = 'retail.orders.v001'"
        )
    ).scalar_one()
    assert hours >= 24
