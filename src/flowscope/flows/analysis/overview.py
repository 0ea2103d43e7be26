"""The flows overview: every flow with its KPIs for a timeframe, the change against the one
before, and an hourly trend of started and completed flows (the home page and its JSON twin).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.flows.analysis.context import load_flow_context
from flowscope.flows.analysis.kpis import comparison
from flowscope.flows.analysis.schemas import FlowOverview, FlowsOverview, Trend, Window
from flowscope.flows.definitions.service import list_flows
from flowscope.timeframes import window

# Instances per hour bucket of their start, and of those the completed ones: the same cohort
# rule as the KPIs (an instance belongs to the bucket it started in), so the trend's sums
# equal the KPI counts. Uses the (build_id, started_at) index.
_TREND = """
select floor(extract(epoch from i.started_at - :start) / :bucket)::int as slot,
       count(*) as started,
       count(*) filter (where i.completed_at is not null) as completed
from flow_instances i
where i.build_id = :b and i.started_at >= :start and i.started_at < :end
group by 1
"""


def trend(
    session: Session, build_id: int, start: datetime, end: datetime, buckets: int = 24
) -> Trend:
    """Started and completed instances in `buckets` equal slices of `[start, end)`."""
    bucket = (end - start).total_seconds() / buckets
    started = [0] * buckets
    completed = [0] * buckets
    rows = session.execute(
        text(_TREND), {"b": build_id, "start": start, "end": end, "bucket": bucket}
    )
    for slot, s, c in rows:
        index = min(max(int(slot), 0), buckets - 1)
        started[index] += int(s)
        completed[index] += int(c)
    return Trend(bucket_s=bucket, started=started, completed=completed)


def flows_overview(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> FlowsOverview:
    """Every flow with KPIs for `[start, end)` (default: the last 24 h) and the window before."""
    now = now or datetime.now(UTC)
    frame = window(start, end, now)
    start, end, previous = frame.start, frame.end, frame.previous()
    items = []
    for flow in list_flows(session):
        context = load_flow_context(session, flow)
        definition, build = context.definition, context.build
        item = FlowOverview(
            slug=flow.slug,
            name=flow.name,
            description=definition.description,
            steps=len(definition.steps),
            revenue_label=definition.revenue.label if definition.revenue else None,
            revenue_currency=definition.revenue.currency if definition.revenue else None,
            build=context.status,
            results_as_of=context.results_as_of,
            kpis=None,
            trend=None,
        )
        if build is not None:
            # The flow page's own comparison: the two must never differ.
            item.kpis = comparison(session, build.id, definition, frame, now)
            item.trend = trend(session, build.id, start, end)
        items.append(item)
    return FlowsOverview(
        window=Window(from_=start, to=end),
        previous_window=Window(from_=previous.start, to=previous.end),
        now=now,
        flows=items,
    )
