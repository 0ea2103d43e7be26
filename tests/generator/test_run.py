"""Generator runs against the database, with the clock passed in as `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.flows.definitions.models import Flow
from flowscope.flows.definitions.service import definition_of
from flowscope.generator import jobs, service
from flowscope.generator.models import Generator, GeneratorRun, PendingEvent
from flowscope.generator.run import run_generator
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from tests.generator.factories import make_generator

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def events(session: Session, provider: str = "test.orders.v001") -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            'select event_id, type, "timestamp", attributes from events '
            "where provider = :p order by event_id"
        ),
        {"p": provider},
    )
    return [dict(r._mapping) for r in rows]


def pending_count(session: Session, generator: Generator) -> int:
    query = select(func.count()).where(PendingEvent.generator_id == generator.id)
    return int(session.scalar(query) or 0)


def run(session: Session, generator: Generator, now: datetime, **kw: Any) -> Any:
    outcome = run_generator(session, generator, now, **kw)
    session.commit()
    return outcome


def test_first_run_backfills_the_history_and_keeps_future_steps_pending(session: Session) -> None:
    generator = make_generator(session)
    outcome = run(session, generator, T0)
    assert outcome.backfilled
    assert outcome.window_start == T0 - timedelta(hours=24)
    stored = events(session)
    assert outcome.written == len(stored) > 300
    assert max(e["timestamp"] for e in stored) <= T0
    assert min(e["timestamp"] for e in stored) > T0 - timedelta(hours=24)
    assert outcome.pending_added == pending_count(session, generator) > 0
    pending_times = session.scalars(select(PendingEvent.timestamp)).all()
    assert min(pending_times) > T0
    assert generator.generated_until == T0


def test_the_flow_definition_is_created_once_and_never_overwritten(session: Session) -> None:
    generator = make_generator(session)
    outcome = run(session, generator, T0)
    assert outcome.flow_created
    flow = session.scalars(select(Flow)).one()
    definition = definition_of(flow)
    assert flow.slug == "test-orders"
    assert flow.updated_by == "generator"
    assert [s.key for s in definition.steps if s.optional] == ["order.wrapped"]
    flow.name = "Renamed by an analyst"
    session.commit()
    assert not run(session, generator, T0 + timedelta(minutes=5)).flow_created
    assert session.scalars(select(Flow.name)).one() == "Renamed by an analyst"


def test_no_backfill_when_the_provider_has_events(session: Session) -> None:
    store_events(
        session,
        [NewEvent("test.orders.v001", "real-1", "order.placed", T0 - timedelta(hours=1), {})],
    )
    session.commit()
    generator = make_generator(session)
    outcome = run(session, generator, T0)
    assert not outcome.backfilled
    assert outcome.written == 0
    later = run(session, generator, T0 + timedelta(hours=1))
    assert later.window_start == T0
    assert later.written > 0


def test_a_second_run_writes_only_what_became_due(session: Session) -> None:
    generator = make_generator(session)
    run(session, generator, T0)
    before = {e["event_id"] for e in events(session)}
    pending_before = pending_count(session, generator)
    later = T0 + timedelta(minutes=30)
    outcome = run(session, generator, later)
    after = events(session)
    new = [e for e in after if e["event_id"] not in before]
    assert outcome.written == len(new) > 0
    assert outcome.duplicates == 0
    assert all(T0 < e["timestamp"] <= later for e in new)
    assert not outcome.backfilled
    assert outcome.window_start == T0
    # Due pending events were moved out of the pending table.
    due_left = select(func.count()).where(PendingEvent.timestamp <= later)
    assert session.scalar(due_left) == 0
    assert pending_count(session, generator) < pending_before + outcome.pending_added


def test_many_small_runs_write_the_same_events_as_one_run(session: Session) -> None:
    stepwise = make_generator(session, backfill="6h")
    at_once = make_generator(session, name="Same seed", provider="test.copy.v001", backfill="8h")
    run(session, stepwise, T0)
    for minutes in (5, 10, 45, 60, 61, 120):
        run(session, stepwise, T0 + timedelta(minutes=minutes))
    run(session, at_once, T0 + timedelta(hours=2))
    one = [(e["event_id"], e["type"], e["timestamp"]) for e in events(session)]
    other = [(e["event_id"], e["type"], e["timestamp"]) for e in events(session, "test.copy.v001")]
    assert one == other
    assert len(one) > 100


def test_pending_steps_are_written_once_due_and_never_early(session: Session) -> None:
    generator = make_generator(session, backfill="2h")
    now = T0
    run(session, generator, now)
    for _ in range(12):
        now += timedelta(hours=1)
        outcome = run(session, generator, now)
        latest = session.scalar(text('select max("timestamp") from events'))
        assert latest is not None
        assert latest <= now
        earliest_pending = session.scalar(select(func.min(PendingEvent.timestamp)))
        assert earliest_pending is None or earliest_pending > now
        assert outcome.duplicates == 0
    # With 12 hours passed and steps at most ~9 h apart, flows of the first hour are complete.
    stored = events(session)
    first_hour = {e["attributes"]["order"]["id"] for e in stored if e["timestamp"] <= T0}
    ends = {
        e["attributes"]["order"]["id"]
        for e in stored
        if e["type"].startswith("order.delivered") and e["attributes"]["order"]["id"] in first_hour
    }
    assert ends


def test_generating_a_window_again_stores_nothing_twice(session: Session) -> None:
    generator = make_generator(session)
    first = run(session, generator, T0)
    again = run(session, generator, T0, since=T0 - timedelta(hours=24))
    assert again.written == 0
    assert again.duplicates == first.written
    assert again.pending_added == 0


def test_exception_and_drop_rates_hold_in_the_database(session: Session) -> None:
    generator = make_generator(session, volume=150, backfill="24h")
    run(session, generator, T0)
    rows = session.execute(
        text(
            """
            select attributes #>> '{order,id}' as flow, type, "timestamp" from events
            where provider = 'test.orders.v001'
            """
        )
    ).all()
    placed = {
        r.flow for r in rows if r.type == "order.placed" and r.timestamp < T0 - timedelta(hours=1)
    }
    paid = {r.flow for r in rows if r.type.startswith("order.paid") and r.flow in placed}
    declined = {r.flow for r in rows if r.type == "order.paid.declined" and r.flow in placed}
    assert len(placed) > 3000
    assert 0.87 < len(paid) / len(placed) < 0.93  # 10 % drop after placing
    assert 0.06 < len(declined) / len(paid) < 0.10  # 8 % declined


def test_run_once_records_the_run(clean_db: Database) -> None:
    with clean_db.sessions() as session:
        generator = make_generator(session)
    run_, outcome = jobs.run_once(
        clean_db, generator.slug, trigger="manual", on_flow_created=(), now=T0
    )
    assert outcome is not None
    with clean_db.sessions() as session:
        stored = session.scalars(select(GeneratorRun)).one()
        assert stored.trigger == "manual"
        assert stored.finished_at is not None
        assert stored.events_written == outcome.written > 0
        assert stored.error is None


def test_a_failed_run_is_recorded_with_its_error(clean_db: Database) -> None:
    with clean_db.sessions() as session:
        generator = make_generator(session)
        # A stored configuration broken behind the service's back: the run must fail cleanly.
        generator.config = {**generator.config, "steps": []}
        session.commit()
    with pytest.raises(ValueError, match="steps"):
        jobs.run_once(clean_db, generator.slug, trigger="schedule", on_flow_created=(), now=T0)
    with clean_db.sessions() as session:
        failed = session.scalars(select(GeneratorRun)).one()
        assert failed.finished_at is not None
        assert failed.error
        assert "steps" in failed.error
        assert session.scalar(text("select count(*) from events")) == 0


def test_update_keeps_the_slug_and_applies_to_new_flows(session: Session) -> None:
    generator = make_generator(session)
    changed = generator.source.replace("volume: 20", "volume: 5")
    service.update_generator(session, generator.slug, changed, "editor")
    session.commit()
    assert generator.config["volume"] == 5
    with pytest.raises(service.InvalidConfig, match="slug"):
        service.update_generator(session, generator.slug, changed + "slug: other\n", "editor")


def test_a_run_left_open_by_a_stopped_process_is_closed_as_interrupted(
    clean_db: Database,
) -> None:
    with clean_db.sessions() as session:
        generator = make_generator(session)
        session.add(
            GeneratorRun(
                generator_id=generator.id,
                trigger="schedule",
                started_at=datetime.now(UTC) - timedelta(hours=3),
                events_written=0,
                pending_added=0,
            )
        )
        session.commit()
    jobs.run_once(clean_db, generator.slug, trigger="manual", on_flow_created=(), now=T0)
    with clean_db.sessions() as session:
        runs = session.scalars(select(GeneratorRun).order_by(GeneratorRun.id)).all()
        assert runs[0].finished_at is not None
        assert runs[0].error is not None
        assert runs[0].error.startswith("interrupted")
        assert runs[1].error is None


def test_a_new_provider_gets_its_own_backfill(session: Session) -> None:
    generator = make_generator(session)
    run(session, generator, T0)
    changed = generator.source.replace("test.orders.v001", "test.orders.v002")
    service.update_generator(session, generator.slug, changed, "editor")
    session.commit()
    outcome = run(session, generator, T0 + timedelta(minutes=5))
    assert outcome.backfilled
    assert len(events(session, "test.orders.v002")) > 300
