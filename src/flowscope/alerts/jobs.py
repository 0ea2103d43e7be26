"""The evaluator as a scheduled job: it ticks at the minimum rule interval
(`FLOWSCOPE_ALERT_MIN_INTERVAL_SECONDS`) and evaluates the rules that are due.

The hooks (the automations' outbox) come from `flowscope.wiring`, which this module must not
import: `job_source(hooks)` / `jobs(hooks)` close over them, like the generator's jobs do
with their FlowCreatedHook.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from flowscope.alerts.evaluator import TickReport, evaluate_due
from flowscope.alerts.transitions import AlertHook
from flowscope.db import Database, transaction
from flowscope.jobs import JobSource, ScheduledJob
from flowscope.settings import get_settings

log = logging.getLogger(__name__)

JOB_ID = "alerts.evaluate"


def tick(db: Database, hooks: Sequence[AlertHook]) -> TickReport:
    """One evaluation of the due rules, in one transaction with the hooks' writes."""
    with transaction(db.sessions) as session:
        report = evaluate_due(session, hooks)
    if report.opened or report.resolved or report.errors:
        log.info(
            "alert rules evaluated",
            extra={
                "evaluated": report.evaluated,
                "opened": report.opened,
                "resolved": report.resolved,
                "errors": report.errors,
            },
        )
    return report


def jobs(hooks: Sequence[AlertHook], min_interval_s: int | None = None) -> list[ScheduledJob]:
    every = min_interval_s or get_settings().alert_min_interval_seconds
    return [
        ScheduledJob(
            id=JOB_ID,
            func=functools.partial(tick, hooks=tuple(hooks)),
            every_seconds=every,
            description=f"evaluate the alert rules that are due, every {every} s",
        )
    ]


def _source(db: Database, hooks: tuple[AlertHook, ...]) -> list[ScheduledJob]:
    return jobs(hooks)


def job_source(hooks: Sequence[AlertHook]) -> JobSource:
    """The evaluator job for the scheduler's registry, with the hooks it must call."""
    return functools.partial(_source, hooks=tuple(hooks))
