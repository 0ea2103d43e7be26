"""Preview / backtest: a rule's source over the last 7 days, the threshold or band the
analyzer would have used at each sample, and where the rule would have opened and resolved
alerts (the same `analyzers.transitions` the evaluator's decisions follow).

Bounded: at most `MAX_POINTS` samples (7 days at the default 60 s interval; shorter intervals
preview the last 10,080 of them) and `MAX_GROUPS` groups of a query with `by:`. The analyzer
sees the history it needs before that window (the adaptive window, the seasonal weeks), so
the first previewed samples are judged as the evaluator would judge them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.alerts.analyzers import Change, Judged, Point, suggest_static, transitions
from flowscope.alerts.evaluator import history_needed, judge, threshold_text, window_of
from flowscope.alerts.schemas import KpiSource, RuleIn
from flowscope.alerts.series import SETTLED, align, flow_series
from flowscope.alerts.sources import query_groups
from flowscope.errors import NotFound
from flowscope.flows.analysis.context import load_flow_context
from flowscope.flows.analysis.kpis import settle_age
from flowscope.flows.definitions.models import Flow

DAYS = 7
MAX_POINTS = 10_080
MAX_GROUPS = 10


@dataclass(frozen=True)
class GroupPreview:
    group: dict[str, str]
    points: list[Judged]
    changes: list[Change]

    @property
    def opened(self) -> int:
        return sum(1 for c in self.changes if c.change == "opened")

    @property
    def resolved(self) -> int:
        return sum(1 for c in self.changes if c.change == "resolved")


@dataclass(frozen=True)
class Preview:
    start: datetime
    end: datetime
    interval_s: int
    threshold: str
    groups: list[GroupPreview]
    notes: list[str] = field(default_factory=list)

    @property
    def opened(self) -> int:
        return sum(g.opened for g in self.groups)

    @property
    def resolved(self) -> int:
        return sum(g.resolved for g in self.groups)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "interval_seconds": self.interval_s,
            "threshold": self.threshold,
            "opened": self.opened,
            "resolved": self.resolved,
            "notes": self.notes,
            "groups": [
                {
                    "group": g.group,
                    "opened": g.opened,
                    "resolved": g.resolved,
                    "changes": [{"change": c.change, "at": c.at.isoformat()} for c in g.changes],
                    "points": [
                        {
                            "at": p.at.isoformat(),
                            "value": p.value,
                            "violating": p.violating,
                            "lower": p.lower,
                            "upper": p.upper,
                        }
                        for p in g.points
                    ],
                }
                for g in self.groups
            ],
        }


def window_start(rule: RuleIn, now: datetime) -> datetime:
    span = min(timedelta(days=DAYS), timedelta(seconds=rule.interval_seconds) * MAX_POINTS)
    return align(now - span, rule.interval_seconds)


def source_points(
    session: Session, rule: RuleIn, start: datetime, now: datetime
) -> tuple[list[tuple[dict[str, str], list[Point]]], list[str]]:
    """The rule's source from `start` (with the analyzer's history before it) to `now`."""
    notes: list[str] = []
    back = start - history_needed(rule)
    source = rule.source
    if isinstance(source, KpiSource):
        flow = session.scalar(select(Flow).where(Flow.slug == source.flow))
        if flow is None:
            raise NotFound(f"no flow has the slug {source.flow!r}")
        context = load_flow_context(session, flow)
        settled = source.step is None and source.kpi in SETTLED
        age = settle_age(context.definition) if settled else None
        if age is not None:
            hours = age.total_seconds() / 3600
            notes.append(
                f"{source.kpi} counts flows once they are old enough to have finished: "
                f"its newest sample is {hours:g} h old (the longest drop timeout)"
            )
        if context.build is None:
            notes.append("the flow has no correlated flows yet")
        series = flow_series(session, context, rule.interval_seconds, back, now)
        return [({}, series.series(source.kpi, source.step))], notes
    groups, single = query_groups(session, source.query, back, now)
    if single is not None:
        notes.append(
            "the query gives one number, not a time series: only its current value can be "
            "shown; end it with makeTimeseries to backtest it"
        )
        at = align(now, rule.interval_seconds) - timedelta(seconds=rule.interval_seconds)
        return [({}, [Point(at, single[0])])], notes
    if len(groups) > MAX_GROUPS:
        notes.append(f"showing {MAX_GROUPS} of {len(groups)} groups")
    return groups[:MAX_GROUPS], notes


def preview(session: Session, rule: RuleIn, now: datetime | None = None) -> Preview:
    now = now or datetime.now(UTC)
    start = window_start(rule, now)
    groups, notes = source_points(session, rule, start, now)
    out = []
    for group, points in groups:
        judged = judge(rule, points)
        shown = [j for j in judged if j.at >= start]
        out.append(GroupPreview(group, shown, transitions(shown, window_of(rule))))
    last = next((g.points[-1] for g in out if g.points), None)
    return Preview(start, now, rule.interval_seconds, threshold_text(rule, last), out, notes)


def suggest(session: Session, rule: RuleIn, now: datetime | None = None) -> dict[str, Any]:
    """Suggest values for a static threshold from the last 7 days of the source."""
    now = now or datetime.now(UTC)
    below = getattr(rule.analyzer, "condition", "above") == "below"
    start = window_start(rule, now)
    groups, _ = source_points(session, rule, start, now)
    points = [p for _, series in groups for p in series if p.at >= start]
    found = suggest_static(points, "below" if below else "above")
    if found is None:
        return {"threshold": None, "statistic": None, "samples": 0}
    samples = sum(1 for p in points if p.value is not None)
    return {"threshold": found.threshold, "statistic": found.statistic, "samples": samples}
