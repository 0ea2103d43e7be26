"""A query rule's source: the FQL run over the rule's window, as series or one number."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from flowscope.alerts.analyzers import Point
from flowscope.alerts.series import single_number, timeseries_groups
from flowscope.query.service import run_query

# Bounds of one evaluation: a query rule watches at most this many `by:` groups, and its
# query has the notebook's default timeout.
MAX_GROUPS = 1_000
QUERY_TIMEOUT_S = 10.0

Groups = list[tuple[dict[str, str], list[Point]]]


def query_groups(
    session: Session, query: str, start: datetime, now: datetime
) -> tuple[Groups, tuple[float | None] | None]:
    """Run `query` over `[start, now)`. A `makeTimeseries` result gives one series per group
    (bins not over by `now` are left out) and None; any other result gives no groups and its
    first number as a one-element tuple."""
    result = run_query(
        session,
        query,
        time_from=start.isoformat(),
        time_to=now.isoformat(),
        timeout_s=QUERY_TIMEOUT_S,
        row_cap=MAX_GROUPS,
        now=now,
    )
    if result.interval_ns is not None and result.series_timeframe is not None:
        groups = timeseries_groups(
            result.columns,
            result.rows,
            result.series_timeframe.start,
            result.interval_ns / 1e9,
            now,
        )
        return [(g.group, g.points) for g in groups], None
    return [], (single_number(result.columns, result.rows),)
