"""End to end through the app's own wiring, on the real clock: events are ingested and
correlated, the rule's alert opens within two intervals, the automation subscribed to it
delivers; the events stop, the alert resolves, and a second delivery follows."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from sqlalchemy import select

from flowscope.alerts import jobs as alert_jobs
from flowscope.alerts import service as alert_service
from flowscope.alerts.models import Alert
from flowscope.automations.jobs import dispatch_job
from flowscope.db import Database, transaction
from flowscope.flows.correlation.jobs import correlate_job
from flowscope.ingest.schemas import NewEvent
from flowscope.settings import Settings
from flowscope.wiring import ALERT_HOOKS
from tests.alerts.support import rule
from tests.automations.conftest import make_automation
from tests.automations.receivers import Recorder
from tests.flows.correlation_support import ingest
from tests.flows.factories import make_shop_flow

INTERVAL = 2


def _tick(db: Database, settings: Settings) -> None:
    """One round of the jobs the scheduler runs: correlator, evaluator, dispatcher."""
    correlate_job(db)
    alert_jobs.tick(db, ALERT_HOOKS)
    dispatch_job(db, settings)


def _states(db: Database) -> list[str]:
    with db.sessions() as session:
        return list(session.scalars(select(Alert.state).order_by(Alert.id)))


def _until(db: Database, settings: Settings, done: object, limit_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        _tick(db, settings)
        if callable(done) and done():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not done within {limit_s} s: alerts {_states(db)}")


def test_events_open_an_alert_that_is_delivered_and_resolved_and_delivered_again(
    clean_db: Database, fast_settings: Settings, receiver: Recorder
) -> None:
    make_shop_flow(clean_db)
    with transaction(clean_db.sessions) as session:
        rule_id = alert_service.create_rule(
            session,
            rule(
                name="Orders started",
                source={"flow": "orders", "kpi": "started"},
                samples={"violating": 1, "of": 1, "dealerting": 2},
                interval_seconds=INTERVAL,
            ),
            "test",
            INTERVAL,
        ).id
    make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Tell the shop team",
            "trigger": {"type": "alert", "rules": [rule_id], "on": ["opened", "resolved"]},
            "actions": [
                {
                    "type": "http",
                    "url": receiver.url + "/hook",
                    "body": '{"change": {{ alert.change | tojson }}, '
                    '"rule": {{ alert.rule.name | tojson }}, "flow": {{ alert.flow | tojson }}}',
                }
            ],
        },
    )
    _tick(clean_db, fast_settings)
    assert _states(clean_db) == []

    placed_at = datetime.now(UTC)
    ingest(clean_db, [NewEvent("shop", "e1", "order.placed", placed_at, {"order": {"id": "x"}})])
    _until(clean_db, fast_settings, lambda: len(receiver.at("/hook")) >= 1, 2 * INTERVAL + 2)
    assert (datetime.now(UTC) - placed_at).total_seconds() <= 2 * INTERVAL + 2
    assert _states(clean_db) == ["open"]

    # no more events: after `dealerting` normal samples the alert resolves, delivered too
    _until(clean_db, fast_settings, lambda: len(receiver.at("/hook")) >= 2, 5 * INTERVAL)
    assert _states(clean_db) == ["resolved"]
    bodies = [json.loads(hit.body) for hit in receiver.at("/hook")]
    assert bodies == [
        {"change": "opened", "rule": "Orders started", "flow": "orders"},
        {"change": "resolved", "rule": "Orders started", "flow": "orders"},
    ]
    keys = {hit.headers["Idempotency-Key"] for hit in receiver.at("/hook")}
    assert len(keys) == 2  # two notifications, not one retried
