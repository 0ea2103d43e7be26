"""The retention job: hourly, one bounded run (`flowscope.retention.purge`)."""

from __future__ import annotations

import logging

from flowscope.db import Database
from flowscope.jobs import ScheduledJob
from flowscope.retention.purge import RunResult, run_retention
from flowscope.settings import Settings, get_settings

log = logging.getLogger(__name__)


def retention_run(db: Database, settings: Settings) -> RunResult:
    result = run_retention(
        db,
        default_days=settings.retention_days,
        batch_size=settings.retention_batch_size,
        budget_seconds=settings.retention_run_seconds,
    )
    if result.events or not result.complete:
        log.info("retention run", extra=result.as_dict())
    return result


def retention_job(db: Database) -> RunResult:
    return retention_run(db, get_settings())


JOBS = [
    ScheduledJob(
        "retention",
        retention_job,
        every_seconds=3600.0,
        cron="23 * * * *",
        description="delete events older than their provider's retention, and what was "
        "derived from them",
    )
]
