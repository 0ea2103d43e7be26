"""Alert rules, alerts and silences: create, change, list. Takes a session, never commits;
every change is written to the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from flowscope.alerts.models import Alert, AlertRule, Silence
from flowscope.alerts.schemas import ANALYZER_TYPES, KpiSource, QuerySource, RuleIn, SilenceIn
from flowscope.audit import service as audit
from flowscope.errors import FlowscopeError, NotFound
from flowscope.flows.definitions.models import Flow
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.yaml_io import problems_of
from flowscope.query.errors import QueryError
from flowscope.query.service import compile_text

MAX_ALERTS = 500


class InvalidRule(FlowscopeError):
    """A rule that parses but cannot work (unknown flow or step, bad query, interval below
    the minimum): 422 naming the field, like a schema error."""

    status_code = 422
    code = "invalid_rule"

    def __init__(self, field: str, message: str, more: Sequence[dict[str, str]] = ()) -> None:
        problems = [{"field": field, "message": message}, *more]
        super().__init__(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems), details=problems
        )


# The union members pydantic names in a location (`analyzer.static.threshold`): not fields.
_TAGS = ("source.kpi", "source.query", *(f"analyzer.{t}" for t in ANALYZER_TYPES))


def _field(path: str) -> str:
    for tag in _TAGS:
        if path == tag:
            return tag.partition(".")[0]
        if path.startswith(tag + "."):
            return tag.partition(".")[0] + path[len(tag) :]
    return path


def _invalid(exc: ValidationError, what: str) -> InvalidRule:
    problems = [
        {"field": _field(p["path"]) or what, "message": p["message"]} for p in problems_of(exc)
    ]
    return InvalidRule(problems[0]["field"], problems[0]["message"], problems[1:])


def parse_rule(data: Any) -> RuleIn:
    """A rule from plain data (JSON, YAML, a form): every schema problem, each naming its
    field (`analyzer.treshold: is not a known field`)."""
    if not isinstance(data, dict):
        raise InvalidRule("rule", "an alert rule is a mapping (name, source, analyzer…)")
    try:
        return RuleIn.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "rule") from None


def check_rule(session: Session, rule: RuleIn, min_interval_s: int) -> None:
    """What the schema cannot know: the flow and step exist, the query compiles, the
    interval is not below the configured minimum."""
    if rule.interval_seconds < min_interval_s:
        raise InvalidRule(
            "interval_seconds", f"must be at least {min_interval_s} (the configured minimum)"
        )
    source = rule.source
    if isinstance(source, KpiSource):
        flow = session.scalar(select(Flow).where(Flow.slug == source.flow))
        if flow is None:
            raise InvalidRule("source.flow", f"no flow has the slug {source.flow!r}")
        if source.step is not None:
            steps = [s.key for s in FlowDefinition.model_validate(flow.definition).steps]
            if source.step not in steps:
                raise InvalidRule(
                    "source.step", f"the flow {source.flow!r} has no step {source.step!r}"
                )
    elif isinstance(source, QuerySource):
        try:
            compile_text(source.query)
        except QueryError as exc:
            raise InvalidRule("source.query", str(exc)) from None


def _apply(row: AlertRule, rule: RuleIn, by: str, now: datetime) -> None:
    row.name = rule.name
    row.severity = rule.severity
    row.spec = rule.model_dump(mode="json")
    source = rule.source
    row.flow_slug = source.flow if isinstance(source, KpiSource) else None
    row.kpi = source.kpi if isinstance(source, KpiSource) else None
    row.step = source.step if isinstance(source, KpiSource) else None
    row.interval_seconds = rule.interval_seconds
    row.enabled = rule.enabled
    row.next_due_at = now  # evaluated at the next tick with its new definition
    row.recent = []
    row.last_error = None
    row.updated_at = now
    row.updated_by = by[:128]


def create_rule(
    session: Session, rule: RuleIn, by: str, min_interval_s: int, now: datetime | None = None
) -> AlertRule:
    check_rule(session, rule, min_interval_s)
    row = AlertRule()
    _apply(row, rule, by, now or datetime.now(UTC))
    session.add(row)
    session.flush()
    audit.record(session, "alert_rule.create", f"alert_rule:{row.id}", {"name": rule.name}, by=by)
    return row


def get_rule(session: Session, rule_id: int, *, for_update: bool = False) -> AlertRule:
    query = select(AlertRule).where(AlertRule.id == rule_id)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound(f"no alert rule has the id {rule_id}")
    return row


def rule_of(row: AlertRule) -> RuleIn:
    return RuleIn.model_validate(row.spec)


def update_rule(
    session: Session,
    rule_id: int,
    rule: RuleIn,
    by: str,
    min_interval_s: int,
    now: datetime | None = None,
) -> AlertRule:
    check_rule(session, rule, min_interval_s)
    row = get_rule(session, rule_id, for_update=True)
    _apply(row, rule, by, now or datetime.now(UTC))
    audit.record(session, "alert_rule.update", f"alert_rule:{row.id}", {"name": rule.name}, by=by)
    return row


def delete_rule(session: Session, rule_id: int, by: str) -> None:
    row = get_rule(session, rule_id, for_update=True)
    audit.record(session, "alert_rule.delete", f"alert_rule:{row.id}", {"name": row.name}, by=by)
    session.delete(row)


def list_rules(session: Session, flow: str | None = None) -> Sequence[AlertRule]:
    query = select(AlertRule).order_by(AlertRule.name, AlertRule.id)
    if flow is not None:
        query = query.where(AlertRule.flow_slug == flow)
    return session.scalars(query).all()


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None  # open | resolved
    rule: int | None = None
    flow: str | None = None
    limit: int = 100


def list_alerts(session: Session, f: AlertFilter) -> Sequence[tuple[Alert, AlertRule]]:
    """Newest first, with their rule; at most `MAX_ALERTS`."""
    query = (
        select(Alert, AlertRule)
        .join(AlertRule, AlertRule.id == Alert.rule_id)
        .order_by(Alert.started_at.desc(), Alert.id.desc())
        .limit(max(1, min(f.limit, MAX_ALERTS)))
    )
    if f.state is not None:
        query = query.where(Alert.state == f.state)
    if f.rule is not None:
        query = query.where(Alert.rule_id == f.rule)
    if f.flow is not None:
        query = query.where(AlertRule.flow_slug == f.flow)
    return [(a, r) for a, r in session.execute(query)]


def open_count(session: Session, flow: str | None = None) -> int:
    query = select(func.count()).select_from(Alert).where(Alert.state == "open")
    if flow is not None:
        query = query.join(AlertRule, AlertRule.id == Alert.rule_id).where(
            AlertRule.flow_slug == flow
        )
    return int(session.scalar(query) or 0)


def open_counts_by_rule(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Alert.rule_id, func.count()).where(Alert.state == "open").group_by(Alert.rule_id)
    )
    return {rule_id: int(n) for rule_id, n in rows}


def open_by_kpi(session: Session, flow: str) -> dict[str, int]:
    """Open alerts of a flow per KPI (flow-level rules), for its KPI cards."""
    rows = session.execute(
        select(AlertRule.kpi, func.count())
        .join(Alert, Alert.rule_id == AlertRule.id)
        .where(Alert.state == "open", AlertRule.flow_slug == flow, AlertRule.step.is_(None))
        .group_by(AlertRule.kpi)
    )
    return {kpi or "": int(n) for kpi, n in rows}


def get_alert(session: Session, alert_id: int) -> tuple[Alert, AlertRule]:
    row = session.execute(
        select(Alert, AlertRule)
        .join(AlertRule, AlertRule.id == Alert.rule_id)
        .where(Alert.id == alert_id)
    ).first()
    if row is None:
        raise NotFound(f"no alert has the id {alert_id}")
    alert, rule = row
    return alert, rule


def acknowledge(session: Session, alert_id: int, by: str, now: datetime | None = None) -> Alert:
    alert, _ = get_alert(session, alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_by = by[:128]
        alert.acknowledged_at = now or datetime.now(UTC)
        audit.record(session, "alert.acknowledge", f"alert:{alert.id}", {}, by=by)
    return alert


def parse_silence(data: Any) -> SilenceIn:
    try:
        return SilenceIn.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "silence") from None


def add_silence(
    session: Session, silence: SilenceIn, by: str, now: datetime | None = None
) -> Silence:
    now = now or datetime.now(UTC)
    starts = silence.starts_at or now
    if starts.tzinfo is None or silence.ends_at.tzinfo is None:
        raise InvalidRule("ends_at", "give times with an offset, e.g. 2026-12-07T10:00:00Z")
    if silence.ends_at <= starts:
        raise InvalidRule("ends_at", "must be after starts_at")
    if silence.ends_at - starts > timedelta(days=366):
        raise InvalidRule("ends_at", "a silence lasts at most a year")
    if silence.rule is not None:
        get_rule(session, silence.rule)
    row = Silence(
        rule_id=silence.rule,
        starts_at=starts,
        ends_at=silence.ends_at,
        reason=silence.reason,
        created_by=by[:128],
    )
    session.add(row)
    session.flush()
    target = f"alert_rule:{silence.rule}" if silence.rule is not None else "alert_rule:*"
    audit.record(
        session,
        "alert_silence.create",
        target,
        {"id": row.id, "until": silence.ends_at.isoformat()},
        by=by,
    )
    return row


def list_silences(session: Session, now: datetime | None = None) -> Sequence[Silence]:
    """Silences that have not ended yet."""
    now = now or datetime.now(UTC)
    return session.scalars(
        select(Silence).where(Silence.ends_at > now).order_by(Silence.starts_at)
    ).all()


def delete_silence(session: Session, silence_id: int, by: str) -> None:
    row = session.get(Silence, silence_id)
    if row is None:
        raise NotFound(f"no silence has the id {silence_id}")
    audit.record(session, "alert_silence.delete", f"alert_silence:{row.id}", {}, by=by)
    session.delete(row)


def muted_rules(session: Session, now: datetime) -> tuple[bool, set[int]]:
    """Whether everything is muted at `now`, and which rules are."""
    rows = session.scalars(
        select(Silence.rule_id).where(Silence.starts_at <= now, Silence.ends_at > now)
    ).all()
    return any(r is None for r in rows), {r for r in rows if r is not None}


def silenced(session: Session, rule_id: int, now: datetime) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Silence)
            .where(
                Silence.starts_at <= now,
                Silence.ends_at > now,
                or_(Silence.rule_id.is_(None), Silence.rule_id == rule_id),
            )
        )
    )
