"""join, append, `in [subquery]` and fieldsSummary, against hand-written SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from flowscope.query.errors import QueryError
from tests.query.data import IN_WINDOW, SHOP, fql, ingest, make_events, sql


@pytest.fixture
def lab(session: Session) -> Session:
    ingest(session, make_events())
    return session


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def test_inner_join_on_a_shared_field_adds_the_chosen_fields_under_right(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + ' | filter event.type == "order.placed"'
        ' | join [fetch bizevents | filter event.type == "payment.succeeded"'
        " | fields orderId, paidAt = timestamp], on: {orderId}, fields: {paidAt}"
        " | fields orderId, placed = timestamp, right.paidAt | sort orderId",
    )
    want = sql(
        lab,
        "select p.attributes->>'orderId' as \"orderId\", p.timestamp as placed,"
        ' s.timestamp as "right.paidAt" from events p join events s'
        " on s.attributes->'orderId' = p.attributes->'orderId'"
        " and s.type = 'payment.succeeded' and s.timestamp >= :start and s.timestamp < :end"
        " where p.type = 'order.placed' and p.timestamp >= :start and p.timestamp < :end"
        " and p.provider = :provider order by 1",
    )
    assert got == [{k: _iso(v) for k, v in row.items()} for row in want]
    assert 20 < len(got) < 150


def test_left_outer_join_keeps_unmatched_records_with_a_prefix(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + ' | filter event.type == "order.placed"'
        ' | join [fetch bizevents | filter event.type == "payment.failed"'
        " | fields id = orderId, failedAt = timestamp],"
        ' on: {left[orderId] == right[id]}, kind: leftOuter, prefix: "failed."'
        " | summarize orders = count(), failed = countIf(isNotNull(failed.failedAt))",
    )
    want = sql(
        lab,
        "select count(*) as orders, count(f.seq) as failed from events p left join events f"
        " on f.attributes->'orderId' = p.attributes->'orderId' and f.type = 'payment.failed'"
        " and f.timestamp >= :start and f.timestamp < :end"
        " where p.type = 'order.placed' and p.timestamp >= :start and p.timestamp < :end"
        " and p.provider = :provider",
    )
    assert got == want
    assert 0 < got[0]["failed"] < got[0]["orders"]


def test_join_without_fields_adds_the_whole_right_side(lab: Session) -> None:
    (row,) = fql(
        lab,
        SHOP + ' | filter orderId == "O-0003" and event.type == "order.placed"'
        " | join [" + SHOP + " | summarize n = count(), by: {orderId}], on: {orderId}",
    )
    (want,) = sql(
        lab,
        f"select count(*) as n from events where {IN_WINDOW} and attributes->>'orderId' = 'O-0003'",
    )
    assert row["right.n"] == want["n"]
    assert row["right.orderId"] == row["orderId"] == "O-0003"


def test_join_names_what_it_needs(lab: Session) -> None:
    with pytest.raises(QueryError, match="join needs the parameter 'on:'"):
        fql(lab, SHOP + " | join [fetch bizevents]")
    with pytest.raises(QueryError, match="kind: must be inner or leftOuter"):
        fql(lab, SHOP + " | join [fetch bizevents], on: {orderId}, kind: outer")
    with pytest.raises(QueryError, match=r"left\[name\] == right\[name\]"):
        fql(lab, SHOP + " | join [fetch bizevents], on: {revenue > 2}")


def test_append_adds_the_subquery_records_after_the_pipeline(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + " | summarize n = count(), by: {event.type}"
        ' | append [fetch bizevents | filter event.provider == "shop.checkout.v001"'
        ' | summarize n = count() | fieldsAdd event.type = "all"]',
    )
    per_type = sql(
        lab,
        f'select type as "event.type", count(*) as n from events where {IN_WINDOW}'
        " group by 1 order by 1",
    )
    (total,) = sql(lab, f"select count(*) as n from events where {IN_WINDOW}")
    assert got == [*per_type, {"event.type": "all", "n": total["n"]}]


def test_append_of_raw_events_keeps_fields_of_either_side(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + ' | filter event.type == "payment.failed" | fields orderId, a = 1'
        ' | append [data record(b = "x")]',
    )
    (failed,) = sql(
        lab, f"select count(*) as n from events where {IN_WINDOW} and type = 'payment.failed'"
    )
    assert len(got) == failed["n"] + 1
    assert got[-1] == {"orderId": None, "a": None, "b": "x"}
    assert all(r["b"] is None and r["a"] == 1 for r in got[:-1])


def test_in_subquery_keeps_records_whose_value_the_subquery_gives(lab: Session) -> None:
    (got,) = fql(
        lab,
        SHOP + " | filter orderId in [fetch bizevents"
        ' | filter event.type == "payment.failed" | fields orderId] | summarize n = count()',
    )
    (want,) = sql(
        lab,
        f"select count(*) as n from events where {IN_WINDOW} and attributes->>'orderId' in"
        " (select attributes->>'orderId' from events where type = 'payment.failed'"
        " and timestamp >= :start and timestamp < :end)",
    )
    assert got == want
    assert got["n"] > 0
    with pytest.raises(QueryError, match="must give one field"):
        fql(lab, SHOP + " | filter orderId in [fetch bizevents]")


def test_fields_summary_counts_the_values_of_each_field(lab: Session) -> None:
    got = fql(lab, SHOP + " | fieldsSummary event.type, coupon, topValues: 2")
    want = sql(
        lab,
        f"select type, count(*) as n from events where {IN_WINDOW} group by 1"
        " order by 2 desc, 1 limit 2",
    )
    (total,) = sql(lab, f"select count(*) as n from events where {IN_WINDOW}")
    assert got[0] == {
        "field": "event.type",
        "rawCount": total["n"],
        "count": total["n"],
        "values": [{"value": r["type"], "count": r["n"]} for r in want],
    }
    assert got[1] == {"field": "coupon", "rawCount": total["n"], "count": 0, "values": []}
