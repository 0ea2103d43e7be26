"""Scheduled jobs: each domain declares its jobs in its own `jobs.py`; they are registered here.

A job is a function that takes the `Database` and opens its own transactions
(`with transaction(db.sessions) as session:`), so a failing run never leaves work half done.
The scheduler that runs them (APScheduler, one runner per database) is wired in this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flowscope.db import Database


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: Callable[[Database], object]
    every_seconds: float
    description: str = ""


def all_jobs() -> list[ScheduledJob]:
    """Every domain's jobs. Domains add theirs here as `from flowscope.X.jobs import JOBS`."""
    return []
