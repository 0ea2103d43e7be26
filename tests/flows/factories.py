"""Small typed helpers for the flow tests: events and definitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.flows.correlation_support import make_flow

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


def store_cases(
    session: Session,
    cases: Mapping[str, Sequence[str | tuple[str, int]]],
    *,
    provider: str = "shop",
    field: str = "order",
) -> None:
    """Events of each case, one minute apart unless given as (type, minute offset)."""
    events = []
    for case_id, steps in cases.items():
        for n, step in enumerate(steps):
            etype, minute = step if isinstance(step, tuple) else (step, n)
            events.append(
                NewEvent(
                    provider,
                    f"{case_id}-{n}",
                    etype,
                    T0 + timedelta(minutes=minute),
                    {field: {"id": case_id}},
                )
            )
    store_events(session, events)
    session.commit()


def definition(**overrides: Any) -> FlowDefinition:
    data: dict[str, Any] = {
        "slug": "online-orders",
        "name": "Online orders",
        "providers": ["shop.checkout"],
        "correlation": "order.id",
        "steps": [
            {"key": "placed", "name": "Order placed", "events": [{"type": "order.placed"}]},
            {"key": "paid", "name": "Paid", "events": [{"type": "payment.captured"}]},
        ],
    }
    data.update(overrides)
    return FlowDefinition.model_validate(data)


# The shop flow the correlator, analysis and query tests share (events from
# `tests.flows.correlation_support.event`, provider "shop", correlated by order.id).
SHOP_REVENUE: dict[str, Any] = {"field": "order.total", "step": "placed"}


def shop_steps(
    *, tier: bool = False, paid: Mapping[str, Any] | None = None, shipped: bool = True
) -> list[dict[str, Any]]:
    """placed (order.placed) → paid (payment.captured; a payment.declined event is the business
    exception "declined") → shipped (parcel.shipped). `tier`: the placed step records the `tier`
    attribute as a property; `paid`: keys that replace the paid step's (timeouts, exceptions);
    `shipped=False` ends the flow at paid."""
    placed: dict[str, Any] = {
        "key": "placed",
        "name": "Placed",
        "events": [{"type": "order.placed"}],
    }
    if tier:
        placed["properties"] = [{"name": "tier", "path": "tier"}]
    steps = [
        placed,
        {
            "key": "paid",
            "name": "Paid",
            "events": [{"type": "payment.captured"}],
            "exceptions": [{"name": "declined", "type": "payment.declined"}],
            **(paid or {}),
        },
    ]
    if shipped:
        steps.append({"key": "shipped", "name": "Shipped", "events": [{"type": "parcel.shipped"}]})
    return steps


def make_shop_flow(
    db: Database,
    *,
    tier: bool = False,
    paid: Mapping[str, Any] | None = None,
    shipped: bool = True,
    **overrides: Any,
) -> FlowDefinition:
    """The shop flow saved as "orders" (see `shop_steps`), its revenue the placed event's
    order.total unless `revenue` is overridden; other keyword arguments override the
    definition's fields (timeouts...)."""
    data = {"revenue": SHOP_REVENUE, "steps": shop_steps(tier=tier, paid=paid, shipped=shipped)}
    return make_flow(db, **{**data, **overrides})
