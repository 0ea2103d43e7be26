"""A reference model of one flow instance, in plain Python, computed from its memberships.

The correlator computes instances in SQL (`flowscope.flows.correlation.recompute`); tests
compare its rows with this model. Events are ordered by (timestamp, seq): ties keep ingest order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from flowscope.flows.correlation.matching import CompiledFlow


class Membership(NamedTuple):
    seq: int
    timestamp: datetime
    step: str
    exception: str | None
    properties: dict[str, Any] | None
    revenue: Decimal | None


@dataclass(slots=True)
class StepRow:
    step: str
    first_at: datetime
    last_at: datetime
    count: int
    exception: str | None


@dataclass(slots=True)
class InstanceRow:
    correlation_id: str
    started_at: datetime
    last_event_at: datetime
    duration_s: float
    event_count: int
    current_step: str
    completed_at: datetime | None
    stall_at: datetime | None
    drop_at: datetime | None
    has_exception: bool
    exception_step: str | None
    exception_name: str | None
    properties: dict[str, Any]
    revenue: Decimal | None
    variant: list[str]
    steps: list[StepRow]
    transitions: list[tuple[str, str, float]]


def _revenue(flow: CompiledFlow, events: list[Membership]) -> Decimal | None:
    rev = flow.definition.revenue
    if rev is None:
        return None
    values = [m.revenue for m in events if m.step == rev.step and m.revenue is not None]
    if not values:
        return None
    if rev.aggregate == "sum":
        return sum(values, Decimal(0))
    if rev.aggregate == "max":
        return max(values)
    return values[0] if rev.aggregate == "first" else values[-1]


def summarize(flow: CompiledFlow, correlation_id: str, events: list[Membership]) -> InstanceRow:
    events = sorted(events, key=lambda m: (m.timestamp, m.seq))
    first, last = events[0], events[-1]
    steps: dict[str, StepRow] = {}
    properties: dict[str, Any] = {}
    exception: Membership | None = None
    completed_at: datetime | None = None
    for m in events:
        row = steps.get(m.step)
        if row is None:
            steps[m.step] = StepRow(m.step, m.timestamp, m.timestamp, 1, m.exception)
        else:
            row.last_at = m.timestamp
            row.count += 1
            row.exception = row.exception or m.exception
        if m.exception is not None and exception is None:
            exception = m
        if completed_at is None and m.step in flow.end_steps:
            completed_at = m.timestamp
        if m.properties:
            properties.update(m.properties)  # the latest value of a property wins
    variant = [m.step for m in events]
    transitions = [
        (a.step, b.step, (b.timestamp - a.timestamp).total_seconds())
        for a, b in zip(events, events[1:], strict=False)
    ]
    stall, drop = flow.timeouts[last.step]
    return InstanceRow(
        correlation_id=correlation_id,
        started_at=first.timestamp,
        last_event_at=last.timestamp,
        duration_s=(last.timestamp - first.timestamp).total_seconds(),
        event_count=len(events),
        current_step=last.step,
        completed_at=completed_at,
        stall_at=last.timestamp + stall if stall else None,
        drop_at=last.timestamp + drop if drop else None,
        has_exception=exception is not None,
        exception_step=exception.step if exception else None,
        exception_name=exception.exception if exception else None,
        properties=properties,
        revenue=_revenue(flow, events),
        variant=variant,
        steps=list(steps.values()),
        transitions=transitions,
    )
