"""A rebuild stores memberships first and computes instance rows per correlation id after:
interleaved with live events, with instances larger than a batch, on several connections at
once, and after a run that failed, its rows equal those of a build made in one go."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

from flowscope.db import Database, make_sessionmaker, transaction
from flowscope.flows.correlation import correlator, materialization
from flowscope.flows.correlation.correlator import correlate
from tests.flows.analysis.rollup_support import from_scratch, stored
from tests.flows.correlation.test_correlator import steps_of
from tests.flows.correlation_support import (
    comparable,
    drain,
    event,
    ingest,
    instances,
    make_flow,
)

V2 = steps_of("order.placed", "payment.captured", "parcel.shipped")


def transitions(db: Database, slug: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    with db.sessions() as s:
        rows = s.execute(
            text(
                """
                select t.correlation_id, t.ord, t.source, t.target, t.delay_s, t.started_at
                from flow_transitions t
                where t.build_id = (
                  select b.id from flow_builds b join flows f on f.id = b.flow_id
                  where f.slug = :slug and b.state = 'ready' order by b.id desc limit 1)
                """
            ),
            {"slug": slug},
        ).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def _state(db: Database, slug: str) -> tuple[int, bool, bool]:
    with db.sessions() as s:
        row = s.execute(
            text(
                """
                select b.version, b.backfill_done, b.materialized from flow_builds b
                join flows f on f.id = b.flow_id where f.slug = :slug order by b.id desc limit 1
                """
            ),
            {"slug": slug},
        ).one()
    return row[0], row[1], row[2]


def _same_as_fresh(db: Database) -> None:
    """The rebuilt `orders` equals `fresh`, the same definition built from scratch now."""
    make_flow(db, slug="fresh", name="Fresh", steps=V2)
    drain(db, batch_size=100_000)
    assert comparable(instances(db)) == comparable(instances(db, "fresh"))
    assert transitions(db, "orders") == transitions(db, "fresh")


def test_a_rebuild_interleaved_with_live_events_equals_a_build_in_one_go(
    clean_db: Database,
) -> None:
    make_flow(clean_db)
    for k in range(4):  # instances spread over several transactions, some out of time order
        ingest(clean_db, [event(f"o{i}", "order.placed", 10 * i + k) for i in range(k, 40, 4)])
    ingest(clean_db, [event(f"o{i}", "payment.captured", 500 + i) for i in range(0, 40, 3)])
    drain(clean_db)
    make_flow(clean_db, steps=V2)
    seen = set()
    for run in range(200):
        with transaction(clean_db.sessions) as session:
            correlate(session, batch_size=7, backfill_batches=1)
        seen.add(_state(clean_db, "orders"))
        if run < 12:  # live events for instances before and after the materialization cursor
            ingest(
                clean_db,
                [
                    event(f"o{(run * 7) % 40}", "parcel.shipped", 900 + run),
                    event(f"o{(run * 11) % 40}", "payment.captured", 1 + run),  # older: restamp
                    event(f"new{run}", "order.placed", 950 + run),
                ],
            )
        elif _state(clean_db, "orders") == (2, True, True):
            break
    # The rebuild went through its phases one run at a time.
    assert {(2, False, False), (2, True, False), (2, True, True)} <= seen
    drain(clean_db)
    _same_as_fresh(clean_db)
    assert len(instances(clean_db)) == 52


def test_an_instance_larger_than_a_batch_is_materialized_on_its_own(clean_db: Database) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event("big", "order.placed", 0)])
    ingest(clean_db, [event("big", "payment.captured", m) for m in range(1, 30)])
    ingest(clean_db, [event("a", "order.placed", 3), event("z", "order.placed", 4)])
    drain(clean_db)
    make_flow(clean_db, steps=V2)
    for _ in range(100):
        with transaction(clean_db.sessions) as session:
            correlate(session, batch_size=5, backfill_batches=2)
        if _state(clean_db, "orders") == (2, True, True):
            break
    drain(clean_db)
    rows = instances(clean_db)
    assert rows["big"]["event_count"] == 30
    assert rows["big"]["variant"] == ["order.placed"] + ["payment.captured"] * 29
    _same_as_fresh(clean_db)


def _build_id(db: Database) -> int:
    with db.sessions() as s:
        return int(s.scalar(text("select max(id) from flow_builds")) or 0)


def _edited_after_orders(db: Database) -> None:
    """60 instances over several transactions and hours, some with a late earlier event,
    correlated; then the flow is edited, so the next runs rebuild it."""
    ingest(db, [event(f"o{i:02}", "order.placed", 37 * i) for i in range(60)])
    ingest(db, [event(f"o{i:02}", "payment.captured", 37 * i + 5) for i in range(0, 60, 2)])
    ingest(db, [event(f"o{i:02}", "parcel.shipped", 37 * i + 90) for i in range(0, 60, 3)])
    ingest(db, [event(f"o{i:02}", "payment.captured", 37 * i - 1) for i in range(1, 60, 5)])
    make_flow(db)
    drain(db)
    make_flow(db, steps=V2)


def test_ranges_are_materialized_on_several_connections_at_once(
    clean_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edited_after_orders(clean_db)
    rounds: list[set[int]] = []
    real = materialization._committed_range

    def recorded(conn: Any, *args: Any) -> int:
        rounds[-1].add(conn.info.backend_pid)
        return real(conn, *args)

    monkeypatch.setattr(materialization, "_committed_range", recorded)
    for _ in range(100):
        rounds.append(set())
        with transaction(clean_db.sessions) as session:
            correlate(session, batch_size=12, backfill_batches=4)
        if _state(clean_db, "orders") == (2, True, True):
            break
    # Each round's ranges ran on two pooled connections (neither is the run's own), each
    # range committed on its own; the rows and their rollups are those of a build in one go.
    assert max(len(pids) for pids in rounds) == materialization.WORKERS == 2
    build = _build_id(clean_db)
    assert stored(clean_db, build) == from_scratch(clean_db, build)
    _same_as_fresh(clean_db)


def test_a_round_whose_run_failed_after_it_is_done_again_with_the_same_rows(
    clean_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edited_after_orders(clean_db)
    while _state(clean_db, "orders") != (2, True, False):  # backfilled, not materialized
        with transaction(clean_db.sessions) as session:
            correlate(session, batch_size=12, backfill_batches=2)
    build = _build_id(clean_db)

    def fails(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the run fails after its materialization round")

    monkeypatch.setattr(correlator, "_follow", fails)
    with pytest.raises(RuntimeError), transaction(clean_db.sessions) as session:
        correlate(session, batch_size=12, backfill_batches=2)
    # The round's ranges were committed by their connections; the cursor was not.
    with clean_db.sessions() as s:
        materialized = s.scalar(
            text("select count(*) from flow_instances where build_id = :b"), {"b": build}
        )
        cursor = s.scalar(
            text("select materialize_from from flow_builds where id = :b"), {"b": build}
        )
    assert materialized
    assert cursor is None
    monkeypatch.undo()
    for _ in range(100):
        with transaction(clean_db.sessions) as session:
            correlate(session, batch_size=12, backfill_batches=2)
        if _state(clean_db, "orders") == (2, True, True):
            break
    assert stored(clean_db, build) == from_scratch(clean_db, build)
    _same_as_fresh(clean_db)


def test_with_no_connection_to_spare_the_run_materializes_on_its_own(clean_db: Database) -> None:
    _edited_after_orders(clean_db)
    # One connection in all: the run holds it, so neither a worker nor the reader ahead can
    # have one (each waits the pool's timeout, then the run does the work itself).
    engine = create_engine(clean_db.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    sessions = make_sessionmaker(engine)
    try:
        for _ in range(100):
            with transaction(sessions) as session:
                correlate(session, batch_size=12, backfill_batches=4)
            if _state(clean_db, "orders") == (2, True, True):
                break
    finally:
        engine.dispose()
    build = _build_id(clean_db)
    assert stored(clean_db, build) == from_scratch(clean_db, build)
    _same_as_fresh(clean_db)
