"""A rebuild stores memberships first and computes instance rows per correlation id after:
interleaved with live events, and with instances larger than a batch, its rows equal those
of a build made in one go."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import correlate
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
