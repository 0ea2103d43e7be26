"""The small shop flow the alerts' database tests share, with figures worked out by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flowscope.alerts.schemas import RuleIn
from flowscope.db import Database
from tests.flows.correlation_support import T0, drain, event, ingest
from tests.flows.factories import make_shop_flow

INTERVAL = 600  # 10 minutes
NOW = T0 + timedelta(minutes=60)


def placed(cid: str, minutes: float, total: float) -> Any:
    return event(cid, "order.placed", minutes, attrs={"order": {"total": total}})


def shop_with_flows(db: Database) -> None:
    """orders (placed → paid → shipped; stall after 10 min, drop after 30 min idle):

    c1 placed 0 (100), paid 2, shipped 5: completed in 300 s
    c2 placed 3 (50), paid 4: open; stalls at 14, drops at 34
    c3 placed 12 (20), declined 13: business exception at paid; stalls 23, drops 43
    c4 placed 15 (30), paid 16, shipped 40: completed in 1,500 s
    c5 placed 25 (10): open at placed; stalls 35, drops 55
    (minutes after T0 = 12:00)
    """
    make_shop_flow(db, timeouts={"stall": "10m", "drop": "30m"})
    ingest(
        db,
        [
            placed("c1", 0, 100),
            event("c1", "payment.captured", 2),
            event("c1", "parcel.shipped", 5),
            placed("c2", 3, 50),
            event("c2", "payment.captured", 4),
            placed("c3", 12, 20),
            event("c3", "payment.declined", 13),
            placed("c4", 15, 30),
            event("c4", "payment.captured", 16),
            event("c4", "parcel.shipped", 40),
            placed("c5", 25, 10),
        ],
    )
    drain(db)


def rule(**overrides: Any) -> RuleIn:
    data: dict[str, Any] = {
        "name": "Exceptions up",
        "source": {"flow": "orders", "kpi": "exceptions"},
        "analyzer": {"type": "static", "condition": "above", "threshold": 0},
        "samples": {"violating": 1, "of": 1, "dealerting": 2},
        "interval_seconds": INTERVAL,
    }
    data.update(overrides)
    return RuleIn.model_validate(data)
