"""A fixed, seeded data set shaped like the lab's generated data, and the queries' oracles."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.query.service import run_query

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PROVIDER = "shop.checkout.v001"
OTHER = "crm.sync"
PLACED, PAID, PAY_FAILED, SHIPPED, SHIP_FAILED = (
    "order.placed",
    "payment.succeeded",
    "payment.failed",
    "order.shipped",
    "order.shipped.error",
)


def make_events(orders: int = 150, seed: int = 7) -> list[NewEvent]:
    """Orders placed over the last 25 hours (some just outside 24 h), most paid, some shipped.

    Every hour of the last day has orders, so `from: -1h` and `-24h..-23h` both see some.
    """
    rng = random.Random(seed)
    events: list[NewEvent] = []
    for i in range(orders):
        order_id = f"O-{i:04d}"
        placed = NOW - timedelta(minutes=(i * 10) % (25 * 60) + rng.randint(0, 9))
        tier = rng.choice(["gold", "silver", "bronze"])
        attrs: dict[str, Any] = {"orderId": order_id, "revenue": round(rng.uniform(5, 500), 2)}
        attrs["loyalty"] = {"tier": tier}
        events.append(_event(PLACED, order_id, placed, attrs))
        if rng.random() < 0.8:
            paid_at = placed + timedelta(minutes=rng.randint(1, 90), seconds=rng.randint(0, 59))
            kind = PAID if rng.random() < 0.9 else PAY_FAILED
            events.append(_event(kind, order_id, paid_at, {"orderId": order_id}))
            if kind == PAID and rng.random() < 0.7:
                shipped_at = paid_at + timedelta(minutes=rng.randint(30, 300))
                ship_kind = SHIPPED if rng.random() < 0.85 else SHIP_FAILED
                events.append(_event(ship_kind, order_id, shipped_at, {"orderId": order_id}))
    for j in range(40):  # another provider's events must never leak into the results
        at = NOW - timedelta(minutes=j * 30)
        events.append(
            NewEvent(OTHER, f"crm-{j}", PLACED, at, {"orderId": f"O-{j:04d}", "revenue": 1})
        )
    return [e for e in events if e.timestamp < NOW]


def _event(kind: str, order_id: str, at: datetime, attrs: dict[str, Any]) -> NewEvent:
    return NewEvent(PROVIDER, f"{order_id}-{kind}", kind, at, attrs)


def ingest(session: Session, events: list[NewEvent]) -> None:
    store_events(session, events)
    session.commit()


def in_window(events: list[NewEvent], start: datetime, end: datetime) -> list[NewEvent]:
    return [e for e in events if start <= e.timestamp < end]


# Comparing FQL with hand-written SQL over the lab's last 24 h.
WINDOW = {"start": NOW - timedelta(hours=24), "end": NOW, "provider": PROVIDER}
IN_WINDOW = "timestamp >= :start and timestamp < :end and provider = :provider"
SHOP = f'fetch bizevents | filter event.provider == "{PROVIDER}"'


def fql(session: Session, query: str) -> list[dict[str, Any]]:
    """The rows of an FQL query over the last 24 h before NOW, as dicts by column name."""
    result = run_query(session, query, time_from="-24h", now=NOW)
    names = [c["name"] for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def sql(session: Session, query: str) -> list[dict[str, Any]]:
    """The rows of hand-written SQL, with WINDOW's parameters bound."""
    return [dict(r._mapping) for r in session.execute(text(query), WINDOW)]
