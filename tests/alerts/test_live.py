"""The evaluator job on the real clock with a short interval: a flow starts, the rule opens
within two intervals; nothing more happens, it resolves after `dealerting` intervals."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import select

from flowscope.alerts import jobs, service
from flowscope.alerts.models import Alert
from flowscope.alerts.transitions import AlertHook, AlertTransition
from flowscope.db import Database, transaction
from flowscope.ingest.schemas import NewEvent
from tests.alerts.support import rule
from tests.flows.correlation_support import drain, ingest
from tests.flows.factories import make_shop_flow

INTERVAL = 2


def _state(db: Database) -> str | None:
    with db.sessions() as session:
        alert = session.scalars(select(Alert).order_by(Alert.id.desc())).first()
        return alert.state if alert else None


def _until(db: Database, state: str, hooks: tuple[AlertHook, ...], limit_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        jobs.tick(db, hooks)
        if _state(db) == state:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"no {state} alert within {limit_s} s")


def test_opens_within_two_intervals_and_resolves_after_dealerting(clean_db: Database) -> None:
    make_shop_flow(clean_db)
    spec = rule(
        source={"flow": "orders", "kpi": "started"},
        samples={"violating": 1, "of": 1, "dealerting": 2},
        interval_seconds=INTERVAL,
    )
    with transaction(clean_db.sessions) as session:
        service.create_rule(session, spec, "test", INTERVAL)
    seen: list[AlertTransition] = []
    hooks: tuple[AlertHook, ...] = (lambda _s, t: seen.append(t),)
    jobs.tick(clean_db, hooks)
    placed_at = datetime.now(UTC)
    ingest(clean_db, [NewEvent("shop", "e1", "order.placed", placed_at, {"order": {"id": "x"}})])
    drain(clean_db)
    _until(clean_db, "open", hooks, 2 * INTERVAL + 1)
    opened_after = (datetime.now(UTC) - placed_at).total_seconds()
    assert opened_after <= 2 * INTERVAL + 0.5, opened_after  # + the tick's own period
    resolved_after = _until(clean_db, "resolved", hooks, (2 + 2) * INTERVAL)
    assert resolved_after >= INTERVAL  # two normal samples are needed, not one
    assert [t.change for t in seen] == ["opened", "resolved"]
