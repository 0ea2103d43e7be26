"""Property: after retention, the flow rows equal a rebuild from the events that are left
(and the reference model of those memberships), whatever the cutoff and batch size."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowscope.db import Database
from tests.conftest import _truncate_all
from tests.flows.analysis.rollup_support import from_scratch, stored
from tests.flows.correlation.test_correlator_properties import (
    DEFINITION,
    log_entries,
    model,
    snapshot,
)
from tests.flows.correlation_support import drain, event, ingest, make_flow
from tests.retention.support import cut_at, event_ids, run_at


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    entries=log_entries,
    cut=st.integers(0, 21),
    batch_size=st.integers(1, 6),
)
def test_retention_leaves_what_a_rebuild_of_the_remaining_events_gives(
    clean_db: Database, entries: list[tuple[str, str, int, int, str]], cut: int, batch_size: int
) -> None:
    _truncate_all(clean_db)
    make_flow(clean_db, slug="kept", **DEFINITION)
    events = [
        event(cid, type_, minute, event_id=f"e{n}", attrs={"amount": amount, "tier": tier})
        for n, (cid, type_, minute, amount, tier) in enumerate(entries)
    ]
    ingest(clean_db, events)
    drain(clean_db, batch_size=7)
    result = run_at(clean_db, cut_at(cut), batch_size=batch_size)
    assert result.complete
    left = {f"e{n}" for n, (_, _, minute, *_) in enumerate(entries) if minute >= cut}
    assert event_ids(clean_db) == left
    make_flow(clean_db, slug="rebuilt", **DEFINITION)  # a new flow: built from stored events
    drain(clean_db, batch_size=1000)
    kept, rebuilt = snapshot(clean_db, "kept"), snapshot(clean_db, "rebuilt")
    for build_id in builds(clean_db):  # the rollups moved with the rows retention changed
        assert stored(clean_db, build_id) == from_scratch(clean_db, build_id)
    assert kept == rebuilt
    assert kept == model(kept["flow_events"])
    correlated: set[Any] = {
        cid for cid, type_, minute, *_ in entries if type_ != "unrelated" and minute >= cut
    }
    assert {r["correlation_id"] for r in kept["flow_instances"]} == correlated


def builds(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return list(conn.exec_driver_sql("select id from flow_builds order by id").scalars())
