"""The automations' jobs: the dispatcher, the flow-instance scanner, and one job per enabled
schedule-triggered automation.

Schedules are one `ScheduledJob` per automation (a job source, as the generators do) rather
than one ticking job: APScheduler already knows cron and intervals, keeps each job's next run
time across restarts and takeovers, and runs a late run once (coalesce) instead of a burst.
"""

from __future__ import annotations

import functools
import logging

from sqlalchemy import select

from flowscope.automations import dispatcher, flow_scan, triggers
from flowscope.automations.models import Automation
from flowscope.automations.schemas import ScheduleTrigger
from flowscope.db import Database, transaction
from flowscope.jobs import ScheduledJob
from flowscope.settings import Settings, get_settings

log = logging.getLogger(__name__)


def dispatch_job(db: Database, settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    budget = max(5.0, settings.automation_dispatch_seconds * 10)
    return dispatcher.dispatch(db, settings, budget_seconds=budget)


def flow_scan_job(db: Database) -> int:
    with transaction(db.sessions) as session:
        return flow_scan.scan(session)


def run_scheduled(db: Database, automation_id: int) -> None:
    with transaction(db.sessions) as session:
        triggers.run_scheduled(session, automation_id)


def scheduled_automations(db: Database) -> list[ScheduledJob]:
    with transaction(db.sessions) as session:
        automations = session.scalars(
            select(Automation).where(
                Automation.enabled, Automation.trigger["type"].astext == "schedule"
            )
        ).all()
        specs = [(a.id, a.name, a.trigger) for a in automations]
    jobs = []
    for automation_id, name, trigger in specs:
        try:
            schedule = ScheduleTrigger.model_validate(trigger)
        except ValueError:
            log.exception("automation has an invalid schedule", extra={"id": automation_id})
            continue
        jobs.append(
            ScheduledJob(
                id=f"automation:{automation_id}",
                func=functools.partial(run_scheduled, automation_id=automation_id),
                every_seconds=float(schedule.every_seconds or 0),
                cron=schedule.cron,
                description=f"automation {name}, {schedule.describe()}",
            )
        )
    return jobs


def jobs(settings: Settings | None = None) -> list[ScheduledJob]:
    settings = settings or get_settings()
    return [
        ScheduledJob(
            "automations.dispatch",
            functools.partial(dispatch_job, settings=settings),
            every_seconds=settings.automation_dispatch_seconds,
            description="send the automations' due actions (outbox)",
        ),
        ScheduledJob(
            "automations.flow-scan",
            flow_scan_job,
            every_seconds=15.0,
            description="runs for flow instances that dropped, stalled or hit an exception",
        ),
    ]
