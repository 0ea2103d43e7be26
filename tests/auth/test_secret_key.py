"""The secret key: never a published value, made and kept per installation when unset."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.app import create_app
from flowscope.db import Database
from flowscope.settings import KNOWN_BUILT_IN_SECRETS, Settings

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 40


@pytest.mark.parametrize("env", ["development", "test", "production"])
@pytest.mark.parametrize("secret", sorted(KNOWN_BUILT_IN_SECRETS))
def test_a_published_secret_is_refused_in_every_mode(env: str, secret: str) -> None:
    with pytest.raises(ValidationError, match="published default"):
        Settings(env=env, secret_key=secret)  # type: ignore[arg-type]


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(secret_key="x" * 31)


def test_production_needs_an_explicit_secret() -> None:
    with pytest.raises(ValidationError, match="FLOWSCOPE_SECRET_KEY"):
        Settings(env="production")
    assert Settings(env="production", secret_key=GOOD_KEY).secret_key == GOOD_KEY


def test_without_a_secret_one_is_made_on_first_start_and_kept(
    clean_db: Database, settings: Settings, session: Session
) -> None:
    assert settings.secret_key is None
    first = create_app(settings, database=clean_db)
    with TestClient(first):
        key = first.state.secret_key
    assert len(key) >= 43
    assert key not in KNOWN_BUILT_IN_SECRETS
    stored = session.scalar(text("select value from instance_keys where name = 'secret_key'"))
    assert stored == key
    second = create_app(settings, database=clean_db)  # a restart, or another worker
    with TestClient(second):
        assert second.state.secret_key == key


def test_a_configured_secret_is_used_and_nothing_is_stored(
    clean_db: Database, settings: Settings, session: Session
) -> None:
    app = create_app(settings.model_copy(update={"secret_key": GOOD_KEY}), database=clean_db)
    with TestClient(app):
        assert app.state.secret_key == GOOD_KEY
    assert session.scalar(text("select count(*) from instance_keys")) == 0


def test_docker_compose_requires_the_secret_and_runs_in_production_mode() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["services"]["app"]["environment"]
    assert environment["FLOWSCOPE_ENV"] == "production"
    assert environment["FLOWSCOPE_SECRET_KEY"].startswith("${FLOWSCOPE_SECRET_KEY:?")
