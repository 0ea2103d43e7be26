"""The correlator: steps, branches, loops, exceptions, correlation, ordering, duplicates,
rebuilds after an edit, and the transaction-id watermark under concurrent writers."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import apply_events, correlate
from flowscope.flows.correlation.jobs import JOBS, correlate_job
from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.definitions.schemas import FlowDefinition
from tests.flows.correlation_support import T0, drain, event, ingest, instances, make_flow
from tests.flows.factories import make_shop_flow


def steps_of(*keys: str, **extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": k, "name": k.title(), "events": [{"type": k}], **extra.get(k, {})} for k in keys
    ]


def test_events_in_order_make_one_completed_instance(clean_db: Database) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event("A", "order.placed", 0), event("A", "payment.captured", 5)])
    drain(clean_db)
    assert instances(clean_db)["A"]["completed_at"] is None
    ingest(clean_db, [event("A", "parcel.shipped", 50), event("B", "order.placed", 1)])
    drain(clean_db)
    rows = instances(clean_db)
    a = rows["A"]
    assert a["variant"] == ["placed", "paid", "shipped"]
    assert a["completed_at"] == a["last_event_at"]
    assert a["duration_s"] == 3000
    assert a["current_step"] == "shipped"
    assert a["skipped_steps"] == []
    assert a["out_of_order"] == []
    assert set(a["steps"]) == {"placed", "paid", "shipped"}
    assert rows["B"]["variant"] == ["placed"]


def test_older_event_arriving_later_takes_its_place_in_time(clean_db: Database) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event("A", "payment.captured", 5), event("A", "parcel.shipped", 9)])
    drain(clean_db)
    assert instances(clean_db)["A"]["skipped_steps"] == ["placed"]
    ingest(clean_db, [event("A", "order.placed", 0)])
    drain(clean_db)
    a = instances(clean_db)["A"]
    assert a["variant"] == ["placed", "paid", "shipped"]
    assert a["started_at"] == T0
    assert a["skipped_steps"] == []
    assert a["out_of_order"] == []


def test_duplicates_change_nothing(clean_db: Database) -> None:
    make_flow(clean_db)
    first = event("A", "order.placed", 0, event_id="e1")
    ingest(clean_db, [first, event("A", "payment.captured", 1)])
    ingest(clean_db, [event("A", "order.placed", 0, event_id="e1")])  # a client retry
    drain(clean_db)
    before = instances(clean_db)
    # The correlator reading the same events again (e.g. after a crash) changes nothing.
    with transaction(clean_db.sessions) as session:
        build_id, flow_def = session.execute(
            text("select b.id, f.definition from flow_builds b join flows f on f.id = b.flow_id")
        ).one()
        rows = session.execute(
            text('select seq, provider, type, "timestamp", attributes from events')
        ).all()
        flow = CompiledFlow.compile(
            FlowDefinition.model_validate(flow_def), build_id=build_id, flow_id=0, version=1
        )
        apply_events(session, [flow], [tuple(r) for r in rows])
    assert instances(clean_db) == before
    assert before["A"]["event_count"] == 2


def test_branches_and_a_join(clean_db: Database) -> None:
    make_flow(
        clean_db,
        steps=steps_of("start", "card", "invoice", "done"),
        edges=[
            {"from": "start", "to": "card"},
            {"from": "start", "to": "invoice"},
            {"from": "card", "to": "done"},
            {"from": "invoice", "to": "done"},
        ],
    )
    ingest(
        clean_db,
        [
            *(event("A", t, i) for i, t in enumerate(["start", "card", "done"])),
            *(event("B", t, i) for i, t in enumerate(["start", "invoice", "done"])),
            *(event("C", t, i) for i, t in enumerate(["start", "done"])),
            *(event("D", t, i) for i, t in enumerate(["start", "card", "invoice"])),
        ],
    )
    drain(clean_db)
    rows = instances(clean_db)
    for cid in "AB":
        assert rows[cid]["completed_at"] is not None
        assert rows[cid]["skipped_steps"] == []
        assert rows[cid]["out_of_order"] == []
    assert rows["C"]["skipped_steps"] == ["card"]  # a required step on the shortest path
    assert rows["D"]["out_of_order"] == ["card>invoice"]  # the other branch: no edge leads there
    assert rows["D"]["completed_at"] is None


def test_loops_and_self_edges(clean_db: Database) -> None:
    make_flow(
        clean_db,
        steps=steps_of("a", "b", "c"),
        edges=[
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},
            {"from": "b", "to": "b"},
            {"from": "b", "to": "c"},
        ],
    )
    ingest(clean_db, [event("L", t, i) for i, t in enumerate(["a", "b", "b", "a", "b", "c"])])
    drain(clean_db)
    row = instances(clean_db)["L"]
    assert row["variant"] == ["a", "b", "b", "a", "b", "c"]
    assert row["out_of_order"] == []
    assert row["skipped_steps"] == []
    assert row["steps"]["b"]["count"] == 3
    assert row["steps"]["a"]["count"] == 2
    assert row["completed_at"] == T0.replace(minute=5)
    with clean_db.sessions() as s:
        pairs = s.execute(text("select source, target from flow_transitions order by ord")).all()
    assert [tuple(p) for p in pairs] == [("a", "b"), ("b", "b"), ("b", "a"), ("a", "b"), ("b", "c")]


def test_repeating_a_step_without_a_self_edge_is_against_the_edges(clean_db: Database) -> None:
    make_flow(clean_db, steps=steps_of("a", "b"))
    ingest(clean_db, [event("R", t, i) for i, t in enumerate(["a", "b", "b"])])
    drain(clean_db)
    row = instances(clean_db)["R"]
    assert row["out_of_order"] == ["b>b"]
    assert row["completed_at"] == T0.replace(minute=1)  # the first arrival at the end step


def test_optional_steps_may_be_skipped_required_ones_not(clean_db: Database) -> None:
    make_flow(
        clean_db, steps=steps_of("placed", "gift", "paid", "shipped", gift={"optional": True})
    )
    ingest(
        clean_db,
        [
            *(event("A", t, i) for i, t in enumerate(["placed", "paid", "shipped"])),
            *(event("B", t, i) for i, t in enumerate(["placed", "gift", "paid", "shipped"])),
            *(event("C", t, i) for i, t in enumerate(["placed", "shipped"])),
            *(event("D", t, i) for i, t in enumerate(["paid", "placed"])),
        ],
    )
    drain(clean_db)
    rows = instances(clean_db)
    assert rows["A"]["skipped_steps"] == []
    assert rows["B"]["skipped_steps"] == []
    assert rows["C"]["skipped_steps"] == ["paid"]
    assert rows["D"]["skipped_steps"] == ["placed"]
    assert rows["D"]["out_of_order"] == ["paid>placed"]


def test_business_exception_by_event_type(clean_db: Database) -> None:
    make_shop_flow(clean_db, shipped=False, revenue={"field": "amount", "step": "paid"})
    ingest(
        clean_db,
        [
            event("A", "order.placed", 0),
            event("A", "payment.declined", 1, attrs={"amount": 50}),
            event("A", "payment.captured", 2, attrs={"amount": 50}),
            event("B", "order.placed", 0),
        ],
    )
    drain(clean_db)
    rows = instances(clean_db)
    a = rows["A"]
    assert (a["has_exception"], a["exception_step"], a["exception_name"]) == (
        True,
        "paid",
        "declined",
    )
    assert a["steps"]["paid"]["exception"] == "declined"
    assert a["steps"]["paid"]["count"] == 2
    assert a["revenue"] == 50  # the declined payment brings no revenue
    assert a["completed_at"] is not None
    assert rows["B"]["has_exception"] is False


def test_business_exception_by_condition(clean_db: Database) -> None:
    rules = [
        {"name": "large", "field": "order.total", "op": "gt", "value": 1000},
        {"name": "blocked country", "field": "country", "op": "in", "value": ["XX", "YY"]},
        {"name": "flagged", "field": "fraud.flag", "op": "exists"},
    ]
    make_flow(
        clean_db,
        steps=[
            {
                "key": "placed",
                "name": "P",
                "events": [{"type": "order.placed"}],
                "exceptions": rules,
            }
        ],
    )
    ingest(
        clean_db,
        [
            event("big", "order.placed", attrs={"order": {"total": 1500}}),
            event("small", "order.placed", attrs={"order": {"total": 10}}),
            event("text", "order.placed", attrs={"order": {"total": "2000"}}),  # no coercion
            event("xx", "order.placed", attrs={"country": "XX"}),
            event("fraud", "order.placed", attrs={"fraud": {"flag": False}}),
        ],
    )
    drain(clean_db)
    got = {cid: r["exception_name"] for cid, r in instances(clean_db).items()}
    assert got == {
        "big": "large",
        "small": None,
        "text": None,
        "xx": "blocked country",
        "fraud": "flagged",
    }


def test_per_step_correlation_path_and_ignored_events(clean_db: Database) -> None:
    make_flow(
        clean_db,
        steps=[
            {"key": "placed", "name": "P", "events": [{"type": "order.placed"}]},
            {
                "key": "shipped",
                "name": "S",
                "events": [{"type": "parcel.shipped"}],
                "correlation": "shipment.order_ref",
            },
        ],
    )
    ingest(
        clean_db,
        [
            event("A", "order.placed", 0),
            event(None, "parcel.shipped", 5, attrs={"shipment": {"order_ref": "A"}}),
            event("A", "parcel.shipped", 6),  # carries order.id only: not this step's path
            event(None, "order.placed", 1),  # no correlation id
            event("A", "order.cancelled", 2),  # not a step of the flow
            event("A", "order.placed", 3, provider="other"),  # not one of the flow's providers
        ],
    )
    drain(clean_db)
    rows = instances(clean_db)
    assert list(rows) == ["A"]
    assert rows["A"]["variant"] == ["placed", "shipped"]


def test_properties_and_revenue_are_captured(clean_db: Database) -> None:
    make_flow(
        clean_db,
        revenue={"field": "order.total", "step": "placed", "aggregate": "sum"},
        steps=[
            {
                "key": "placed",
                "name": "P",
                "events": [{"type": "order.placed"}],
                "properties": [
                    {"name": "tier", "path": "customer.tier"},
                    {"name": "items", "path": "order.items", "type": "number"},
                ],
            },
            {
                "key": "paid",
                "name": "Paid",
                "events": [{"type": "payment.captured"}],
                "properties": [{"name": "tier", "path": "tier"}],
            },
        ],
    )
    ingest(
        clean_db,
        [
            event("A", "order.placed", 0, attrs={"order": {"total": 10.5, "items": "3"}}),
            event(
                "A",
                "order.placed",
                1,
                attrs={"order": {"total": "4.5"}, "customer": {"tier": "gold"}},
            ),
            event("A", "payment.captured", 2, attrs={"tier": "platinum"}),
        ],
    )
    drain(clean_db)
    a = instances(clean_db)["A"]
    assert a["revenue"] == 15
    assert a["properties"] == {"tier": "platinum", "items": 3.0}  # the latest value wins


def test_a_flow_of_250_steps(clean_db: Database) -> None:
    keys = [f"s{i}" for i in range(250)]
    make_flow(clean_db, steps=steps_of(*keys))
    ingest(
        clean_db,
        [
            *(event("full", k, i) for i, k in enumerate(keys)),
            *(event("gap", k, i) for i, k in enumerate(keys) if k != "s100"),
        ],
    )
    drain(clean_db, batch_size=97)
    rows = instances(clean_db)
    assert len(rows["full"]["steps"]) == 250
    assert rows["full"]["completed_at"] is not None
    assert rows["full"]["skipped_steps"] == []
    assert rows["gap"]["skipped_steps"] == ["s100"]


def test_nothing_to_do_without_flows(clean_db: Database) -> None:
    ingest(clean_db, [event("A", "order.placed")])
    with transaction(clean_db.sessions) as session:
        assert correlate(session) == 0


def test_the_scheduled_job_correlates_in_its_own_transaction(clean_db: Database) -> None:
    assert [(j.id, j.every_seconds) for j in JOBS] == [("correlate", 1.0)]
    make_flow(clean_db)
    ingest(clean_db, [event("A", "order.placed", 0)])
    deadline = time.monotonic() + 60
    while "A" not in instances(clean_db):  # other test runs on the server may hold it back
        assert time.monotonic() < deadline
        correlate_job(clean_db)
