"""Property: correlating a log incrementally, in any arrival order and any batching, gives the
same rows as a full rebuild of the same stored events, and as a plain-Python model of the
instance rules applied to the memberships."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from flowscope.db import Database
from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.definitions.schemas import FlowDefinition
from tests.conftest import _truncate_all
from tests.flows.correlation_support import drain, event, ingest, make_flow
from tests.flows.reference_model import Membership, summarize

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
BASE: dict[str, Any] = {"providers": ["shop"], "correlation": "order.id"}
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


def model(memberships: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The rows the plain-Python reference model derives from the same memberships."""
    flow = CompiledFlow.compile(
        FlowDefinition.model_validate({"slug": "m", "name": "M", **BASE, **DEFINITION}),
        build_id=0,
        flow_id=0,
        version=0,
    )
    by_cid: dict[str, list[Membership]] = defaultdict(list)
    for m in memberships:
        by_cid[m["correlation_id"]].append(
            Membership(
                m["seq"], m["timestamp"], m["step"], m["exception"], m["properties"], m["revenue"]
            )
        )
    rows: dict[str, list[Any]] = {
        "flow_instances": [],
        "flow_instance_steps": [],
        "flow_transitions": [],
        "flow_events": memberships,
    }
    for cid in sorted(by_cid):
        r = summarize(flow, cid, by_cid[cid])
        instance = {k: v for k, v in asdict(r).items() if k not in ("steps", "transitions")}
        rows["flow_instances"].append(instance)
        rows["flow_instance_steps"] += [
            {"correlation_id": cid, **asdict(s), "started_at": r.started_at}
            for s in sorted(r.steps, key=lambda s: s.step)
        ]
        rows["flow_transitions"] += [
            {
                "correlation_id": cid,
                "ord": i,
                "source": a,
                "target": b,
                "delay_s": d,
                "started_at": r.started_at,
            }
            for i, (a, b, d) in enumerate(r.transitions)
        ]
    return rows


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
    assert incremental == model(incremental["flow_events"])
    correlated = {cid for cid, type_, *_ in entries if type_ != "unrelated"}
    assert {r["correlation_id"] for r in incremental["flow_instances"]} == correlated
