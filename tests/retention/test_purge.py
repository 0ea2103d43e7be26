"""A retention run deletes exactly the events past their provider's retention, and with them
their memberships and the flow rows derived from them."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from flowscope.db import Database, transaction
from flowscope.metrics import RETENTION_DELETED
from flowscope.retention import service
from flowscope.retention.purge import _NEXT_KIND, purge_batch
from tests.flows.correlation_support import T0, drain, event, ingest, instances, make_flow
from tests.retention.support import counts, cut_at, event_ids, run_at


def _orders(db: Database) -> None:
    make_flow(db)
    ingest(
        db,
        [
            # o1: every event before the cutoff (minute 10)
            event("o1", "order.placed", 0, event_id="o1-placed"),
            event("o1", "payment.captured", 5, event_id="o1-paid"),
            # o2: placed before, paid and shipped after
            event("o2", "order.placed", 1, event_id="o2-placed", attrs={"tier": "gold"}),
            event("o2", "payment.captured", 20, event_id="o2-paid"),
            event("o2", "parcel.shipped", 30, event_id="o2-shipped"),
            # o3: all after
            event("o3", "order.placed", 15, event_id="o3-placed"),
            event("o3", "payment.captured", 16, event_id="o3-paid"),
        ],
    )
    drain(db)


def test_old_events_go_with_their_memberships_and_fully_expired_instances(
    clean_db: Database,
) -> None:
    _orders(clean_db)
    before = instances(clean_db)
    result = run_at(clean_db, cut_at(10))
    assert result.complete
    assert event_ids(clean_db) == {"o2-paid", "o2-shipped", "o3-placed", "o3-paid"}
    after = instances(clean_db)
    assert set(after) == {"o2", "o3"}  # o1 lost every event
    assert after["o3"] == before["o3"]  # untouched
    o2 = after["o2"]
    # recomputed from what is left: it now starts at payment, without the placed step
    assert o2["started_at"] == T0 + timedelta(minutes=20)
    assert o2["event_count"] == 2
    assert o2["variant"] == ["paid", "shipped"]
    assert set(o2["steps"]) == {"paid", "shipped"}
    assert counts(clean_db) == {
        "events": 4,
        "flow_events": 4,
        "flow_instances": 2,
        "flow_instance_steps": 4,
        "flow_transitions": 2,  # o2: paid → shipped; o3: placed → paid
    }
    assert result.events == 3
    assert result.removed.rows["flow_events"] == 3
    assert result.removed.rows["flow_instances"] == 1
    assert result.removed.rows["flow_instance_steps"] == 3  # o1: placed, paid; o2: placed
    assert result.removed.rows["flow_transitions"] == 2  # o1: placed → paid; o2: one of two
    assert result.removed.recomputed == 1  # o1 went whole, in one batch


def test_an_instance_past_retention_is_not_recomputed_batch_by_batch(
    clean_db: Database,
) -> None:
    make_flow(clean_db)
    ingest(
        clean_db,
        [
            event("o1", "order.placed", 0),
            event("o1", "payment.captured", 1),
            event("o1", "parcel.shipped", 2),
            event("o2", "order.placed", 3),
            event("o2", "payment.captured", 30),
        ],
    )
    drain(clean_db)
    result = run_at(clean_db, cut_at(10), batch_size=1)
    assert result.complete
    assert result.batches == 4
    assert result.removed.recomputed == 1  # o2 only: o1 went at its first batch
    assert set(instances(clean_db)) == {"o2"}
    assert counts(clean_db)["flow_events"] == 1


def test_a_second_run_finds_nothing_more(clean_db: Database) -> None:
    _orders(clean_db)
    run_at(clean_db, cut_at(10))
    again = run_at(clean_db, cut_at(10))
    assert again.complete
    assert again.events == 0
    assert again.batches == 0


def test_the_provider_override_keeps_its_events_longer(clean_db: Database) -> None:
    ingest(
        clean_db,
        [
            event(None, "t", 0, provider="keep", event_id="k-old"),
            event(None, "t", 0, provider="short", event_id="s-old"),
            event(None, "t", 60 * 24 * 3, provider="short", event_id="s-new"),
        ],
    )
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "keep", 10, default_days=2)
    now = T0 + timedelta(days=5)
    run_at(clean_db, now, days=2)
    assert event_ids(clean_db) == {"k-old", "s-new"}
    run_at(clean_db, T0 + timedelta(days=11), days=2)
    assert event_ids(clean_db) == set()  # s-new is 8 days old: past the default of 2


def test_zero_days_keeps_a_providers_events_until_it_is_changed(clean_db: Database) -> None:
    ingest(clean_db, [event(None, "t", 0, provider="archive", event_id="a-old")])
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "archive", 0, default_days=2)
    assert run_at(clean_db, T0 + timedelta(days=400), days=2).events == 0
    assert event_ids(clean_db) == {"a-old"}
    with transaction(clean_db.sessions) as s:
        service.set_retention(s, "archive", None, default_days=2)
    assert run_at(clean_db, T0 + timedelta(days=400), days=2).events == 1


def test_batches_hold_at_most_batch_size_events_and_continue_next_run(
    clean_db: Database,
) -> None:
    ingest(clean_db, [event(f"o{i}", "order.placed", i, event_id=f"e{i}") for i in range(10)])
    sizes: list[int] = []
    ticks = iter(range(1000))
    # a clock that lets three batches run (the run reads it three times, each batch once)
    result = run_at(
        clean_db,
        cut_at(100),
        batch_size=3,
        budget_seconds=5.5,
        clock=lambda: float(next(ticks)),
        on_batch=sizes.append,
    )
    assert not result.complete
    assert sizes == [3, 3, 3]
    assert len(event_ids(clean_db)) == 1
    rest = run_at(clean_db, cut_at(100), batch_size=3, on_batch=sizes.append)
    assert rest.complete
    assert event_ids(clean_db) == set()
    assert max(sizes) <= 3
    assert sum(sizes) == 10


def test_deleted_rows_are_counted_in_metrics(clean_db: Database) -> None:
    _orders(clean_db)
    events = RETENTION_DELETED.labels("events")
    before = events._value.get()
    run_at(clean_db, cut_at(10))
    assert events._value.get() - before == 3


def test_the_batch_query_is_an_index_range_scan(clean_db: Database) -> None:
    """With sequential scans made expensive the plan shows which index serves the predicate:
    the (provider, type, timestamp) index with the time bound as an index condition."""
    with transaction(clean_db.sessions) as s:
        s.execute(text("set local enable_seqscan = off"))
        plan = "\n".join(
            s.scalars(
                text(
                    "explain select seq from events where provider = :p and type = :t "
                    'and "timestamp" < :c order by "timestamp" limit 10'
                ),
                {"p": "shop", "t": "x", "c": T0},
            ).all()
        )
        assert "ix_events_provider_type_timestamp" in plan, plan
        assert "Sort" not in plan, plan
        plan = "\n".join(
            s.scalars(
                text("explain delete from flow_events where seq = any(:s)"), {"s": [1, 2]}
            ).all()
        )
        assert "ix_flow_events_seq" in plan, plan
        plan = "\n".join(s.scalars(text("explain " + str(_NEXT_KIND)), {"p": "a", "t": "b"}).all())
        assert "ix_events_provider_type_timestamp" in plan, plan  # one probe per pair


def test_ingest_keeps_running_during_a_run(clean_db: Database) -> None:
    """Concurrent writers store every event while batches delete old ones beside them."""
    make_flow(clean_db)
    old = [event(f"old{i}", "order.placed", i % 50, event_id=f"old-{i}") for i in range(600)]
    ingest(clean_db, old)
    drain(clean_db)
    stop = threading.Event()
    written: list[str] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            n = 0
            while not stop.is_set() or n < 20:
                ids = [f"new-{n}-{k}" for k in range(5)]
                ingest(
                    clean_db,
                    [event(f"new{n}", "order.placed", 200, event_id=i) for i in ids],
                )
                written.extend(ids)
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = run_at(clean_db, cut_at(100), batch_size=50)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors
    assert result.complete
    assert result.events == 600
    assert result.batches >= 12
    assert event_ids(clean_db) == set(written)
    drain(clean_db)
    assert set(instances(clean_db)) == {f"new{n}" for n in range(len(written) // 5)}


def test_a_batch_waits_for_a_correlator_run(clean_db: Database) -> None:
    """A batch takes the correlator's lock, so the two never work on one instance at once."""
    ingest(clean_db, [event("o1", "order.placed", 0, event_id=str(uuid.uuid4()))])
    with transaction(clean_db.sessions) as holder:
        holder.execute(text("select pg_advisory_xact_lock(x'434F5252'::int)"))
        with transaction(clean_db.sessions) as s:
            s.execute(text("set local lock_timeout = '200ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                purge_batch(s, "shop", {"order.placed"}, cut_at(10), 10)
            s.rollback()


def test_deletion_waits_for_statements_older_than_the_new_horizon(clean_db: Database) -> None:
    """A statement that began before the horizon moved may have read the old one: the run
    deletes nothing until it has finished (here, a 1.5 s statement)."""
    ingest(clean_db, [event("o1", "order.placed", 0, event_id="old")])
    started = threading.Event()

    def slow() -> None:
        with clean_db.engine.connect() as conn:
            started.set()
            conn.execute(text("select pg_sleep(1.5)"))

    thread = threading.Thread(target=slow)
    thread.start()
    started.wait(5)
    time.sleep(0.2)  # the statement is running
    began = time.monotonic()
    try:
        result = run_at(clean_db, cut_at(10))
    finally:
        thread.join(10)
    assert result.complete
    assert result.events == 1
    assert result.waited_s >= 0.8
    assert time.monotonic() - began >= 0.8


def test_a_run_gives_up_when_old_statements_outlast_its_budget(clean_db: Database) -> None:
    ingest(clean_db, [event("o1", "order.placed", 0, event_id="old")])
    started = threading.Event()

    def slow() -> None:
        with clean_db.engine.connect() as conn:
            started.set()
            conn.execute(text("select pg_sleep(2)"))

    thread = threading.Thread(target=slow)
    thread.start()
    started.wait(5)
    time.sleep(0.2)
    try:
        result = run_at(clean_db, cut_at(10), budget_seconds=0.5)
    finally:
        thread.join(10)
    assert not result.complete
    assert event_ids(clean_db) == {"old"}  # the horizon moved; the next run deletes it
    assert run_at(clean_db, cut_at(10)).events == 1
