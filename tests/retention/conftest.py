"""Retention tests run with the shipped default (35 days), not the suite's keep-everything."""

from __future__ import annotations

import pytest

from flowscope.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        bootstrap_admin=False,
        log_format="text",
        scheduler_enabled=False,
        retention_days=35,
    )
