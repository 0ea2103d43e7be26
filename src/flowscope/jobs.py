"""The scheduler. Each domain declares its jobs in its own `jobs.py`; `flowscope.wiring`
collects them into a `JobRegistry` that the app factory and the CLI pass to `Scheduler`.

A job is a function that takes the `Database` and opens its own transactions
(`with transaction(db.sessions) as session:`), so a failing run never leaves work half done.

The scheduler: APScheduler 3 with its SQLAlchemy job store on the app's engine (table
`apscheduler_jobs`, created by migration 0005), so next run times survive restarts and a
takeover. Exactly one process runs jobs per database: the one holding a PostgreSQL
session-level advisory lock on a dedicated connection. The others stand by and try to take
the lock every few seconds; PostgreSQL releases it when the runner's connection ends, so a
crashed runner is replaced within one poll. The job store holds only a reference to
`_execute` and the job id; the runner maps ids to the jobs declared in code and data, and
reconciles the store with them every few seconds (a generator enabled in another process is
picked up there).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Column, Float, Index, LargeBinary, Table, Unicode, make_url, text
from sqlalchemy.orm import Session

from flowscope.db import Base, Database

log = logging.getLogger(__name__)

SCHEDULER_LOCK_ID = 0x464C5343  # "FLSC": held by the one process that runs jobs

# The job store's table as APScheduler defines it, declared in our metadata too so that
# Alembic (migration 0005 creates it) and the test fixtures know it.
JOBS_TABLE = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25)),
    Column("job_state", LargeBinary, nullable=False),
    Index("ix_apscheduler_jobs_next_run_time", "next_run_time"),
)


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: Callable[[Database], object]
    every_seconds: float
    description: str = ""
    cron: str | None = None  # a crontab line in UTC; when set it replaces every_seconds
    run_immediately: bool = False  # first run when scheduled rather than one interval later
    revision: str = ""  # a new value reschedules the job (at once with run_immediately)

    @property
    def spec(self) -> str:
        """What the job store remembers (as the job's name) to see that a job changed."""
        spec = f"cron {self.cron}" if self.cron else f"every {self.every_seconds:g}s"
        if self.run_immediately:
            spec += ", first run now"
        return f"{spec} [{self.revision}]" if self.revision else spec

    def trigger(self) -> CronTrigger | IntervalTrigger:
        if self.cron:
            return CronTrigger.from_crontab(self.cron, timezone=UTC)
        return IntervalTrigger(seconds=self.every_seconds, timezone=UTC)


JobSource = Callable[[Database], Sequence[ScheduledJob]]


@dataclass(frozen=True)
class JobRegistry:
    """What the scheduler runs: fixed jobs, and sources of jobs read from data (one job per
    enabled generator) asked again at every reconciliation.

    Built above the domains (`flowscope.wiring`) and handed to `Scheduler`: this module knows
    no domain, so a domain's `jobs.py` can import `ScheduledJob` without a cycle.
    """

    jobs: Sequence[ScheduledJob] = ()
    sources: Sequence[JobSource] = ()

    def declared(self, db: Database) -> dict[str, ScheduledJob]:
        desired = {job.id: job for job in self.jobs}
        for source in self.sources:
            desired.update((job.id, job) for job in source(db))
        return desired


def next_run_times(session: Session, prefix: str = "") -> dict[str, datetime | None]:
    """Next run of the persisted jobs whose id starts with `prefix`, read from the job store's
    table so that every process can show it, not only the runner. Empty for a paused job."""
    rows = session.execute(
        text("select id, next_run_time from apscheduler_jobs where starts_with(id, :prefix)"),
        {"prefix": prefix},
    )
    return {
        row.id: datetime.fromtimestamp(row.next_run_time, UTC) if row.next_run_time else None
        for row in rows
    }


# The runner of this process, if this process is the runner. Persisted jobs call `_execute`
# by reference, so the job store never holds pickled functions or connections.
_runner: Scheduler | None = None
_runner_guard = threading.Lock()


def _execute(job_id: str) -> None:
    runner = _runner
    if runner is not None:
        runner.execute(job_id)


class _SharedEngineJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """The stock store disposes its engine on shutdown: this one is the app's, so keep it."""

    def shutdown(self) -> None:
        pass


def _lock_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Scheduler:
    """Runs the jobs when this process holds the scheduler lock; stands by otherwise."""

    def __init__(
        self,
        db: Database,
        registry: JobRegistry,
        *,
        poll_seconds: float = 5.0,
        sync_seconds: float = 15.0,
        lock_id: int = SCHEDULER_LOCK_ID,
    ) -> None:
        self.db = db
        self.registry = registry
        self.poll_seconds = poll_seconds
        self.sync_seconds = sync_seconds
        self.lock_id = lock_id
        self._declared: dict[str, ScheduledJob] = {}
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._aps: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_runner(self) -> bool:
        return self._aps is not None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="flowscope-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def request_sync(self) -> None:
        """Reconcile soon (after an edit in this process) instead of at the next period."""
        self._wake.set()

    def execute(self, job_id: str) -> None:
        job = self._declared.get(job_id)
        if job is None:
            return  # removed since the store last looked; the next sync drops it
        try:
            job.func(self.db)
        except Exception:
            log.exception("scheduled job failed", extra={"job": job_id})

    def next_run_times(self) -> dict[str, datetime | None]:
        aps = self._aps
        if aps is None:
            return {}
        return {job.id: job.next_run_time for job in aps.get_jobs()}

    def _loop(self) -> None:
        last_sync = datetime.min.replace(tzinfo=UTC)
        woken = False
        try:
            while not self._stop.is_set():
                try:
                    if not self.is_runner:
                        if self._try_lock():
                            self._become_runner()
                            last_sync = datetime.now(UTC)
                    elif not self._lock_alive():
                        log.warning("scheduler lock connection lost: standing by")
                        self._step_down()
                    elif woken or datetime.now(UTC) - last_sync >= timedelta(
                        seconds=self.sync_seconds
                    ):
                        last_sync = datetime.now(UTC)
                        self._sync_logged()
                except Exception:
                    log.exception("scheduler loop error: standing by")
                    self._step_down()
                woken = self._wake.wait(self.poll_seconds)
                self._wake.clear()
        finally:
            self._step_down()

    def _sync_logged(self) -> None:
        """A failed reconciliation (database away for a moment) keeps the jobs as they were;
        the runner does not give up its role for it."""
        try:
            self.sync()
        except Exception:
            log.exception("scheduler could not reconcile jobs; retrying later")

    def _try_lock(self) -> bool:
        try:
            conn = psycopg.connect(_lock_conninfo(self.db.url), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            return False
        row = conn.execute("select pg_try_advisory_lock(%s)", (self.lock_id,)).fetchone()
        if row is None or not row[0]:
            conn.close()
            return False
        self._lock_conn = conn
        return True

    def _lock_alive(self) -> bool:
        conn = self._lock_conn
        if conn is None or conn.closed:
            return False
        try:
            conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def _become_runner(self) -> None:
        global _runner
        with _runner_guard:
            if _runner is not None and _runner is not self:
                # Another scheduler of this process runs jobs for some database; one per process.
                self._release_lock()
                return
            _runner = self
        aps = BackgroundScheduler(
            jobstores={
                "default": _SharedEngineJobStore(engine=self.db.engine, tablename=JOBS_TABLE.name)
            },
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            # A late run (after a takeover or a long job) runs once, as soon as possible.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._aps = aps
        # Started paused: the store is open (jobs persisted by a previous runner are visible and
        # keep their next run times) but nothing runs until the declared jobs are reconciled.
        aps.start(paused=True)
        self.sync()
        aps.resume()
        log.info("scheduler running jobs", extra={"jobs": sorted(self._declared)})

    def _step_down(self) -> None:
        global _runner
        aps, self._aps = self._aps, None
        if aps is not None:
            try:
                aps.shutdown(wait=True)
            except Exception:
                log.exception("scheduler shutdown error")
        with _runner_guard:
            if _runner is self:
                _runner = None
        self._release_lock()

    def _release_lock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None and not conn.closed:
            try:
                conn.execute("select pg_advisory_unlock(%s)", (self.lock_id,))
            except psycopg.Error:
                pass  # the connection is gone, and the lock with it
            conn.close()

    def sync(self) -> None:
        """Make the job store match the declared jobs: add new ones, drop removed ones,
        reschedule changed ones (next run times of unchanged jobs are kept)."""
        aps = self._aps
        if aps is None:
            return
        desired = self.registry.declared(self.db)
        self._declared = desired
        existing = {job.id: job for job in aps.get_jobs()}
        for job_id in existing.keys() - desired.keys():
            aps.remove_job(job_id)
        now = datetime.now(UTC)
        for job_id, job in desired.items():
            current = existing.get(job_id)
            if current is None:
                extra = {"next_run_time": now} if job.run_immediately else {}
                aps.add_job(
                    _execute,
                    trigger=job.trigger(),
                    args=[job_id],
                    id=job_id,
                    name=job.spec,
                    replace_existing=True,
                    **extra,
                )
            elif current.name != job.spec:
                aps.modify_job(job_id, name=job.spec)
                aps.reschedule_job(job_id, trigger=job.trigger())
                if job.run_immediately:
                    aps.modify_job(job_id, next_run_time=now)
