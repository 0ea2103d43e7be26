"""Answers a pasted Dynatrace query must give, each checked against hand-written SQL on the
same events (the lab's seeded data set), not against FQL's own compiler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from tests.query.data import (
    IN_WINDOW,
    NOW,
    PAID,
    PLACED,
    PROVIDER,
    SHIPPED,
    fql,
    ingest,
    make_events,
    sql,
)


@pytest.fixture
def lab(session: Session) -> Session:
    ingest(session, make_events())
    return session


def test_take_first_and_last_skip_nulls_as_dql_documents(lab: Session) -> None:
    got = fql(
        lab,
        f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| summarize placed = takeFirst(if(event.type == "{PLACED}", timestamp)),
            paid = takeFirst(if(event.type == "{PAID}", timestamp)),
            shipped = takeLast(if(event.type == "{SHIPPED}", timestamp)),
            revenue = takeLast(revenue),
            by: {{orderId}}
| fieldsAdd toPay = paid - placed
| summarize orders = count(), paidOrders = countIf(isNotNull(toPay)),
            shippedOrders = countIf(isNotNull(shipped)),
            p50 = percentile(toPay, 50), revenue = sum(revenue)""",
    )
    expected = sql(
        lab,
        f"""select count(*) as orders, count(paid - placed) as "paidOrders",
            count(shipped) as "shippedOrders",
            percentile_cont(0.5) within group (
                order by extract(epoch from paid - placed) * 1e9) as p50,
            sum(revenue) as revenue
        from (select attributes -> 'orderId' as order_id,
                     min(timestamp) filter (where type = '{PLACED}') as placed,
                     min(timestamp) filter (where type = '{PAID}') as paid,
                     max(timestamp) filter (where type = '{SHIPPED}') as shipped,
                     (array_agg((attributes ->> 'revenue')::float order by timestamp desc, seq desc)
                        filter (where attributes ? 'revenue'))[1] as revenue
              from events where {IN_WINDOW} group by 1) as per_order""",
    )
    (row,) = got
    (want,) = expected
    assert want["paidOrders"] > 0
    assert want["shippedOrders"] > 0
    assert {k: row[k] for k in ("orders", "paidOrders", "shippedOrders")} == {
        k: want[k] for k in ("orders", "paidOrders", "shippedOrders")
    }
    assert row["p50"] == pytest.approx(float(want["p50"]))
    assert row["revenue"] == pytest.approx(want["revenue"])


def test_max_and_min_compare_text_attributes_as_text(lab: Session) -> None:
    got = fql(
        lab,
        f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| summarize top = max(loyalty.tier), bottom = min(loyalty.tier),
            lastOrder = takeMax(orderId), firstOrder = takeMin(orderId),
            lastType = max(event.type), most = max(revenue), by: {{event.type}}""",
    )
    expected = sql(
        lab,
        """select type as "event.type",
            max(attributes #>> '{loyalty,tier}' collate "C") as top,
            min(attributes #>> '{loyalty,tier}' collate "C") as bottom,
            max(attributes ->> 'orderId' collate "C") as "lastOrder",
            min(attributes ->> 'orderId' collate "C") as "firstOrder",
            max(type) as "lastType", max((attributes ->> 'revenue')::float) as most
        from events where """
        + IN_WINDOW
        + " group by 1 order by 1",
    )
    assert got == expected
    placed = next(r for r in got if r["event.type"] == PLACED)
    assert (placed["top"], placed["bottom"]) == ("silver", "bronze")


def test_every_business_event_has_the_grail_standard_fields(lab: Session) -> None:
    (count,) = fql(
        lab,
        'fetch bizevents | filter event.kind == "BIZ_EVENT" and event.provider == "'
        + PROVIDER
        + '" | summarize n = count()',
    )
    (expected,) = sql(lab, f"select count(*) as n from events where {IN_WINDOW}")
    assert count == expected
    assert expected["n"] > 0
    first = fql(
        lab,
        f'fetch bizevents | filter event.provider == "{PROVIDER}" | sort timestamp | limit 1'
        " | fields timestamp, event.id, event.kind, event.provider, event.type",
    )
    want = sql(
        lab,
        """select timestamp, event_id as "event.id", 'BIZ_EVENT' as "event.kind",
            provider as "event.provider", type as "event.type"
        from events where """
        + IN_WINDOW
        + " order by timestamp, seq limit 1",
    )
    assert [{**r, "timestamp": None} for r in first] == [{**r, "timestamp": None} for r in want]


def test_kind_is_not_taken_from_an_attribute_of_the_same_name(session: Session) -> None:
    event = NewEvent("p", "k1", "t", NOW - timedelta(minutes=1), {"event.kind": "OTHER"})
    ingest(session, [event])
    assert fql(session, 'fetch bizevents | filter event.kind == "BIZ_EVENT" | fields event.id')


def test_summarize_returns_groups_in_a_stable_order_without_sort(lab: Session) -> None:
    query = f"""fetch bizevents | filter event.provider == "{PROVIDER}"
| summarize n = count(), by: {{orderId, event.type}}"""
    expected = sql(
        lab,
        """select attributes -> 'orderId' as o, type, count(*) as n from events
        where """
        + IN_WINDOW
        + " group by 1, 2 order by 1, 2",
    )
    # the planner's choice decides the order when nothing asks for one: make it pick hashing
    lab.execute(text("set local enable_sort = off"))
    got = fql(lab, query)
    assert len(got) > 100  # enough groups that hash aggregation would scramble them
    assert [(r["orderId"], r["event.type"], r["n"]) for r in got] == [
        (r["o"], r["type"], r["n"]) for r in expected
    ]
