"""The scheduler: one runner per database (advisory lock), takeover, persisted jobs, generator
jobs, and the app lifespan. Waits poll with a generous deadline; nothing asserts on timing.
"Nothing happened" is never a sleep: it holds while the scheduler that must stay idle is seen
polling for the lock (or reconciling) several times, counted by `ObservedScheduler`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from flowscope import jobs
from flowscope.app import create_app
from flowscope.db import Database
from flowscope.generator import service
from flowscope.generator.models import GeneratorRun
from flowscope.jobs import SCHEDULER_LOCK_ID, JobRegistry, ScheduledJob, Scheduler, next_run_times
from flowscope.settings import Settings
from flowscope.wiring import job_registry
from tests.generator.factories import make_generator

DEADLINE = 30.0


STANDBY_POLLS = 5  # lock attempts a standby makes while we check that it stays a standby


def wait_until(
    condition: Callable[[], bool], what: str, holds: Callable[[], bool] | None = None
) -> None:
    """Poll `condition` until the deadline; `holds`, if given, must be true at every poll."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        done = condition()
        if holds is not None:
            assert holds(), f"broken while waiting for: {what}"
        if done:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what} (runner of this process: {jobs._runner})")


class ObservedScheduler(Scheduler):
    """The real scheduler, counting its lock attempts and reconciliations so that a test can
    see it work: a standby that tried the lock N times and never ran has proven something."""

    lock_attempts = 0
    syncs = 0

    def _try_lock(self) -> bool:
        try:
            return super()._try_lock()
        finally:
            self.lock_attempts += 1

    def sync(self) -> None:
        super().sync()
        self.syncs += 1


@pytest.fixture
def db(clean_db: Database) -> Database:
    """The database; its tables, the job store's included, are emptied after the test."""
    return clean_db


def counting_job(calls: list[str], name: str, every: float = 0.2) -> ScheduledJob:
    return ScheduledJob(
        id=f"test.{name}",
        func=lambda _db: calls.append(name),
        every_seconds=every,
        run_immediately=True,
    )


def make_scheduler(db: Database, jobs: list[ScheduledJob]) -> ObservedScheduler:
    return ObservedScheduler(db, JobRegistry(jobs), poll_seconds=0.1, sync_seconds=0.5)


def test_two_schedulers_elect_one_runner_and_the_other_takes_over(db: Database) -> None:
    calls: list[str] = []
    first = make_scheduler(db, [counting_job(calls, "first")])
    second = make_scheduler(db, [counting_job(calls, "second")])
    first.start()
    try:
        wait_until(lambda: first.is_runner, "first scheduler runs")
        second.start()
        wait_until(lambda: "first" in calls, "first runs its job")
        polls = second.lock_attempts + STANDBY_POLLS
        wait_until(
            lambda: second.lock_attempts >= polls and calls.count("first") >= 2,
            f"the second scheduler tries the lock {STANDBY_POLLS} more times",
            holds=lambda: not second.is_runner and "second" not in calls,
        )
        first.stop()
        wait_until(lambda: second.is_runner, "second takes over")
        wait_until(lambda: "second" in calls, "second runs its job")
        assert not first.is_runner
    finally:
        first.stop()
        second.stop()


def test_a_runner_that_loses_its_lock_connection_steps_down_and_one_runner_resumes(
    db: Database,
) -> None:
    calls: list[str] = []
    first = make_scheduler(db, [counting_job(calls, "job")])
    second = make_scheduler(db, [counting_job(calls, "job")])
    first.start()
    second.start()
    try:
        wait_until(lambda: first.is_runner or second.is_runner, "a runner")
        assert lock_holders(db) == 1
        killed = lock_holder_pids(db)
        with db.engine.begin() as conn:
            conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": killed[0]})
        # Both race for the lock again (in one process either may win; a crashed process
        # cannot, see the next test): a new lock connection, and exactly one runner.
        wait_until(lambda: lock_holder_pids(db) not in ([], killed), "a new lock holder")
        wait_until(lambda: first.is_runner != second.is_runner, "exactly one runner")
        calls.clear()
        wait_until(lambda: bool(calls), "jobs run again")
    finally:
        first.stop()
        second.stop()


_RUNNER_PROCESS = textwrap.dedent(
    """
    import sys, time
    from flowscope.db import Database, make_engine, make_sessionmaker
    from flowscope.jobs import JobRegistry, Scheduler

    engine = make_engine(sys.argv[1], pool_size=2)
    db = Database(url=sys.argv[1], engine=engine, sessions=make_sessionmaker(engine))
    scheduler = Scheduler(db, JobRegistry(), poll_seconds=0.1)
    scheduler.start()
    while not scheduler.is_runner:
        time.sleep(0.05)
    print("runner", flush=True)
    time.sleep(120)
    """
)


