"""Helpers for retention tests: a run at a chosen time, counts per table."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from flowscope.db import Database
from flowscope.retention.purge import RunResult, run_retention
from tests.flows.correlation_support import T0

DAY = timedelta(days=1)


def run_at(
    db: Database, now: datetime, *, days: int = 1, batch_size: int = 1000, **kw: Any
) -> RunResult:
    return run_retention(db, default_days=days, batch_size=batch_size, now=now, **kw)


def cut_at(minutes: float, days: int = 1) -> datetime:
    """The `now` at which a retention of `days` deletes events before T0 + `minutes`."""
    return T0 + timedelta(minutes=minutes) + days * DAY


def counts(db: Database) -> dict[str, int]:
    tables = ("events", "flow_events", "flow_instances", "flow_instance_steps", "flow_transitions")
    with db.sessions() as s:
        return {t: int(s.scalar(text(f"select count(*) from {t}")) or 0) for t in tables}  # noqa: S608


def event_ids(db: Database) -> set[str]:
    with db.sessions() as s:
        return set(s.scalars(text("select event_id from events")).all())
