"""The flows overview: every flow with its KPIs for a timeframe, the change against the one
before, and an hourly trend of started and completed flows (the home page and its JSON twin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# `_change` is the analysis page's own rule for a % change; the overview must not differ.
from flowscope.flows.analysis.kpis import _change as change_pct
from flowscope.flows.analysis.kpis import kpis, resolve
from flowscope.flows.correlation.builds import build_status
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
) -> dict[str, Any]:
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
    return {"bucket_s": bucket, "started": started, "completed": completed}


def flows_overview(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every flow with KPIs for `[start, end)` (default: the last 24 h) and the window before."""
    now = now or datetime.now(UTC)
    frame = window(start, end, now)
    start, end, previous = frame.start, frame.end, frame.previous()
    items = []
    for flow in list_flows(session):
        resolved = resolve(session, flow.slug)
        item: dict[str, Any] = {
            "slug": flow.slug,
            "name": flow.name,
            "description": resolved.definition.description,
            "steps": len(resolved.definition.steps),
            "revenue_label": (
                resolved.definition.revenue.label if resolved.definition.revenue else None
            ),
            "build": build_status(resolved.latest),
            "kpis": None,
            "trend": None,
        }
        if resolved.build is not None:
            current = kpis(session, resolved.build.id, start, end)
            before = kpis(session, resolved.build.id, previous.start, previous.end)
            item["kpis"] = {
                "current": current,
                "previous": before,
                "change_pct": {k: change_pct(current[k], before[k]) for k in current},
            }
            item["trend"] = trend(session, resolved.build.id, start, end)
        items.append(item)
    return {
        "window": {"from": start, "to": end},
        "previous_window": {"from": previous.start, "to": previous.end},
        "now": now,
        "flows": items,
    }
