"""Scheduled jobs of the flows domain."""

from __future__ import annotations

import logging

from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import correlate
from flowscope.jobs import ScheduledJob

log = logging.getLogger(__name__)


def correlate_job(db: Database) -> int:
    """One correlator run in its own transaction: new events, and a slice of any rebuild."""
    with transaction(db.sessions) as session:
        read = correlate(session)
    if read:
        log.debug("correlated events", extra={"events": read})
    return read


JOBS = [
    ScheduledJob(
        "correlate",
        correlate_job,
        every_seconds=1.0,
        description="correlate new events into flow instances; rebuild changed flows",
    )
]
