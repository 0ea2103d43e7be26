"""Builds and the watermark: a rebuild after an edit runs beside the readable old results,
and concurrent writers that commit out of `seq` order lose nothing."""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import text

from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import correlate
from flowscope.ingest.service import store_events
from tests.flows.correlation.test_correlator import steps_of
from tests.flows.correlation_support import drain, event, ingest, instances, make_flow


def _build_states(db: Database) -> list[tuple[int, str, bool]]:
    with db.sessions() as s:
        rows = s.execute(text("select version, state, purged from flow_builds order by id")).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_an_edited_flow_is_rebuilt_while_the_old_results_stay_readable(clean_db: Database) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event(f"o{i}", "order.placed", i) for i in range(30)])
    ingest(clean_db, [event(f"o{i}", "payment.captured", 40 + i) for i in range(30)])
    drain(clean_db)
    assert len(instances(clean_db)) == 30
    # v2: payment ends the flow; correlation unchanged.
    make_flow(clean_db, steps=steps_of("order.placed", "payment.captured"))
    with transaction(clean_db.sessions) as session:
        correlate(session, batch_size=10, backfill_batches=1)
    assert _build_states(clean_db) == [(1, "ready", False), (2, "building", False)]
    with clean_db.sessions() as s:
        done, total = s.execute(
            text("select events_done, events_total from flow_builds where version = 2")
        ).one()
    assert (done, total) == (10, 60)
    old = instances(clean_db)
    assert len(old) == 30
    assert old["o1"]["variant"] == ["placed", "paid"]
    ingest(clean_db, [event("late", "order.placed", 99)])  # keeps arriving during the rebuild
    drain(clean_db, batch_size=10)
    assert _build_states(clean_db) == [(1, "retired", True), (2, "ready", False)]
    new = instances(clean_db)
    assert len(new) == 31
    assert new["o1"]["variant"] == ["order.placed", "payment.captured"]
    assert new["o1"]["completed_at"] is not None
    with clean_db.sessions() as s:
        leftovers = s.scalar(text("select count(*) from flow_events where build_id = 1"))
    assert leftovers == 0


def test_a_transaction_that_commits_late_is_not_skipped(clean_db: Database) -> None:
    """A writer takes sequence values, then waits uncommitted while a later writer commits and
    the correlator runs: a "highest seq seen" watermark would pass the early rows for good.
    The later commit is not held back by the open transaction either."""
    make_flow(clean_db)
    drain(clean_db)
    slow = clean_db.sessions()
    try:
        store_events(slow, [event("slow", "order.placed", 0)])
        ingest(clean_db, [event("fast", "order.placed", 1)])
        drain(clean_db)
        assert set(instances(clean_db)) == {"fast"}
        slow.commit()
    finally:
        slow.close()
    drain(clean_db)
    assert set(instances(clean_db)) == {"slow", "fast"}
    with clean_db.sessions() as s:
        seqs = dict(s.execute(text("select attributes->'order'->>'id', seq from events")).all())
    assert seqs["slow"] < seqs["fast"]


def test_concurrent_writers_and_correlator_lose_nothing(clean_db: Database) -> None:
    make_flow(clean_db)
    drain(clean_db)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            for batch in range(15):
                with transaction(clean_db.sessions) as session:
                    store_events(
                        session,
                        [event(f"w{n}-{batch}-{i}", "order.placed", i) for i in range(5)],
                    )
                    time.sleep(rng.random() * 0.02)  # commit in a different order than seq
                    store_events(session, [event(f"w{n}-{batch}-0", "payment.captured", 9)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def correlator() -> None:
        while not stop.is_set():
            with transaction(clean_db.sessions) as session:
                correlate(session, batch_size=7)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    runner = threading.Thread(target=correlator)
    runner.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    runner.join()
    assert not errors
    drain(clean_db)
    rows = instances(clean_db)
    assert len(rows) == 4 * 15 * 5
    assert sum(r["event_count"] for r in rows.values()) == 4 * 15 * 6
    with clean_db.sessions() as s:
        assert s.scalar(text("select count(*) from flow_events")) == 4 * 15 * 6
