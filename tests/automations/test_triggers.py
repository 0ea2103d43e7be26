"""Triggers besides alerts: schedules (a job per automation), flow-instance events (once per
instance), and data actions chained through `previous.result`."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from flowscope.automations import jobs
from flowscope.automations.flow_scan import scan
from flowscope.automations.models import Automation, AutomationRun, AutomationRunStep
from flowscope.automations.triggers import run_now
from flowscope.db import Database
from flowscope.jobs import JobRegistry, Scheduler
from flowscope.settings import Settings
from tests.automations.conftest import get, make_automation
from tests.automations.receivers import Recorder
from tests.automations.test_dispatch import drain
from tests.flows.correlation_support import T0, event, ingest, make_flow
from tests.flows.correlation_support import drain as correlate_all


def runs(db: Database, automation_id: int) -> list[AutomationRun]:
    with db.sessions() as session:
        return list(
            session.scalars(
                select(AutomationRun)
                .where(AutomationRun.automation_id == automation_id)
                .order_by(AutomationRun.id)
            )
        )


def test_schedule_trigger_is_one_job_per_enabled_automation(
    clean_db: Database, settings: Settings
) -> None:
    every, _ = make_automation(
        clean_db,
        settings,
        {
            "name": "Every second",
            "trigger": {"type": "schedule", "every_seconds": 1},
            "actions": [{"type": "http", "url": "http://127.0.0.1:9/x"}],
        },
    )
    cron, _ = make_automation(
        clean_db,
        settings,
        {
            "name": "Weekday mornings",
            "trigger": {"type": "schedule", "cron": "0 8 * * mon-fri"},
            "actions": [{"type": "http", "url": "http://127.0.0.1:9/x"}],
        },
    )
    off, _ = make_automation(
        clean_db,
        settings,
        {
            "name": "Off",
            "enabled": False,
            "trigger": {"type": "schedule", "every_seconds": 60},
            "actions": [{"type": "http", "url": "http://127.0.0.1:9/x"}],
        },
    )
    declared = {job.id: job for job in jobs.scheduled_automations(clean_db)}
    assert set(declared) == {f"automation:{every}", f"automation:{cron}"}
    assert declared[f"automation:{cron}"].cron == "0 8 * * mon-fri"

    scheduler = Scheduler(
        clean_db,
        JobRegistry(sources=(jobs.scheduled_automations,)),
        poll_seconds=0.1,
        lock_id=0x5A11,
    )
    scheduler.start()
    try:
        deadline = time.monotonic() + 15
        while len(runs(clean_db, every)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.stop()
    assert len(runs(clean_db, every)) >= 2
    assert all(r.trigger == "schedule" for r in runs(clean_db, every))
    assert runs(clean_db, off) == []
    assert runs(clean_db, cron) == []


def test_invalid_schedules_are_refused(clean_db: Database, settings: Settings) -> None:
    from flowscope.automations.service import InvalidAutomation, parse

    for trigger in (
        {"type": "schedule", "cron": "61 * * * *"},
        {"type": "schedule"},
        {"type": "schedule", "cron": "* * * * *", "every_seconds": 5},
    ):
        with pytest.raises(InvalidAutomation, match=r"^trigger\.schedule"):
            parse({"name": "x", "trigger": trigger, "actions": [{"type": "fql", "query": "q"}]})


def _age(db: Database, automation_id: int) -> None:
    """As if the automation had existed since before the test's events."""
    with db.sessions.begin() as session:
        session.execute(
            update(Automation)
            .where(Automation.id == automation_id)
            .values(scanned_until=T0 - timedelta(hours=1), updated_at=T0 - timedelta(hours=1))
        )


