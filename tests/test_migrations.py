"""The migrations: they build the schema the models describe, and they go back down.

On a scratch database of its own (the session's test database stays at head for the others).
`.ci/alembic_check.py` runs the `alembic check` command itself the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, make_url, pool

from flowscope.db import Base, alembic_config
from flowscope.models import load_all_models
from tests.fixtures.database import create_test_database, drop_test_database


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    admin_url = make_url(database_url).set(database="postgres").render_as_string(False)
    url = create_test_database(admin_url)
    try:
        yield url
    finally:
        drop_test_database(admin_url, url)


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _model_differences(url: str) -> list[Any]:
    """What `alembic check` reports: operations needed to make the database match the models."""
    load_all_models()
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_to_base_and_upgrade_again(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    command.upgrade(config, "head")
    built = _tables(scratch_url)
    assert {"events", "flows", "flow_instances", "dashboards", "apscheduler_jobs"} <= built
    command.downgrade(config, "base")
    assert _tables(scratch_url) <= {"alembic_version"}  # every migration undid its tables
    command.upgrade(config, "head")
    assert _tables(scratch_url) == built


def test_the_models_match_the_migrations(scratch_url: str) -> None:
    command.upgrade(alembic_config(scratch_url), "head")
    assert _model_differences(scratch_url) == []


def test_a_drift_between_models_and_database_is_reported(scratch_url: str) -> None:
    """The comparison can fail: a column the models have and the database lacks shows up."""
    command.upgrade(alembic_config(scratch_url), "head")
    engine = create_engine(scratch_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("alter table dashboards drop column flow_slug")
    finally:
        engine.dispose()
    differences = _model_differences(scratch_url)
    assert [(d[0], d[2], d[3].name) for d in differences] == [
        ("add_column", "dashboards", "flow_slug")
    ]
