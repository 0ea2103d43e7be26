"""Scheduled jobs of the flows domain."""

from __future__ import annotations

import logging
import time

from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import run
from flowscope.flows.correlation.lag import CLOCK
from flowscope.jobs import ScheduledJob

log = logging.getLogger(__name__)


def correlate_job(db: Database) -> int:
    """One correlator run in its own transaction: new events, and a slice of any rebuild."""
    before = time.time()  # precedes the run's snapshot: see flowscope.flows.correlation.lag
    with transaction(db.sessions) as session:
        result = run(session)
    if result.snapshot_at is not None:
        CLOCK.committed(before, time.time())
    if result.read:
        log.debug("correlated events", extra={"events": result.read})
    return result.read


JOBS = [
    ScheduledJob(
        "correlate",
        correlate_job,
        every_seconds=1.0,
        description="correlate new events into flow instances; rebuild changed flows",
    )
]
