"""The correlation lag: each run's snapshot time, the /metrics gauge and histogram, and
"results as of" on the pages."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import text

from flowscope.auth.models import Role
from flowscope.db import Database, transaction
from flowscope.flows.correlation import lag
from flowscope.flows.correlation.correlator import run
from flowscope.flows.correlation.jobs import correlate_job
from tests.flows.correlation_support import drain, event, ingest, make_flow
from tests.flows.views_support import make_shop


def _delay_count() -> float:
    return REGISTRY.get_sample_value("flowscope_correlation_delay_seconds_count") or 0.0


def test_the_lag_clock_measures_from_the_last_committed_snapshot() -> None:
    clock = lag.LagClock()
    assert math.isnan(clock.lag(now=50.0))  # no run yet in this process
    before = _delay_count()
    assert clock.committed(100.0, 101.5) is None  # nothing to measure the first run against
    assert clock.lag(now=104.0) == 4.0
    # The second run brought in events committed since 100.0; it committed at 103.2.
    assert clock.committed(102.0, 103.25) == 3.25
    assert clock.lag(now=105.0) == 3.0
    assert clock.lag(now=101.0) == 0.0  # never negative
    assert _delay_count() == before + 1


def test_a_run_records_when_its_snapshot_was_taken(clean_db: Database) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event("A", "order.placed")])
    drain(clean_db)
    ingest(clean_db, [event("B", "order.placed")])
    with clean_db.sessions() as s:
        db_before = s.scalar(text("select clock_timestamp()"))
    with transaction(clean_db.sessions) as session:
        result = run(session)
    assert result.read == 1
    assert result.snapshot_at is not None
    assert result.snapshot_at >= db_before
    with clean_db.sessions() as s:
        stored = s.scalar(text("select snapshot_at from flow_builds where state = 'ready'"))
    assert stored == result.snapshot_at


def test_the_job_exports_the_lag_on_metrics(clean_db: Database, client: TestClient) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event("A", "order.placed")])
    correlate_job(clean_db)  # the first run of the process measures nothing; a later one does
    before = _delay_count()
    correlate_job(clean_db)
    assert _delay_count() == before + 1
    body = client.get("/metrics").text
    value = float(
        re.search(r"^flowscope_correlation_lag_seconds (\S+)$", body, re.MULTILINE).group(1)  # type: ignore[union-attr]
    )
    assert 0.0 <= value < 30.0
    assert "flowscope_correlation_delay_seconds_bucket" in body


def test_the_pages_say_how_old_the_results_are(
    clean_db: Database, sign_in: Callable[..., TestClient]
) -> None:
    make_shop(clean_db)
    viewer = sign_in(Role.viewer)
    with clean_db.sessions() as s:
        as_of = s.scalar(text("select snapshot_at from flow_builds where state = 'ready'"))
    assert as_of is not None
    assert as_of <= datetime.now(UTC)
    home = viewer.get("/").text
    assert re.search(r"results as of \d+\.\d s ago|results as of [\d ]+(s|min)", home)
    page = viewer.get("/flows/orders").text
    assert re.search(r"Results as of [\d. a-z]+ ago", page)
    api = viewer.get("/api/v1/flows/orders/analysis").json()
    assert api["results_as_of"] is not None
