"""fieldsRename, expand and fetch's storage options, against hand-written SQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from flowscope.query.errors import QueryError
from tests.query.data import IN_WINDOW, SHOP, fql, ingest, make_events, sql


@pytest.fixture
def lab(session: Session) -> Session:
    ingest(session, make_events())
    return session


def test_fields_rename_renames_source_and_computed_fields(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + " | fields orderId, kind = event.type, timestamp | fieldsRename order = orderId,"
        " type = kind | sort timestamp | limit 5",
    )
    want = sql(
        lab,
        "select attributes->>'orderId' as order, type, timestamp from events"
        f" where {IN_WINDOW} order by timestamp limit 5",
    )
    assert [(r["order"], r["type"]) for r in got] == [(r["order"], r["type"]) for r in want]
    assert list(got[0]) == ["order", "type", "timestamp"]  # a renamed field keeps its place
    (row,) = fql(lab, SHOP + " | fieldsRename order = orderId | summarize n = countDistinct(order)")
    (expected,) = sql(
        lab, f"select count(distinct attributes->'orderId') as n from events where {IN_WINDOW}"
    )
    assert row == expected
    gone = fql(lab, SHOP + " | fieldsRename order = orderId | limit 1")
    assert "orderId" not in gone[0]
    assert "order" in gone[0]


def test_expand_gives_one_record_per_element(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + " | summarize types = collectDistinct(event.type), by:{loyalty.tier}"
        " | expand types | sort loyalty.tier, types",
    )
    want = sql(
        lab,
        "select distinct attributes#>>'{loyalty,tier}' as \"loyalty.tier\", type as types"
        f" from events where {IN_WINDOW} order by 1 nulls last, 2",
    )
    assert got == want
    assert len(got) > 3


def test_expand_refuses_what_is_not_an_array(lab: Session) -> None:
    with pytest.raises(QueryError, match="expand needs an array, not a string"):
        fql(lab, SHOP + " | expand event.type")


def test_fetch_storage_options_are_accepted_and_change_nothing(lab: Session) -> None:
    plain = fql(lab, SHOP + " | summarize n = count()")
    for option in ("scanLimitGBytes: 100", "samplingRatio: 10", 'bucket: {"default_bizevents"}'):
        query = SHOP.replace("bizevents", f"bizevents, {option}", 1)
        assert fql(lab, query + " | summarize n = count()") == plain


def test_data_makes_inline_records(session: Session) -> None:
    got = fql(
        session,
        'data record(a = 1, b = "x"), record(a = 2.5), record(b = "y", c = true)'
        " | fieldsAdd twice = a * 2",
    )
    assert got == [
        {"a": 1.0, "b": "x", "c": None, "twice": 2.0},
        {"a": 2.5, "b": None, "c": None, "twice": 5.0},
        {"a": None, "b": "y", "c": True, "twice": None},
    ]
    (total,) = fql(
        session,
        'data record(t = "order.placed", r = 10), record(t = "order.placed", r = 5),'
        ' record(t = "payment.failed", r = 1) | summarize n = count(), r = sum(r), by:{t}'
        " | sort t | limit 1",
    )
    assert total == {"t": "order.placed", "n": 2, "r": 15.0}


def test_data_refuses_what_is_not_a_record(session: Session) -> None:
    with pytest.raises(QueryError, match="data takes records"):
        fql(session, "data 1, 2")
    with pytest.raises(QueryError, match="only allowed in record"):
        fql(session, "fetch bizevents | fields x = concat(a = 1)")
