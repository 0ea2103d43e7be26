"""Small typed helpers for the flow tests: events and definitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

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
