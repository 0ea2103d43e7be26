"""The flow page's figures computed from the instance rows, as before the rollups.

Kept as the oracle the rollups are tested against (tests/flows/analysis/test_rollups*.py) and
as the baseline `bench/flow_page.py` measures them against: the same results (percentiles
exact here, within 1 % from the rollups), at a cost that grows with the flows of the window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.flows.analysis.context import FlowContext
from flowscope.flows.analysis.kpis import change, compare, empty_analysis, settle_age
from flowscope.flows.analysis.schemas import (
    EdgeFigures,
    FlowAnalysis,
    KpiComparison,
    Kpis,
    OutcomeChange,
    Outcomes,
    Settled,
    StateCounts,
    StepFigures,
)
from flowscope.flows.analysis.states import state_sql, state_where
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.timeframes import Timeframe, window

# One scan of a window's instances gives its KPIs and, over the instances that started before
# `:before` (old enough to have finished, see `settle_age`), the like-for-like outcomes.
_WINDOW = """
select count(*) as started,
       count(*) filter (where i.completed_at is not null) as completed,
       coalesce(sum(i.revenue), 0)::float8 as revenue,
       count(*) filter (where i.has_exception) as exceptions,
       avg(i.duration_s) filter (where i.completed_at is not null) as avg_duration_s,
       percentile_cont(0.5) within group (order by i.duration_s)
         filter (where i.completed_at is not null) as median_duration_s,
       percentile_cont(0.9) within group (order by i.duration_s)
         filter (where i.completed_at is not null) as p90_duration_s,
       count(*) filter (where i.started_at < :before) as settled_flows,
       count(*) filter (where i.started_at < :before and i.completed_at is not null)
         as settled_completed,
       avg(i.duration_s) filter (where i.started_at < :before and i.completed_at is not null)
         as settled_avg_duration_s,
       percentile_cont(0.5) within group (order by i.duration_s)
         filter (where i.started_at < :before and i.completed_at is not null)
         as settled_median_duration_s,
       percentile_cont(0.9) within group (order by i.duration_s)
         filter (where i.started_at < :before and i.completed_at is not null)
         as settled_p90_duration_s
from flow_instances i
where i.build_id = :b and i.started_at >= :start and i.started_at < :end
"""


def _window(
    session: Session, build_id: int, start: datetime, end: datetime, before: datetime
) -> tuple[Kpis, Outcomes]:
    """Revenue, conversion (completed / started), business exceptions and flow durations of
    the instances that started in `[start, end)`; and conversion and durations of those of
    them that started before `before`."""
    params = {"b": build_id, "start": start, "end": end, "before": before}
    row = dict(session.execute(text(_WINDOW), params).mappings().one())
    settled = {
        k.removeprefix("settled_"): row.pop(k) for k in list(row) if k.startswith("settled_")
    }
    started, flows = int(row["started"]), int(settled["flows"])
    figures = Kpis(
        **row,
        conversion=row["completed"] / started if started else None,
        exception_rate=row["exceptions"] / started if started else None,
    )
    outcomes = Outcomes(**settled, conversion=settled["completed"] / flows if flows else None)
    return figures, outcomes


def comparison(
    session: Session, build_id: int, definition: FlowDefinition, frame: Timeframe, now: datetime
) -> KpiComparison:
    """`kpis.comparison` from the instance rows."""
    age = settle_age(definition)
    before = now - age if age is not None else now
    previous = frame.previous()
    current, current_out = _window(session, build_id, frame.start, frame.end, before)
    earlier, previous_out = _window(session, build_id, previous.start, previous.end, before)
    fair = Settled(
        age_s=age.total_seconds() if age is not None else None,
        started_before=before,
        current=current_out,
        previous=previous_out,
        change_pct=OutcomeChange(
            conversion=change(current_out.conversion, previous_out.conversion),
            avg_duration_s=change(current_out.avg_duration_s, previous_out.avg_duration_s),
        ),
    )
    return compare(current, earlier, fair)


def _states(
    session: Session, build_id: int, start: datetime, end: datetime, now: datetime
) -> StateCounts:
    rows = session.execute(
        text(
            f"select {state_sql('i')} as state, count(*) from flow_instances i "  # noqa: S608
            "where i.build_id = :b and i.started_at >= :start and i.started_at < :end group by 1"
        ),
        {"b": build_id, "start": start, "end": end, "now": now},
    ).all()
    counts = dict.fromkeys(("completed", "in_progress", "stalled", "dropped"), 0)
    counts.update({state: int(n) for state, n in rows})
    return StateCounts(**counts)


# The instances of the timeframe come from the covering (build_id, started_at) index, and the
# step rows from their own copy of started_at: no scan of all steps of the build (0007).
_STEPS = f"""
with i as materialized (
  select i.correlation_id, i.current_step, i.completed_at, i.stall_at, i.drop_at
  from flow_instances i
  where i.build_id = :b and i.started_at >= :start and i.started_at < :end
)
select s.step,
       count(*) as reached,
       count(*) filter (where s.exception is not null) as with_exception,
       count(*) filter (where i.current_step = s.step and {state_where("in_progress")})
         as in_progress,
       count(*) filter (where i.current_step = s.step and {state_where("stalled")}) as stalled,
       count(*) filter (where i.current_step = s.step and {state_where("dropped")}) as dropped,
       count(*) filter (where i.completed_at is not null) as completed
