"""parse (DPL patterns), JSON arrays and records, element-wise series arithmetic and `~`,
against hand-written SQL or values worked out by hand."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from flowscope.query.errors import QueryError
from flowscope.query.presentation import chart_for
from flowscope.query.service import run_query
from tests.query.data import IN_WINDOW, NOW, SHOP, fql, ingest, make_events, sql


@pytest.fixture
def lab(session: Session) -> Session:
    ingest(session, make_events())
    return session


def test_parse_takes_named_captures_from_the_text(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + " | parse event.id, \"'O-' INT:n '-' LD:kind\""
        " | summarize c = count(), by: {n, kind} | sort n, kind",
    )
    want = sql(
        lab,
        "select ((regexp_match(event_id, '^O-(\\d+)-(.*)$'))[1])::float8 as n,"
        " (regexp_match(event_id, '^O-(\\d+)-(.*)$'))[2] as kind, count(*) as c"
        f" from events where {IN_WINDOW} group by 1, 2 order by 1, 2",
    )
    assert got == want
    assert len(got) > 100


def test_parse_knows_the_common_matchers_and_nulls_what_does_not_match(session: Session) -> None:
    line = 'order 12 paid -3.5 by 10.0.0.1 at 2026-11-23T10:00:00Z {"a": [1]} ok'
    got = fql(
        session,
        f'data record(line = """{line}"""), record(line = "nothing here")'
        + " | parse line, \"'order ' INT:id ' paid ' DOUBLE:amount ' by ' IPADDR:ip"
        " ' at ' TIMESTAMP:at SPACE JSON:doc SPACE WORD:word\" | fieldsRemove line",
    )
    assert got == [
        {
            "id": 12,
            "amount": -3.5,
            "ip": "10.0.0.1",
            "at": "2026-11-23T10:00:00+00:00",
            "doc": {"a": [1]},
            "word": "ok",
        },
        dict.fromkeys(("id", "amount", "ip", "at", "doc", "word")),
    ]


def test_parse_escapes_literals_and_ld_at_the_end_takes_the_rest(session: Session) -> None:
    (row,) = fql(
        session,
        'data record(t = "a+b (x)* 42 rest of it") | parse t, "\'a+b (x)* \' INT?:n LD:tail"'
        " | fields n, tail",
    )
    assert row == {"n": 42, "tail": " rest of it"}


def test_parse_names_an_unknown_matcher_and_a_pattern_without_fields(session: Session) -> None:
    with pytest.raises(QueryError, match="DPL matcher 'HOSTNAME' is not supported"):
        fql(session, 'data record(t = "x") | parse t, "HOSTNAME:h"')
    with pytest.raises(QueryError, match="names no field"):
        fql(session, 'data record(t = "x") | parse t, "LD"')


def test_split_string_gives_an_array_with_elements_and_a_size(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + ' | fieldsAdd parts = splitString(event.type, delimiter: ".")'
        " | fieldsAdd first = parts[0], n = arraySize(parts)"
        " | summarize c = count(), by: {first, n}",
    )
    want = sql(
        lab,
        "select split_part(type, '.', 1) as first,"
        " (cardinality(string_to_array(type, '.')))::float8 as n, count(*) as c"
        f" from events where {IN_WINDOW} group by 1, 2 order by 1, 2",
    )
    assert got == want
    (hits,) = fql(
        lab, SHOP + ' | filter in("failed", splitString(event.type, ".")) | summarize c = count()'
    )
    (expected,) = sql(
        lab, f"select count(*) as c from events where {IN_WINDOW} and type like '%.failed'"
    )
    assert hits == expected


def test_array_record_and_index_access(session: Session) -> None:
    (row,) = fql(
        session,
        'data record(x = 5) | fieldsAdd r = record(a = x, b = "y"), arr = array(1, "two", null)'
        ' | fields a = r[a], b = r["b"], second = arr[1], gone = arr[7], r, arr',
    )
    assert row == {
        "a": 5,
        "b": "y",
        "second": "two",
        "gone": None,
        "r": {"a": 5, "b": "y"},
        "arr": [1, "two", None],
    }


def test_to_boolean_timeframe_and_range(session: Session) -> None:
    got = fql(
        session,
        'data record(v = "TRUE"), record(v = "false"), record(v = "maybe")'
        " | fieldsAdd b = toBoolean(v), n = toBoolean(0),"
        ' t = timeframe(from: toTimestamp("2026-11-23T10:00:00Z"), to: now())'
        ' | fieldsAdd h = range(toTimestamp("2026-11-23T10:17:00Z"), interval: 1h)'
        " | fields b, n, start = t[start], h",
    )
    assert [r["b"] for r in got] == [True, False, None]
    assert {r["n"] for r in got} == {False}
    assert got[0]["start"] == "2026-11-23T10:00:00+00:00"
    assert got[0]["h"] == {
        "start": "2026-11-23T10:00:00+00:00",
        "end": "2026-11-23T11:00:00+00:00",
    }


def test_search_operator_is_a_case_insensitive_contains(lab: Session) -> None:
    (got,) = fql(lab, SHOP + ' | filter event.type ~ "PAYMENT" | summarize c = count()')
    (want,) = sql(
        lab, f"select count(*) as c from events where {IN_WINDOW} and type ilike '%payment%'"
    )
    assert got == want
    assert got["c"] > 0


def test_series_arithmetic_is_element_wise(lab: Session) -> None:
    (row,) = fql(
        lab,
        SHOP + " | makeTimeseries {total = count(), failed = countIf(event.type =="
        ' "payment.failed")}, interval: 1h | fieldsAdd share = failed[] / total[],'
        " pct = 100 * failed / total, first = total[0] | fields total, share, pct, first",
    )
    per_hour = sql(
        lab,
        "select h, (count(e.seq) filter (where e.type = 'payment.failed'))::float8"
        " / nullif(count(e.seq), 0) as share from generate_series(:start, :end - interval '1 hour',"
        " interval '1 hour') as h left join events e on e.timestamp >= h"
        " and e.timestamp < h + interval '1 hour' and e.provider = :provider"
        " group by h order by h",
    )
    assert row["share"] == [r["share"] for r in per_hour]
    assert row["pct"] == [None if s is None else pytest.approx(100 * s) for s in row["share"]]
    assert row["first"] == row["total"][0]
    with pytest.raises(QueryError, match="by a number"):
        fql(lab, SHOP + ' | makeTimeseries c = count() | fields x = c["a"]')


def test_default_fills_an_empty_aggregation_and_empty_bins(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + ' | filter event.type == "nope"'
        " | summarize s = sum(revenue, default: 0), m = max(revenue, default: -1)",
    )
    assert got == [{"s": 0, "m": -1}]
    (row,) = fql(
        lab,
        SHOP + ' | filter event.type == "order.placed" and revenue > 400'
        " | makeTimeseries plain = sum(revenue), zero = sum(revenue, default: 0), interval: 1h",
    )
    assert None in row["plain"]  # hours without such an order
    assert row["zero"] == [0 if v is None else v for v in row["plain"]]
    per_hour = sql(
        lab,
        "select coalesce(sum((e.attributes->>'revenue')::float8), 0) as s"
        " from generate_series(:start, :end - interval '1 hour', interval '1 hour') as h"
        " left join events e on e.timestamp >= h and e.timestamp < h + interval '1 hour'"
        " and e.provider = :provider and e.type = 'order.placed'"
        " and (e.attributes->>'revenue')::float8 > 400 group by h order by h",
    )
    assert row["zero"] == pytest.approx([r["s"] for r in per_hour])


@pytest.mark.parametrize(
    "query",
    [
        'data record(t = "{not json}") | parse t, "JSON:j"',
        "data record(a = 1) | fieldsAdd r = range(now(), interval: 0s)",
        "data record(a = 1) | fieldsAdd x = array(1)[99999999999]",
        'data record(t = "2026-02-30T10:00:00Z") | parse t, "TIMESTAMP:at"',
    ],
)
def test_values_the_database_refuses_are_query_errors(session: Session, query: str) -> None:
    with pytest.raises(QueryError, match="could not be converted"):
        fql(session, query)


def test_series_maths_is_charted_as_a_time_series(lab: Session) -> None:
    result = run_query(
        lab,
        SHOP + ' | makeTimeseries {failed = countIf(event.type == "payment.failed"),'
        " total = count()}, interval: 1h | fieldsAdd rate = failed[] / total[] * 100"
        " | fields rate",
        time_from="-24h",
        now=NOW,
    )
    chart = chart_for(result)
    assert chart is not None
    assert chart["kind"] == "timeseries"
    assert [s["name"] for s in chart["series"]] == ["rate"]
    assert len(chart["times"]) == len(chart["series"][0]["values"]) == 24