def test_flow_instance_trigger_fires_once_per_instance_and_kind(
    clean_db: Database, fast_settings: Settings, receiver: Recorder
) -> None:
    make_flow(
        clean_db,
        timeouts={"stall": "10m", "drop": "1h"},
        steps=[
            {"key": "placed", "name": "Placed", "events": [{"type": "order.placed"}]},
            {
                "key": "paid",
                "name": "Paid",
                "events": [{"type": "payment.captured"}],
                "exceptions": [{"name": "declined", "type": "payment.declined"}],
            },
            {"key": "shipped", "name": "Shipped", "events": [{"type": "parcel.shipped"}]},
        ],
    )
    ingest(
        clean_db,
        [
            event("A", "order.placed", 0),  # stalls at +10m, drops at +1h
            event("B", "order.placed", 0),
            event("B", "payment.declined", 1),  # exception at paid
            event("C", "order.placed", 0),
            event("C", "payment.captured", 2),
            event("C", "parcel.shipped", 3),  # completed: never stalls or drops
        ],
    )
    correlate_all(clean_db)
    every, _ = make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Flow problems",
            "trigger": {
                "type": "flow",
                "flow": "orders",
                "on": ["dropped", "stalled", "exception"],
            },
            "actions": [
                {
                    "type": "http",
                    "url": receiver.url + "/flow",
                    "body": '{"id": {{ instance.correlation_id | tojson }}, '
                    '"event": {{ instance.event | tojson }}, "flow": {{ flow.slug | tojson }}}',
                }
            ],
        },
    )
    at_paid, _ = make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Dropped at paid",
            "trigger": {"type": "flow", "flow": "orders", "on": ["dropped"], "steps": ["paid"]},
            "actions": [{"type": "http", "url": receiver.url + "/paid"}],
        },
    )
    _age(clean_db, every)
    _age(clean_db, at_paid)

    def fired(now_minutes: float) -> int:
        with clean_db.sessions.begin() as session:
            return scan(session, now=T0 + timedelta(minutes=now_minutes))

    assert fired(5) == 1  # B's exception
    assert fired(30) == 2  # A and B stalled
    assert fired(30) == 0  # seen: nothing twice
    assert fired(120) == 3  # A and B dropped (every), B dropped at paid (at_paid)
    assert fired(180) == 0
    drain(clean_db, fast_settings)
    seen = sorted(
        (body["id"], body["event"]) for body in (json.loads(r.body) for r in receiver.at("/flow"))
    )
    assert seen == [
        ("A", "dropped"),
        ("A", "stalled"),
        ("B", "dropped"),
        ("B", "exception"),
        ("B", "stalled"),
    ]
    assert len(receiver.at("/paid")) == 1


def test_fql_result_passes_to_the_next_action_and_ingest_commits_one_event(
    clean_db: Database, fast_settings: Settings, receiver: Recorder
) -> None:
    ingest(clean_db, [event("A", "order.placed", 0), event("B", "order.placed", 1)])
    automation_id, _ = make_automation(
        clean_db,
        fast_settings,
        {
            "name": "Count and record",
            "trigger": {"type": "manual"},
            "actions": [
                {
                    "type": "fql",
                    "query": 'fetch bizevents, from:"2026-10-31T00:00:00Z" '
                    '| filter event.type == "order.placed" | summarize placed = count()',
                },
                {
                    "type": "ingest",
                    "event": '{"event.provider": "flowscope.automations", '
                    '"event.type": "orders.counted", '
                    '"placed": {{ previous.result.rows[0][0] }}, "run": {{ run.id }}}',
                },
                {
                    "type": "http",
                    "url": receiver.url + "/report",
                    "body": "{{ previous.result | tojson }}",
                },
            ],
        },
    )
    with clean_db.sessions.begin() as session:
        run_now(session, get(session, automation_id))
    drain(clean_db, fast_settings)
    with clean_db.sessions() as session:
        steps = session.scalars(select(AutomationRunStep).order_by(AutomationRunStep.position))
        assert [s.status for s in steps] == ["succeeded"] * 3
        rows = session.execute(
            text(
                "select event_id, attributes from events "
                "where provider = 'flowscope.automations' and type = 'orders.counted'"
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].attributes["placed"] == 2
    [report] = receiver.at("/report")
    assert json.loads(report.body)["stored"] == 1
    assert json.loads(report.body)["event.id"] == rows[0].event_id
