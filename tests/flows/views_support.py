"""A small shop flow with events relative to now, for the page tests (TestClient and browser)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flowscope.db import Database, transaction
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.service import save_flow
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.flows.correlation_support import drain

HOSTILE = "<img src=x onerror=alert(1)>"

SHOP: dict[str, Any] = {
    "slug": "orders",
    "name": "Online orders",
    "description": "From order placement to delivery",
    "providers": ["shop"],
    "correlation": "order.id",
    "timeouts": {"stall": "30m", "drop": "2h"},
    "revenue": {"field": "order.total", "step": "placed", "label": "Order revenue"},
    "steps": [
        {
            "key": "placed",
            "name": "Order placed",
            "events": [{"type": "order.placed"}],
            "properties": [{"name": "loyalty", "path": "customer.tier"}],
        },
        {"key": "paid", "name": "Payment captured", "events": [{"type": "payment.captured"}]},
        {
            "key": "shipped",
            "name": "Parcel shipped",
            "events": [{"type": "parcel.shipped"}],
            "exceptions": [{"name": "shipping failed", "type": "parcel.failed"}],
        },
        {"key": "delivered", "name": "Delivered", "events": [{"type": "parcel.delivered"}]},
    ],
}

# correlation id → (minutes before now of the first event, step event types, tier, total)
ORDERS: dict[str, tuple[int, list[str], str, float]] = {
    "A-1": (
        300,
        ["order.placed", "payment.captured", "parcel.shipped", "parcel.delivered"],
        "gold",
        120.0,
    ),
    "A-2": (
        290,
        ["order.placed", "payment.captured", "parcel.shipped", "parcel.delivered"],
        "silver",
        80.0,
    ),
    "A-3": (280, ["order.placed", "payment.captured"], "gold", 50.0),  # dropped at paid
    "A-4": (20, ["order.placed"], "bronze", 10.0),  # in progress
    "A-5": (50, ["order.placed", "payment.captured"], "gold", 30.0),  # stalled at paid
    "A-6": (200, ["order.placed", "payment.captured", "parcel.failed"], "silver", 70.0),
    HOSTILE: (100, ["order.placed"], HOSTILE, 5.0),  # dropped at placed
    "PREV-1": (
        1500,
        ["order.placed", "payment.captured", "parcel.shipped", "parcel.delivered"],
        "gold",
        40.0,
    ),
}


def order_events(now: datetime) -> list[NewEvent]:
    events = []
    for cid, (ago, types, tier, total) in ORDERS.items():
        for n, type_ in enumerate(types):
            attrs: dict[str, Any] = {"order": {"id": cid}}
            if type_ == "parcel.failed":
                attrs["service"] = {"name": "shipping-api"}
                attrs["trace_id"] = "4bf92f3577b34da6a3ce929d0e0e4736"
            if type_ == "order.placed":
                attrs["order"]["total"] = total
                attrs["customer"] = {"tier": tier, "address": {"city": "Graz", "zip": "8010"}}
                attrs["items"] = [{"sku": "X1", "qty": 2}, {"sku": HOSTILE, "qty": 1}]
            events.append(
                NewEvent(
                    provider="shop",
                    event_id=uuid.uuid4().hex,
                    type=type_,
                    timestamp=now - timedelta(minutes=ago) + timedelta(minutes=5 * n * (n + 1)),
                    attributes=attrs,
                )
            )
    return events


def make_shop(db: Database, now: datetime | None = None) -> FlowDefinition:
    """The shop flow with its orders stored and correlated."""
    now = now or datetime.now(UTC)
    definition = FlowDefinition.model_validate(SHOP)
    with transaction(db.sessions) as session:
        save_flow(session, definition, "test")
        store_events(session, order_events(now))
    drain(db)
    return definition
