"""Correlation lag, as /metrics shows it.

Definitions (one clock: this process's wall clock, read by the job just before a run takes
its snapshot, so every event committed before that instant is in the run's results):

* `flowscope_correlation_lag_seconds` (gauge, computed at scrape): now − that instant of the
  last committed run, i.e. the age of the newest instant the results are complete up to.
  An event committed at time c is in the results at most `lag` seconds after c, and lag
  grows while no run commits. NaN in a process that has not run the correlator.
* `flowscope_correlation_delay_seconds` (histogram, one observation per committed run):
  the run's commit − the previous run's snapshot instant: the longest any event that this
  run brought into the results can have waited since it was committed.

The pages show the same figure from the database (`flow_builds.snapshot_at`, "results as
of"), so it holds whichever process runs the scheduler.
"""

from __future__ import annotations

import math
import threading
import time

from flowscope.metrics import CORRELATION_DELAY, CORRELATION_LAG


class LagClock:
    """The snapshot instant of the last committed run, and the delay observations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: float | None = None

    def committed(self, snapshot_before: float, committed_at: float) -> float | None:
        """Record a committed run (wall-clock seconds); returns the delay observed, if any."""
        with self._lock:
            previous, self._last = self._last, snapshot_before
        if previous is None:
            return None
        delay = max(0.0, committed_at - previous)
        CORRELATION_DELAY.observe(delay)
        return delay

    def lag(self, now: float | None = None) -> float:
        with self._lock:
            last = self._last
        if last is None:
            return math.nan
        return max(0.0, (time.time() if now is None else now) - last)


CLOCK = LagClock()
CORRELATION_LAG.set_function(CLOCK.lag)
