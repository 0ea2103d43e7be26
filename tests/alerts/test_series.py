"""KPI series against figures worked out by hand for the events in `support.shop_with_flows`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flowscope.alerts.series import FlowSeries, flow_series
from flowscope.db import Database
from flowscope.flows.analysis.context import load_flow_context
from flowscope.flows.definitions.service import get_flow
from tests.alerts.support import INTERVAL, NOW, shop_with_flows
from tests.flows.correlation_support import T0

TEN = timedelta(minutes=10)


@pytest.fixture
def series(clean_db: Database) -> FlowSeries:
    shop_with_flows(clean_db)
    with clean_db.sessions() as session:
        context = load_flow_context(session, get_flow(session, "orders"))
        return flow_series(session, context, INTERVAL, T0, NOW)


def values(series: FlowSeries, kpi: str, step: str | None = None) -> list[float | None]:
    return [p.value for p in series.series(kpi, step)]


def test_samples_are_the_complete_intervals_aligned_on_the_epoch(series: FlowSeries) -> None:
    assert [p.at for p in series.series("started")] == [T0 + TEN * n for n in range(6)]


def test_cohort_counts_per_interval_of_start(series: FlowSeries) -> None:
    assert values(series, "started") == [2, 2, 1, 0, 0, 0]
    assert values(series, "revenue") == [150, 50, 10, 0, 0, 0]
    assert values(series, "exceptions") == [0, 1, 0, 0, 0, 0]
    assert values(series, "exception_rate") == [0, 0.5, 0, None, None, None]


def test_outcomes_only_for_cohorts_old_enough_to_have_finished(series: FlowSeries) -> None:
    # settle age = the 30 min drop timeout: at 13:00 only the cohorts over by 12:30 count
    assert [p.at for p in series.series("conversion")] == [T0, T0 + TEN, T0 + 2 * TEN]
    assert values(series, "completed") == [1, 1, 0]
    assert values(series, "conversion") == [0.5, 0.5, 0.0]
    assert values(series, "avg_duration") == [300, 1500, None]
    assert values(series, "median_duration") == [300, 1500, None]
    assert values(series, "p90_duration") == [300, 1500, None]


def test_dropped_and_stalled_count_in_the_interval_they_happened(series: FlowSeries) -> None:
    assert values(series, "dropped") == [0, 0, 0, 1, 1, 1]  # c2 12:34, c3 12:43, c5 12:55
    assert values(series, "stalled") == [0, 1, 1, 1, 0, 0]  # c2 12:14, c3 12:23, c5 12:35


def test_step_series(series: FlowSeries) -> None:
    assert values(series, "reached", "placed") == [2, 2, 1, 0, 0, 0]
    assert values(series, "reached", "paid") == [2, 2, 0, 0, 0, 0]
    assert values(series, "reached", "shipped") == [1, 1, 0, 0, 0, 0]
    assert values(series, "exceptions", "paid") == [0, 1, 0, 0, 0, 0]
    assert values(series, "dropped", "paid") == [0, 0, 0, 1, 1, 0]
    assert values(series, "dropped", "placed") == [0, 0, 0, 0, 0, 1]
