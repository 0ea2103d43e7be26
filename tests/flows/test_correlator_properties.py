"""Property: correlating a log incrementally, in any arrival order and any batching, gives the
same rows as a full rebuild of the same stored events."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from flowscope.db import Database
from tests.conftest import _truncate_all
from tests.flows.correlation_support import drain, event, ingest, make_flow

STEPS = [
    {
        "key": "a",
        "name": "A",
        "events": [{"type": "a"}],
        "properties": [{"name": "tier", "path": "tier"}],
    },
    {"key": "b", "name": "B", "events": [{"type": "b"}], "optional": True},
    {
        "key": "c",
        "name": "C",
        "events": [{"type": "c"}],
        "exceptions": [
            {"name": "failed", "type": "c.failed"},
            {"name": "big", "field": "amount", "op": "gte", "value": 5},
        ],
        "timeouts": {"stall": "5m", "drop": "1h"},
    },
    {"key": "d", "name": "D", "events": [{"type": "d"}]},
]
EDGES = [
    {"from": "a", "to": "b"},
    {"from": "b", "to": "c"},
    {"from": "a", "to": "c"},
    {"from": "c", "to": "c"},
    {"from": "c", "to": "a"},
    {"from": "c", "to": "d"},
]
DEFINITION: dict[str, Any] = {
    "steps": STEPS,
    "edges": EDGES,
    "revenue": {"field": "amount", "step": "c", "aggregate": "max"},
}

log_entries = st.lists(
    st.tuples(
        st.sampled_from(["o1", "o2", "o3", "o4"]),
        st.sampled_from(["a", "b", "c", "d", "c.failed", "unrelated"]),
        st.integers(0, 20),  # minutes: ties happen
        st.integers(0, 9),  # amount
        st.sampled_from(["gold", "silver"]),
    ),
    min_size=1,
    max_size=30,
)


def snapshot(db: Database, slug: str) -> dict[str, list[Any]]:
    build = (
        "(select b.id from flow_builds b join flows f on f.id = b.flow_id "
        f"where f.slug = '{slug}' and b.state = 'ready')"
    )
    result = {}
    with db.sessions() as s:
        for table, order in [
            ("flow_instances", "correlation_id"),
            ("flow_instance_steps", "correlation_id, step"),
            ("flow_transitions", "correlation_id, ord"),
            ("flow_events", "correlation_id, seq"),
        ]:
            rows = s.execute(
                text(f"select * from {table} where build_id = {build} order by {order}")  # noqa: S608
            ).mappings()
            result[table] = [{k: v for k, v in r.items() if k != "build_id"} for r in rows]
    return result


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=log_entries, data=st.data())
def test_incremental_in_any_order_and_batching_equals_a_full_rebuild(
    clean_db: Database, entries: list[tuple[str, str, int, int, str]], data: st.DataObject
) -> None:
    _truncate_all(clean_db)
    make_flow(clean_db, slug="incremental", **DEFINITION)
    events = [
        event(cid, type_, minute, attrs={"amount": amount, "tier": tier})
        for cid, type_, minute, amount, tier in entries
    ]
    arrival = data.draw(st.permutations(events), label="arrival order")
    position = 0
    while position < len(arrival):
        size = data.draw(st.integers(1, len(arrival) - position), label="ingest chunk")
        ingest(clean_db, arrival[position : position + size])
        position += size
        drain(clean_db, batch_size=data.draw(st.integers(1, 8), label="batch size"))
    make_flow(clean_db, slug="rebuilt", **DEFINITION)  # a new flow: built from stored events
    drain(clean_db, batch_size=1000)
    incremental, rebuilt = snapshot(clean_db, "incremental"), snapshot(clean_db, "rebuilt")
    assert incremental == rebuilt
    correlated = {cid for cid, type_, *_ in entries if type_ != "unrelated"}
    assert {r["correlation_id"] for r in incremental["flow_instances"]} == correlated
