"""Generator runs as jobs: one scheduled job per enabled generator, each run recorded in
`generator_runs`; plus pruning of that history."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowscope.db import Database, transaction
from flowscope.generator import service
from flowscope.generator.flowdef import FlowCreatedHook
from flowscope.generator.models import Generator, GeneratorRun
from flowscope.generator.run import RunOutcome, config_of, run_generator
from flowscope.jobs import JobSource, ScheduledJob

log = logging.getLogger(__name__)

DEMO_TEMPLATE = "retail"


# A run still open after this long was cut short by a stopped process (runs take seconds).
STALE_RUN = timedelta(hours=1)


def _close_interrupted_runs(session: Session, generator_id: int, current_run: int) -> None:
    now = datetime.now(UTC)
    session.execute(
        update(GeneratorRun)
        .where(
            GeneratorRun.generator_id == generator_id,
            GeneratorRun.id != current_run,
            GeneratorRun.finished_at.is_(None),
            GeneratorRun.started_at < now - STALE_RUN,
        )
        .values(finished_at=now, error="interrupted: the process stopped during the run")
    )


def run_once(
    db: Database,
    slug: str,
    *,
    trigger: str,
    on_flow_created: Sequence[FlowCreatedHook],
    now: datetime | None = None,
    since: datetime | None = None,
    run_id: int | None = None,
) -> tuple[GeneratorRun, RunOutcome | None]:
    """Run a generator and record the run; a failure is recorded, then raised.

    The generator's row is locked for the run, so runs of one generator never overlap, even
    from different processes (a "Run now" while the scheduler runs it waits, then finds
    little left to do). `on_flow_created` has no default so that no caller forgets the hooks
    its wiring gives it. `run_id`: a run already recorded by `start_run`.
    """
    if run_id is None:
        run_id = start_run(db, slug, trigger)
    try:
        with transaction(db.sessions) as session:
            generator = service.get_generator(session, slug, for_update=True)
            outcome = run_generator(
                session,
                generator,
                now or datetime.now(UTC),
                since=since,
                on_flow_created=on_flow_created,
            )
            _close_interrupted_runs(session, generator.id, run_id)
            recorded = session.get_one(GeneratorRun, run_id)
            recorded.finished_at = datetime.now(UTC)
            recorded.events_written = outcome.written
            recorded.pending_added = outcome.pending_added
    except Exception as exc:
        with transaction(db.sessions) as session:
            failed = session.get(GeneratorRun, run_id)
            if failed is not None:
                failed.finished_at = datetime.now(UTC)
                failed.error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    return recorded, outcome


def start_run(db: Database, slug: str, trigger: str) -> int:
    """Record that a run of `slug` starts now (committed) and return its id: the history shows
    it at once, so a page rendered before the run itself begins (a "Run now" done after the
    response) shows it running, and polls, rather than "No runs yet" for good."""
    with transaction(db.sessions) as session:
        generator = service.get_generator(session, slug)
        run = GeneratorRun(
            generator_id=generator.id,
            trigger=trigger,
            started_at=datetime.now(UTC),
            events_written=0,
            pending_added=0,
        )
        session.add(run)
        session.flush()
        return run.id


def run_scheduled(
    db: Database, generator_id: int, on_flow_created: Sequence[FlowCreatedHook]
) -> None:
    with transaction(db.sessions) as session:
        generator = session.get(Generator, generator_id)
        if generator is None or not generator.enabled:
            return  # disabled or deleted since the scheduler last looked
        slug = generator.slug
    run, outcome = run_once(db, slug, trigger="schedule", on_flow_created=on_flow_created)
    log.info(
        "generator run",
        extra={"generator": slug, "written": run.events_written, "pending": run.pending_added},
    )


def scheduled_generators(
    db: Database, on_flow_created: Sequence[FlowCreatedHook]
) -> list[ScheduledJob]:
    """One job per enabled generator, on its own interval or cron. A generator that never ran
    runs as soon as it is scheduled, so its history appears without waiting an interval."""
    with transaction(db.sessions) as session:
        generators = session.scalars(select(Generator).where(Generator.enabled)).all()
    jobs = []
    for generator in generators:
        try:
            schedule = config_of(generator).schedule
        except ValueError:
            # Stored before a stricter validation: skipped (its page shows the YAML to fix),
            # rather than stopping every other job.
            log.exception("generator has an invalid configuration", extra={"slug": generator.slug})
            continue
        jobs.append(
            ScheduledJob(
                id=f"generator:{generator.slug}",
                func=functools.partial(
                    run_scheduled, generator_id=generator.id, on_flow_created=on_flow_created
                ),
                every_seconds=schedule.every.total_seconds() if schedule.every else 0,
                cron=schedule.cron,
                run_immediately=generator.generated_until is None,
                # Moved to another provider before the scheduler saw the last first run:
                # still a change, so the new provider's backfill runs at once.
                revision=generator.provider if generator.generated_until is None else "",
                description=f"generator {generator.name}, {schedule.describe()}",
            )
        )
    return jobs


def job_source(on_flow_created: Sequence[FlowCreatedHook]) -> JobSource:
    """The generators' jobs for the scheduler's registry, read again at each reconciliation."""
    return functools.partial(scheduled_generators, on_flow_created=tuple(on_flow_created))


def prune_run_history(db: Database) -> int:
    with transaction(db.sessions) as session:
        return service.prune_runs(session, datetime.now(UTC))


JOBS = [
    ScheduledJob(
        id="generator.prune-runs",
        func=prune_run_history,
        every_seconds=3600,
        description=f"drop generator run history older than {service.RUN_HISTORY_DAYS} days",
    )
]


def _ensure_demo_generator(db: Database) -> str:
    template = service.get_template(DEMO_TEMPLATE)
    for attempt in range(2):
        try:
            with transaction(db.sessions) as session:
                generator = service.ensure_generator(session, template.source, "demo", enabled=True)
                return generator.slug
        except IntegrityError:
            # Another worker process created it at the same moment: read it on the retry.
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def start_demo(db: Database, on_flow_created: Sequence[FlowCreatedHook]) -> threading.Thread:
    """`flowscope serve --demo`: the retail generator (created if absent), whose first run
    backfills 24 h, in a thread so that the server answers while the history is written."""

    def work() -> None:
        try:
            slug = _ensure_demo_generator(db)
            run, _ = run_once(db, slug, trigger="demo", on_flow_created=on_flow_created)
            log.info("demo data ready", extra={"generator": slug, "written": run.events_written})
        except Exception:
            log.exception("demo generator run failed")

    thread = threading.Thread(target=work, name="flowscope-demo", daemon=True)
    thread.start()
    return thread
