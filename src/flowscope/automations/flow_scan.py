"""The flow-instance trigger: instances that dropped, stalled or hit a business exception.

Dropped and stalled are read-time states (`drop_at` / `stall_at` passed "now", see
`flowscope.flows.analysis.states`), so nothing is written when an instance crosses into one.
A scanner job looks, per automation, at instances whose crossing time (`drop_at`, `stall_at`,
or `last_event_at` for an exception) lies in (watermark − LATE, now], then moves the watermark
to now. Exactly once per instance and kind: each firing first inserts a mark keyed by
(automation, flow, correlation id, kind) with `on conflict do nothing returning`, and only an
inserted mark makes a run, in the same transaction. LATE re-reads the last hour so that an
instance the correlator wrote after its crossing time had passed is still found; the marks
make that overlap harmless. Each scan reads at most `LIMIT` instances per kind (oldest first)
and then advances the watermark only to the last one it read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flowscope.automations.models import Automation, InstanceMark
from flowscope.automations.outbox import enqueue, run_data
from flowscope.flows.correlation.builds import current_build
from flowscope.flows.definitions.models import Flow

LATE = timedelta(hours=1)
LIMIT = 500

_WHEN = {"dropped": "i.drop_at", "stalled": "i.stall_at", "exception": "i.last_event_at"}


def _candidates(
    session: Session,
    build_id: int,
    kind: str,
    trigger: dict[str, Any],
    since: datetime,
    now: datetime,
) -> list[Any]:
    column = _WHEN[kind]  # one of three fixed column names, never user text
    where = [f"{column} > :since", f"{column} <= :now"]
    if kind == "exception":
        where.append("i.has_exception")
        step_column = "i.exception_step"
    else:
        where.append("i.completed_at is null")
        step_column = "i.current_step"
    params: dict[str, Any] = {"build": build_id, "since": since, "now": now, "limit": LIMIT}
    if trigger["steps"]:
        where.append(f"{step_column} = any(:steps)")
        params["steps"] = trigger["steps"]
    if kind == "exception" and trigger["exceptions"]:
        where.append("i.exception_name = any(:exceptions)")
        params["exceptions"] = trigger["exceptions"]
    # Fixed column names and conditions only; every value is a bound parameter.
    sql = (
        "select i.correlation_id, i.started_at, i.last_event_at, i.current_step, "  # noqa: S608
        f"i.exception_step, i.exception_name, i.properties, i.revenue, {column} as crossed_at "
        f"from flow_instances i where i.build_id = :build and {' and '.join(where)} "
        f"order by {column}, i.correlation_id limit :limit"
    )
    return list(session.execute(text(sql), params))


def scan_automation(session: Session, automation: Automation, now: datetime) -> int:
    """Runs queued for one automation's flow trigger; moves its watermark."""
    trigger = automation.trigger
    flow = session.scalar(select(Flow).where(Flow.slug == trigger["flow"]))
    build = current_build(session, flow.id) if flow is not None else None
    watermark = automation.scanned_until or now
    if flow is None or build is None:
        automation.scanned_until = now
        return 0
    since = max(watermark - LATE, automation.updated_at)
    fired = 0
    until = now
    for kind in trigger["on"]:
        rows = _candidates(session, build.id, kind, trigger, since, now)
        if len(rows) == LIMIT:
            until = min(until, rows[-1].crossed_at)
        for row in rows:
            inserted = session.scalar(
                insert(InstanceMark)
                .values(
                    automation_id=automation.id,
                    flow_id=flow.id,
                    correlation_id=row.correlation_id,
                    kind=kind,
                )
                .on_conflict_do_nothing()
                .returning(InstanceMark.correlation_id)
            )
            if inserted is None:
                continue  # fired for this instance before
            instance = {
                "correlation_id": row.correlation_id,
                "event": kind,
                "at": row.crossed_at.isoformat(),
                "started_at": row.started_at.isoformat(),
                "last_event_at": row.last_event_at.isoformat(),
                "step": row.current_step,
                "exception_step": row.exception_step,
                "exception": row.exception_name,
                "properties": row.properties,
                "revenue": None if row.revenue is None else float(row.revenue),
            }
            enqueue(
                session,
                automation,
                "flow",
                run_data(
                    automation,
                    "flow",
                    flow={"slug": flow.slug, "name": flow.name},
                    instance=instance,
                ),
            )
            fired += 1
    automation.scanned_until = max(watermark, until)
    return fired


def scan(session: Session, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    automations = session.scalars(
        select(Automation)
        .where(Automation.enabled, Automation.trigger["type"].astext == "flow")
        .order_by(Automation.id)
        .with_for_update(skip_locked=True)
    ).all()
    return sum(scan_automation(session, a, now) for a in automations)