from flow_instance_steps s
join i on i.correlation_id = s.correlation_id
where s.build_id = :b and s.started_at >= :start and s.started_at < :end
group by s.step
"""  # noqa: S608 - the state fragments are constants

_EDGES = """
select t.source, t.target,
       count(distinct t.correlation_id) as flows,
       count(*) as transitions,
       percentile_cont(0.5) within group (order by t.delay_s) as median_delay_s,
       percentile_cont(0.9) within group (order by t.delay_s) as p90_delay_s
from flow_transitions t
where t.build_id = :b and t.started_at >= :start and t.started_at < :end
group by t.source, t.target
order by flows desc, t.source, t.target
"""


def steps(
    session: Session,
    build_id: int,
    definition: FlowDefinition,
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[StepFigures]:
    """Per step, in definition order: instances that reached it, and of those the ones that
    are at it and in progress / stalled / dropped, the ones with an exception there, and the
    completed ones."""
    params = {"b": build_id, "start": start, "end": end, "now": now}
    found = {
        r["step"]: {k: v for k, v in r.items() if k != "step"}
        for r in session.execute(text(_STEPS), params).mappings()
    }
    zero = dict.fromkeys(
        ("reached", "with_exception", "in_progress", "stalled", "dropped", "completed"), 0
    )
    return [
        StepFigures(key=s.key, name=s.name, optional=s.optional, **(zero | found.get(s.key, {})))
        for s in definition.steps
    ]


def edges(
    session: Session, build_id: int, definition: FlowDefinition, start: datetime, end: datetime
) -> list[EdgeFigures]:
    """Observed transitions between consecutive events: instances, count, delay median/p90."""
    declared = set(definition.effective_edges())
    rows = session.execute(text(_EDGES), {"b": build_id, "start": start, "end": end}).mappings()
    return [EdgeFigures(**r, declared=(r["source"], r["target"]) in declared) for r in rows]


def flow_analysis(
    session: Session,
    flow: FlowContext,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime,
) -> FlowAnalysis:
    """`kpis.flow_analysis` from the instance rows."""
    frame = window(start, end, now)
    result = empty_analysis(flow, frame, now)
    if flow.build is None:
        return result
    build_id = flow.build.id
    result.kpis = comparison(session, build_id, flow.definition, frame, now)
    result.states = _states(session, build_id, frame.start, frame.end, now)
    result.steps = steps(session, build_id, flow.definition, frame.start, frame.end, now)
    result.edges = edges(session, build_id, flow.definition, frame.start, frame.end)
    return result
