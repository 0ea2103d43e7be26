"""One instance of a flow: its summary and its events in time order, with the gaps between
them and the longest one (where the flow waited most)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.errors import NotFound
from flowscope.flows.analysis.context import FlowContext
from flowscope.flows.analysis.schemas import InstanceSummary, Timeline, TimelineEvent
from flowscope.flows.analysis.statements import timeline_rows
from flowscope.flows.analysis.states import state_sql

_INSTANCE = f"""
select i.correlation_id, i.started_at, i.last_event_at, i.duration_s, i.event_count,
       i.current_step, i.completed_at, i.stall_at, i.drop_at, i.has_exception, i.exception_step,
       i.exception_name, i.properties, i.revenue::float8 as revenue, i.variant,
       {state_sql("i")} as state
from flow_instances i
-- the build as a value the planner does not know (see `correlation.statements.BUILD`): a
-- build younger than the last ANALYZE was read through the (build_id, started_at) index
where i.build_id = (select cast(:b as int8)) and i.correlation_id = :c
"""  # noqa: S608 - the state fragment is a constant


def timeline(
    session: Session, flow: FlowContext, correlation_id: str, *, now: datetime | None = None
) -> Timeline:
    """One instance: its events in time order with the gap to the previous one, and which
    gap is the longest (where the flow waited most)."""
    now = now or datetime.now(UTC)
    build = flow.build
    if build is None:
        raise NotFound(f"flow {flow.slug!r} is still being built; try again shortly")
    instance = (
        session.execute(text(_INSTANCE), {"b": build.id, "c": correlation_id, "now": now})
        .mappings()
        .one_or_none()
    )
    if instance is None:
        raise NotFound(f"flow {flow.slug!r} has no instance with correlation id {correlation_id!r}")
    names = {s.key: s.name for s in flow.definition.steps}
    events: list[TimelineEvent] = []
    previous: datetime | None = None
    longest: int | None = None
    longest_delta = 0.0
    rows = timeline_rows(session, build.id, correlation_id)
    for n, row in enumerate(rows):
        delta = (row["timestamp"] - previous).total_seconds() if previous else None
        if delta is not None and (longest is None or delta > longest_delta):
            longest, longest_delta = n, delta
        events.append(
            TimelineEvent(**row, delta_s=delta, step_name=names.get(row["step"], row["step"]))
        )
        previous = row["timestamp"]
    return Timeline(instance=InstanceSummary(**instance), events=events, longest_gap_index=longest)
