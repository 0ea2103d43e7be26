"""Flow analysis: KPIs for a timeframe against the previous one, per step and per edge.

An instance belongs to a timeframe when it *started* in it (`from <= started_at < to`).
States are derived at `now` by `flowscope.flows.analysis.states`. Durations are last event − first
event of an instance; the duration KPIs use completed instances only.

Everything here is read from the rollups (`flowscope.flows.analysis.rollup_reads`): counts and
sums are exact, medians and p90s within 1 % (DDSketch buckets). `flowscope.flows.analysis.exact`
computes the same from the instance rows (the tests' oracle and the bench's baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from flowscope.flows.analysis.context import FlowContext
from flowscope.flows.analysis.rollup_reads import Figures, merge, read
from flowscope.flows.analysis.schemas import (
    EdgeFigures,
    FlowAnalysis,
    FlowRef,
    KpiChange,
    KpiComparison,
    Kpis,
    OutcomeChange,
    Outcomes,
    Settled,
    StateCounts,
    StepFigures,
    Window,
)
from flowscope.flows.analysis.sketch import percentile
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.timeframes import Timeframe, window

KPI_KINDS = ("started", "completed", "duration", "exception", "revenue")
PAGE_KINDS = (*KPI_KINDS, "open", "step", "step_exception", "step_completed", "edge", "delay")


def change(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return round((current - previous) / abs(previous) * 100, 2)


def compare(current: Kpis, previous: Kpis, settled: Settled | None = None) -> KpiComparison:
    """The KPIs of a timeframe, of the one before, and the change of each in %."""
    now, before = current.model_dump(), previous.model_dump()
    changes = KpiChange(**{key: change(now[key], before[key]) for key in now})
    return KpiComparison(current=current, previous=previous, change_pct=changes, settled=settled)


def settle_age(definition: FlowDefinition) -> timedelta | None:
    """How old a flow must be to have had its chance to finish: the longest drop timeout a
    step can apply (its own, else the flow's). Older and still open, it has dropped by then.
    None when no step ever drops."""
    default = definition.timeouts.drop
    drops = [
        (s.timeouts.drop if s.timeouts and s.timeouts.drop else default) for s in definition.steps
    ]
    found = [d for d in drops if d is not None]
    return max(found) if found else None


def _kpis(f: Figures) -> Kpis:
    started, completed = f.count("started"), f.count("completed")
    durations = f.sketch("duration")
    return Kpis(
        started=started,
        completed=completed,
        revenue=float(f.total("revenue")),
        exceptions=f.count("exception"),
        avg_duration_s=float(f.total("completed") / completed) if completed else None,
        median_duration_s=percentile(durations, 0.5),
        p90_duration_s=percentile(durations, 0.9),
        conversion=completed / started if started else None,
        exception_rate=f.count("exception") / started if started else None,
    )


def _outcomes(f: Figures) -> Outcomes:
    k = _kpis(f)
    return Outcomes(
        flows=k.started,
        completed=k.completed,
        conversion=k.conversion,
        avg_duration_s=k.avg_duration_s,
        median_duration_s=k.median_duration_s,
        p90_duration_s=k.p90_duration_s,
    )


class Pieces:
    """The timeframe, the one before, and both cut at `before` (the like-for-like rule):
    contiguous pieces read once, merged per timeframe."""

    def __init__(self, frame: Timeframe, before: datetime) -> None:
        previous = frame.previous()
        cuts = sorted({previous.start, frame.start, frame.end} | {before})
        cuts = [c for c in cuts if previous.start <= c <= frame.end]
        self.bounds = list(zip(cuts, cuts[1:], strict=False))
        self.frame, self.previous, self.before = frame, previous, before

    def within(self, start: datetime, end: datetime) -> list[int]:
        return [i for i, (lo, hi) in enumerate(self.bounds) if start <= lo and hi <= end]

    def comparison(self, parts: Sequence[Figures], age: timedelta | None) -> KpiComparison:
        def of(start: datetime, end: datetime) -> Figures:
            return merge(parts[i] for i in self.within(start, end))

        frame, previous, before = self.frame, self.previous, self.before
        current_out = _outcomes(of(frame.start, min(frame.end, before)))
        previous_out = _outcomes(of(previous.start, min(previous.end, before)))
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
        current = _kpis(of(frame.start, frame.end))
        return compare(current, _kpis(of(previous.start, previous.end)), fair)


def _read(
    session: Session,
    build_id: int,
    definition: FlowDefinition,
    frame: Timeframe,
    now: datetime,
    kinds: Sequence[str],
) -> tuple[KpiComparison, Figures]:
    age = settle_age(definition)
    pieces = Pieces(frame, now - age if age is not None else now)
    parts = read(session, build_id, pieces.bounds, now, kinds)
    current = merge(parts[i] for i in pieces.within(frame.start, frame.end))
    return pieces.comparison(parts, age), current


def comparison(
    session: Session, build_id: int, definition: FlowDefinition, frame: Timeframe, now: datetime
) -> KpiComparison:
    """The KPIs of the timeframe against the one before, and conversion and duration compared
    like with like: only flows old enough to have finished count, in both timeframes."""
    return _read(session, build_id, definition, frame, now, KPI_KINDS)[0]


def _states(f: Figures) -> StateCounts:
    counts = dict.fromkeys(("in_progress", "stalled", "dropped"), 0)
    for (kind, _, state), n in f.counts.items():
        if kind == "state":
            counts[state] += n
    return StateCounts(completed=f.count("completed"), **counts)


def steps(definition: FlowDefinition, f: Figures) -> list[StepFigures]:
    """Per step, in definition order: instances that reached it, and of those the ones that
    are at it and in progress / stalled / dropped, the ones with an exception there, and the
    completed ones."""
    return [
        StepFigures(
            key=s.key,
            name=s.name,
            optional=s.optional,
            reached=f.count("step", s.key),
            with_exception=f.count("step_exception", s.key),
            in_progress=f.count("state", s.key, "in_progress"),
            stalled=f.count("state", s.key, "stalled"),
            dropped=f.count("state", s.key, "dropped"),
            completed=f.count("step_completed", s.key),
        )
        for s in definition.steps
    ]


def edges(definition: FlowDefinition, f: Figures) -> list[EdgeFigures]:
    """Observed transitions between consecutive events: instances, count, delay median/p90."""
    declared = set(definition.effective_edges())
    found = []
    for _, source, target in f.keys("edge"):
        delays = f.sketch("delay", source, target)
        found.append(
            EdgeFigures(
                source=source,
                target=target,
                flows=f.count("edge", source, target),
                transitions=int(f.total("edge", source, target)),
                median_delay_s=percentile(delays, 0.5),
                p90_delay_s=percentile(delays, 0.9),
                declared=(source, target) in declared,
            )
        )
    return sorted(found, key=lambda e: (-e.flows, e.source, e.target))


def empty_analysis(flow: FlowContext, frame: Timeframe, now: datetime) -> FlowAnalysis:
    """The page's frame with no figures yet (all there is until the first build is ready)."""
    previous = frame.previous()
    return FlowAnalysis(
        flow=FlowRef(slug=flow.flow.slug, name=flow.flow.name),
        version=flow.build.version if flow.build else None,
        build=flow.status,
        results_as_of=flow.results_as_of,
        window=Window(from_=frame.start, to=frame.end),
        previous_window=Window(from_=previous.start, to=previous.end),
        now=now,
        kpis=None,
        states=None,
        steps=[],
        edges=[],
    )


def flow_analysis(
    session: Session,
    flow: FlowContext,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> FlowAnalysis:
    """Everything the flow page shows for a timeframe, and the KPIs of the one before it."""
    now = now or datetime.now(UTC)
    frame = window(start, end, now)
    result = empty_analysis(flow, frame, now)
    if flow.build is None:
        return result
    kpis, current = _read(session, flow.build.id, flow.definition, frame, now, PAGE_KINDS)
    result.kpis = kpis
    result.states = _states(current)
    result.steps = steps(flow.definition, current)
    result.edges = edges(flow.definition, current)
    return result
