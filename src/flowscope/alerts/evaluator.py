"""Evaluating rules: their source's recent samples, the analyzer, and alerts opened or resolved.

A rule is due when `next_due_at` has passed; after an evaluation it is due at the start of
its next interval. The due rules are locked (`skip locked`: two evaluators never judge the
same rule at once) and rules on the same flow and interval share one series query. Each
rule is judged in a savepoint: a rule whose query fails records the error and the others go
on. The hooks are called in the same transaction that changes the alert.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from flowscope.alerts import analyzers
from flowscope.alerts.analyzers import Judged, Point, Window
from flowscope.alerts.models import Alert, AlertRule
from flowscope.alerts.schemas import (
    AdaptiveAnalyzer,
    KpiSource,
    MissingDataAnalyzer,
    QuerySource,
    RuleIn,
    SeasonalAnalyzer,
    StaticAnalyzer,
)
from flowscope.alerts.series import SETTLED, FlowSeries, align, flow_series
from flowscope.alerts.service import muted_rules
from flowscope.alerts.sources import query_groups
from flowscope.alerts.transitions import AlertHook, AlertSample, AlertTransition
from flowscope.errors import FlowscopeError
from flowscope.flows.analysis.context import load_flow_context
from flowscope.flows.analysis.kpis import settle_age
from flowscope.flows.definitions.models import Flow

log = logging.getLogger(__name__)

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7)}


def window_of(rule: RuleIn) -> Window:
    s = rule.samples
    if isinstance(rule.analyzer, MissingDataAnalyzer):
        n = rule.analyzer.intervals
        return Window(violating=n, of=n, dealerting=s.dealerting)
    return Window(s.violating, s.of, s.dealerting)


def history_needed(rule: RuleIn) -> timedelta:
    """How far back the analyzer looks from the newest sample, window included."""
    interval = timedelta(seconds=rule.interval_seconds)
    w = window_of(rule)
    recent = interval * (max(w.of, w.dealerting) + 1)
    a = rule.analyzer
    if isinstance(a, AdaptiveAnalyzer):
        return recent + interval * a.window
    if isinstance(a, SeasonalAnalyzer):
        return recent + PERIODS[a.period] * a.seasons
    return recent


def judge(rule: RuleIn, points: Sequence[Point], tail: int | None = None) -> list[Judged]:
    """The analyzer's judgement of `points`, or of only their last `tail` (the ones before
    are then history: baselines still see them)."""
    start = max(0, len(points) - tail) if tail is not None else 0
    a = rule.analyzer
    if isinstance(a, StaticAnalyzer):
        return analyzers.static(points[start:], a.condition, a.threshold)
    if isinstance(a, AdaptiveAnalyzer):
        return analyzers.adaptive(points, a.condition, a.window, a.n, start)
    if isinstance(a, SeasonalAnalyzer):
        return analyzers.seasonal(
            points, a.condition, PERIODS[a.period], a.seasons, a.tolerance, a.min_band, start
        )
    return analyzers.missing_data(points[start:])


def recent_needed(rule: RuleIn) -> int:
    """How many of the newest samples the sliding window looks at."""
    w = window_of(rule)
    return max(w.of, w.dealerting)


def _num(value: float) -> str:
    return f"{value:.4g}"


def threshold_text(rule: RuleIn, judged: Judged | None) -> str:
    a = rule.analyzer
    if isinstance(a, StaticAnalyzer):
        return f"{a.condition} {_num(a.threshold)}"
    if isinstance(a, MissingDataAnalyzer):
        return f"no data for {a.intervals} intervals"
    kind = "adaptive" if isinstance(a, AdaptiveAnalyzer) else "seasonal"
    if judged is None or (judged.lower is None and judged.upper is None):
        return f"{kind}: no baseline yet"
    if judged.lower is not None and judged.upper is not None:
        return f"{kind}: outside {_num(judged.lower)}–{_num(judged.upper)}"
    if judged.upper is not None:
        return f"{kind}: above {_num(judged.upper)}"
    return f"{kind}: below {_num(judged.lower or 0.0)}"


@dataclass
class TickReport:
    evaluated: int = 0
    opened: int = 0
    resolved: int = 0
    muted: int = 0  # openings a silence held back
    errors: int = 0
    series_queries: int = 0
    changes: list[AlertTransition] = field(default_factory=list)


def _samples(judged: Sequence[Judged], n: int) -> list[dict[str, object]]:
    return [
        {"at": j.at.isoformat(), "value": j.value, "violating": j.violating} for j in judged[-n:]
    ]


def _group_key(group: dict[str, str]) -> str:
    return json.dumps(group, sort_keys=True, separators=(",", ":")) if group else ""


def _links(row: AlertRule, rule: RuleIn, start: datetime, now: datetime) -> dict[str, str | None]:
    flow_url = notebook_url = None
    if isinstance(rule.source, KpiSource):
        frame = {
            "range": "custom",
            "from": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
            "to": (now + timedelta(minutes=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
        }
        flow_url = f"/flows/{rule.source.flow}?{urlencode(frame)}"
    elif isinstance(rule.source, QuerySource):
        notebook_url = "/query?" + urlencode({"q": rule.source.query, "from": "-24h"})
    return {"flow_url": flow_url, "notebook_url": notebook_url}


Latest = dict[tuple[int, str], Alert]


@dataclass
class _Tick:
    """What every rule of one evaluation shares."""

    session: Session
    now: datetime
    hooks: Sequence[AlertHook]
    report: TickReport
    everything_muted: bool
    muted: set[int]
    latest: Latest  # the newest alert of each (rule, group key), read once per tick


def _latest_alerts(session: Session, rule_ids: Sequence[int]) -> Latest:
    rows = session.scalars(
        select(Alert)
        .where(Alert.rule_id.in_(rule_ids))
        .ext(distinct_on(Alert.rule_id, Alert.group_key))
        .order_by(Alert.rule_id, Alert.group_key, Alert.id.desc())
    )
    return {(a.rule_id, a.group_key): a for a in rows}


def apply_judgement(
    tick: _Tick, row: AlertRule, rule: RuleIn, group: dict[str, str], judged: Sequence[Judged]
) -> None:
    """Open or resolve the rule's alert for `group` from its judged samples (newest last).
    Writes only when the state changes, in a savepoint with the hooks: a failing hook takes
    the change back with it."""
    key = _group_key(group)
    latest = tick.latest.get((row.id, key))
    current = latest if latest is not None and latest.state == "open" else None
    if current is None and latest is not None:
        judged = [j for j in judged if j.at > latest.sample_at]
    if not judged:
        return
    window = window_of(rule)
    now_open = analyzers.step(current is not None, [j.violating for j in judged], window)
    session, now, report = tick.session, tick.now, tick.report
    if current is None and now_open:
        if tick.everything_muted or row.id in tick.muted:
            report.muted += 1
            return
        with session.begin_nested():
            alert = Alert(
                rule_id=row.id,
                group_key=key,
                group=group,
                state="open",
                severity=row.severity,
                threshold=threshold_text(rule, judged[-1]),
                samples=_samples(judged, window.of),
                started_at=now,
                sample_at=judged[-1].at,
            )
            session.add(alert)
            session.flush()
            _notify(tick, "opened", alert, row, rule, judged[-window.of :])
        tick.latest[(row.id, key)] = alert
        report.opened += 1
    elif current is not None and not now_open:
        with session.begin_nested():
            current.state = "resolved"
            current.ended_at = now
            current.sample_at = judged[-1].at
            session.flush()
            _notify(tick, "resolved", current, row, rule, judged[-window.dealerting :])
        report.resolved += 1


def _notify(
    tick: _Tick,
    change: str,
    alert: Alert,
    row: AlertRule,
    rule: RuleIn,
    judged: Sequence[Judged],
) -> None:
    now = tick.now
    source = rule.source
    transition = AlertTransition(
        change="opened" if change == "opened" else "resolved",
        alert_id=alert.id,
        rule_id=row.id,
        rule_name=row.name,
        severity=rule.severity,
        at=now,
        started_at=alert.started_at,
        flow=source.flow if isinstance(source, KpiSource) else None,
        kpi=source.kpi if isinstance(source, KpiSource) else None,
        group=dict(alert.group),
        threshold=alert.threshold,
        samples=tuple(AlertSample(j.at, j.value, j.violating) for j in judged),
        url=f"/alerts/{alert.id}",
        **_links(row, rule, judged[0].at if judged else now, now),
    )
    for hook in tick.hooks:
        hook(tick.session, transition)
    tick.report.changes.append(transition)


def _query_points(
    session: Session, row: AlertRule, rule: RuleIn, start: datetime, now: datetime
) -> list[tuple[dict[str, str], list[Point]]]:
    assert isinstance(rule.source, QuerySource)  # noqa: S101 - the caller dispatched on it
    groups, single = query_groups(session, rule.source.query, start, now)
    if single is None:
        return groups
    # One number: remembered per interval, since the past cannot be asked again.
    at = align(now, rule.interval_seconds) - timedelta(seconds=rule.interval_seconds)
    recent = [(datetime.fromisoformat(t), v) for t, v in row.recent if t != at.isoformat()]
    recent.append((at, single[0]))
    keep = max(window_of(rule).of, window_of(rule).dealerting) + 1
    recent = recent[-keep:]
    row.recent = [[t.isoformat(), v] for t, v in recent]
    return [({}, [Point(t, v) for t, v in recent])]


def evaluate_due(
    session: Session,
    hooks: Sequence[AlertHook],
    now: datetime | None = None,
    *,
    rule_ids: Sequence[int] | None = None,
) -> TickReport:
    """Evaluate the rules that are due (or `rule_ids`, due or not) at `now`."""
    now = now or datetime.now(UTC)
    query = select(AlertRule).where(AlertRule.enabled).order_by(AlertRule.id)
    if rule_ids is None:
        query = query.where(AlertRule.next_due_at <= now)
    else:
        query = query.where(AlertRule.id.in_(rule_ids))
    rows = session.scalars(query.with_for_update(skip_locked=True)).all()
    report = TickReport()
    if not rows:
        return report
    everything_muted, muted = muted_rules(session, now)
    parsed: dict[int, RuleIn | None] = {row.id: _parsed(row) for row in rows}
    series = _shared_series(session, rows, parsed, now, report)
    latest = _latest_alerts(session, [row.id for row in rows])
    tick = _Tick(session, now, hooks, report, everything_muted, muted, latest)
    for row in rows:
        rule = parsed[row.id]
        if rule is None:
            report.errors += 1
            row.last_error = "the stored rule is not valid any more: edit and save it again"
            row.next_due_at = align(now, row.interval_seconds) + timedelta(
                seconds=row.interval_seconds
            )
            continue
        # No savepoint per rule: reading needs none (a query rule's FQL runs in its own), and
        # the writes of a change have theirs (`apply_judgement`).
        try:
            _evaluate(tick, row, rule, series)
            row.last_error = None
        except FlowscopeError as exc:
            report.errors += 1
            row.last_error = exc.message[:2000]
        except Exception as exc:
            log.exception("alert rule evaluation failed", extra={"rule": row.id})
            report.errors += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        report.evaluated += 1
        row.evaluated_at = now
        step = timedelta(seconds=row.interval_seconds)
        row.next_due_at = align(now, row.interval_seconds) + step
    return report


def _evaluate(
    tick: _Tick,
    row: AlertRule,
    rule: RuleIn,
    series: dict[tuple[str, int], FlowSeries | None],
) -> None:
    source = rule.source
    if isinstance(source, KpiSource):
        flow_data = series.get((source.flow, rule.interval_seconds))
        if flow_data is None:
            raise FlowscopeError(f"the flow {source.flow!r} no longer exists")
        points = flow_data.series(source.kpi, source.step, span=history_needed(rule))
        groups: list[tuple[dict[str, str], list[Point]]] = [({}, points)]
    else:
        start = tick.now - history_needed(rule)
        groups = _query_points(tick.session, row, rule, start, tick.now)
    for group, points in groups:
        judged = judge(rule, points, tail=recent_needed(rule))
        apply_judgement(tick, row, rule, group, judged)


def _parsed(row: AlertRule) -> RuleIn | None:
    try:
        return RuleIn.model_validate(row.spec)
    except ValueError:  # pydantic's ValidationError: a rule stored by an older version
        log.exception("stored alert rule is invalid", extra={"rule": row.id})
        return None


def _shared_series(
    session: Session,
    rows: Sequence[AlertRule],
    parsed: dict[int, RuleIn | None],
    now: datetime,
    report: TickReport,
) -> dict[tuple[str, int], FlowSeries | None]:
    """One series query per (flow, interval), reaching back as far as its rules need."""
    needs: dict[tuple[str, int], timedelta] = {}
    settled: dict[tuple[str, int], bool] = {}
    for row in rows:
        rule = parsed[row.id]
        if rule is not None and isinstance(rule.source, KpiSource):
            key = (rule.source.flow, rule.interval_seconds)
            needs[key] = max(needs.get(key, timedelta(0)), history_needed(rule))
            lagging = rule.source.step is None and rule.source.kpi in SETTLED
            settled[key] = settled.get(key, False) or lagging
    out: dict[tuple[str, int], FlowSeries | None] = {}
    slugs = {slug for slug, _ in needs}
    flows = {f.slug: f for f in session.scalars(select(Flow).where(Flow.slug.in_(slugs)))}
    contexts = {slug: load_flow_context(session, flow) for slug, flow in flows.items()}
    for (slug, interval_s), back in needs.items():
        context = contexts.get(slug)
        if context is None:
            out[(slug, interval_s)] = None
            continue
        age = settle_age(context.definition) if settled[(slug, interval_s)] else None
        start = now - back - (age or timedelta(0))
        out[(slug, interval_s)] = flow_series(session, context, interval_s, start, now)
        report.series_queries += 1
    return out