def test_a_killed_runner_process_is_replaced_by_a_standby_process(db: Database) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _RUNNER_PROCESS, db.url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    standby = make_scheduler(db, [])
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "runner"
        standby.start()
        wait_until(
            lambda: standby.lock_attempts >= STANDBY_POLLS,
            f"the standby tries the lock {STANDBY_POLLS} times",
            holds=lambda: not standby.is_runner,
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        wait_until(lambda: standby.is_runner, "the standby process takes over")
    finally:
        standby.stop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_next_run_times_persist_across_a_takeover(db: Database) -> None:
    job = ScheduledJob(id="test.slow", func=lambda _db: None, every_seconds=3600)
    first = make_scheduler(db, [job])
    first.start()
    try:
        wait_until(lambda: first.is_runner, "first runs")
        wait_until(lambda: bool(next_times(db)), "job persisted")
        planned = next_times(db)["test.slow"]
    finally:
        first.stop()
    second = make_scheduler(db, [job])
    second.start()
    try:
        # `is_runner` turns true before the takeover's first reconciliation: wait for it, then
        # for one more asked for explicitly, so the job store has been rewritten twice.
        wait_until(lambda: second.syncs >= 1, "second runs and reconciles")
        synced = second.syncs
        second.request_sync()
        wait_until(lambda: second.syncs > synced, "second reconciles again")
        assert next_times(db)["test.slow"] == planned
    finally:
        second.stop()


def next_times(db: Database) -> dict[str, datetime | None]:
    with db.sessions() as session:
        return next_run_times(session, prefix="test.")


def test_generators_are_scheduled_run_and_unscheduled_when_disabled(
    db: Database, session: Session
) -> None:
    generator = make_generator(session)
    scheduler = Scheduler(db, job_registry(), poll_seconds=0.1, sync_seconds=0.5)
    scheduler.start()
    try:
        wait_until(lambda: runs(session) > 0, "the new generator's first run")
        run = session.scalars(select(GeneratorRun)).first()
        assert run is not None
        assert run.trigger == "schedule"
        wait_until(lambda: run_finished(session), "the run finishes")
        with db.sessions() as s:
            planned = next_run_times(s, prefix="generator:")
        when = planned["generator:test-orders"]
        assert when is not None
        assert when > datetime.now(UTC) + timedelta(minutes=4)
        # A new provider (the journey's version suffix) is backfilled now, not in 5 minutes.
        changed = generator.source.replace("test.orders.v001", "test.orders.v002")
        service.update_generator(session, generator.slug, changed, "test")
        session.commit()
        scheduler.request_sync()
        wait_until(lambda: runs(session) == 2, "the run for the new provider")
        service.set_enabled(session, generator.slug, False, "test")
        session.commit()
        scheduler.request_sync()
        wait_until(lambda: "generator:test-orders" not in next_times_all(db), "job removed")
        assert "generator.prune-runs" in next_times_all(db)
    finally:
        scheduler.stop()


def runs(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(GeneratorRun)) or 0)


def run_finished(session: Session) -> bool:
    session.expire_all()
    return bool(session.scalar(select(GeneratorRun.finished_at)))


def next_times_all(db: Database) -> dict[str, datetime | None]:
    with db.sessions() as session:
        return next_run_times(session)


def test_the_app_starts_and_stops_the_scheduler(db: Database, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"scheduler_enabled": True}), database=db)
    with TestClient(app):
        scheduler = app.state.scheduler
        wait_until(lambda: scheduler.is_runner, "the app's scheduler runs")
        assert lock_holders(db) == 1
    assert not scheduler.is_runner
    assert lock_holders(db) == 0
    assert not [t for t in threading.enumerate() if t.name == "flowscope-scheduler"]


def lock_holder_pids(db: Database) -> list[int]:
    with db.engine.begin() as conn:
        pids = conn.scalars(
            text(
                "select pid from pg_locks where locktype = 'advisory' and objid = :k and granted "
                "and database = (select oid from pg_database where datname = current_database())"
            ),
            {"k": SCHEDULER_LOCK_ID},
        )
        return list(pids)


def lock_holders(db: Database) -> int:
    with db.engine.begin() as conn:
        count = conn.scalar(
            text(
                "select count(*) from pg_locks where locktype = 'advisory' and objid = :k "
                "and database = (select oid from pg_database where datname = current_database())"
            ),
            {"k": SCHEDULER_LOCK_ID},
        )
    return int(count or 0)
