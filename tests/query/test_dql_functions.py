"""The DQL functions and syntax added for the corpus, each checked against hand-written SQL
(or Python) on the seeded shop events, not against FQL's own compiler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from tests.query.data import (
    IN_WINDOW,
    NOW,
    PROVIDER,
    SHOP,
    fql,
    in_window,
    ingest,
    make_events,
    sql,
)


@pytest.fixture(scope="module")
def events() -> list[NewEvent]:
    return make_events()


@pytest.fixture
def lab(session: Session, events: list[NewEvent]) -> Session:
    ingest(session, events)
    return session


def test_text_matchers_match_like_dql(lab: Session) -> None:
    (got,) = fql(
        lab,
        SHOP + ' | summarize phrase = countIf(matchesPhrase(event.type, "SHIPPED")),'
        ' part = countIf(matchesPhrase(event.type, "ship")),'
        ' value = countIf(matchesValue(event.type, "ORDER.PLACED")),'
        ' exact = countIf(matchesValue(event.type, "ORDER.PLACED", caseSensitive: true)),'
        ' prefix = countIf(matchesValue(event.type, "order.*")),'
        ' liked = countIf(like(orderId, "O-00%")),'
        ' dot = countIf(indexOf(event.type, ".") == 5),'
        ' later = countIf(indexOf(event.type, ".", from: 6) == 13),'
        " longest = max(stringLength(event.type))",
    )
    (want,) = sql(
        lab,
        "select count(*) filter (where type in ('order.shipped', 'order.shipped.error'))"
        " as phrase, 0 as part, count(*) filter (where type = 'order.placed') as value,"
        " 0 as exact, count(*) filter (where type like 'order.%') as prefix,"
        " count(*) filter (where attributes->>'orderId' like 'O-00%') as liked,"
        " count(*) filter (where position('.' in type) = 6) as dot,"
        " count(*) filter (where type = 'order.shipped.error') as later,"
        f" max(length(type)) as longest from events where {IN_WINDOW}",
    )
    assert want["phrase"] > 0
    assert want["liked"] > 0
    assert want["later"] > 0
    assert got == {k: float(v) if k == "longest" else v for k, v in want.items()}


def test_time_parts_are_utc_and_iso(lab: Session, events: list[NewEvent]) -> None:
    got = fql(
        lab,
        SHOP + " | sort timestamp | limit 20 | fields y = getYear(timestamp),"
        " mo = getMonth(timestamp), d = getDayOfMonth(timestamp), h = getHour(timestamp),"
        " mi = getMinute(timestamp), s = getSecond(timestamp), wd = getDayOfWeek(timestamp),"
        " doy = getDayOfYear(timestamp), wk = getWeekOfYear(timestamp)",
    )
    mine = [e for e in events if e.provider == PROVIDER]
    first = sorted(in_window(mine, NOW - timedelta(hours=24), NOW), key=lambda e: e.timestamp)
    want = [
        {"y": t.year, "mo": t.month, "d": t.day, "h": t.hour, "mi": t.minute, "s": t.second}
        | {"wd": t.isoweekday(), "doy": t.timetuple().tm_yday, "wk": t.isocalendar()[1]}
        for t in (e.timestamp for e in first[:20])
    ]
    assert got == want
    assert {r["d"] for r in got} == {22}  # the window starts the day before NOW


def test_truth_tests_and_in_with_a_list(lab: Session) -> None:
    (got,) = fql(
        lab,
        SHOP + " | summarize trueOrNull = countIf(isTrueOrNull(revenue > 100)),"
        " isFalse = countIf(isFalse(revenue > 100)), isTrue = countIf(isTrue(revenue > 100)),"
        ' tiers = countIf(in(loyalty.tier, {"gold", "silver"})), rest = toLong(sum(1 % 1))',
    )
    (want,) = sql(
        lab,
        "select count(*) filter (where (attributes->>'revenue')::float > 100"
        " or attributes->>'revenue' is null) as \"trueOrNull\","
        " count(*) filter (where (attributes->>'revenue')::float <= 100) as \"isFalse\","
        " count(*) filter (where (attributes->>'revenue')::float > 100) as \"isTrue\","
        " count(*) filter (where attributes#>>'{loyalty,tier}' in ('gold', 'silver')) as tiers,"
        f" 0 as rest from events where {IN_WINDOW}",
    )
    assert want["isFalse"] > 0
    assert want["tiers"] > 0
    assert got == want


def test_collect_distinct_and_array(lab: Session, events: list[NewEvent]) -> None:
    (got,) = fql(lab, SHOP + " | summarize tiers = collectDistinct(loyalty.tier)")
    assert got["tiers"] == ["bronze", "gold", "silver"]
    rows = fql(
        lab,
        SHOP + " | sort timestamp | summarize types = collectArray(event.type), by:{orderId}"
        " | sort orderId | limit 5",
    )
    mine = in_window([e for e in events if e.provider == PROVIDER], NOW - timedelta(hours=24), NOW)
    by_order: dict[str, list[str]] = {}
    for e in sorted(mine, key=lambda e: e.timestamp):
        by_order.setdefault(str(e.attributes["orderId"]), []).append(e.type)
    want = [{"orderId": k, "types": by_order[k]} for k in sorted(by_order)[:5]]
    assert rows == want


def test_alignment_month_and_year_durations_and_modulo(lab: Session) -> None:
    (today,) = fql(
        lab, SHOP.replace("bizevents", "bizevents, from: now()@d") + " | summarize n = count()"
    )
    (since_yesterday,) = fql(
        lab,
        SHOP + " | filter timestamp >= now()-1d@d and timestamp < now()@d | summarize n = count()",
    )
    (want,) = sql(
        lab,
        "select count(*) filter (where timestamp >= date_trunc('day', :end at time zone 'UTC')"
        " at time zone 'UTC') as today, count(*) filter (where timestamp < date_trunc('day',"
        " :end at time zone 'UTC') at time zone 'UTC') as yesterday"
        f" from events where {IN_WINDOW}",
    )
    assert today["n"] == want["today"] > 0
    assert since_yesterday["n"] == want["yesterday"] > 0
    (units,) = fql(lab, SHOP + " | summarize n = countIf(1M == 30d and 1y == 365d), c = count()")
    assert units["n"] == units["c"]
    got = fql(
        lab,
        SHOP + ' | filter event.type == "order.placed" | sort orderId | limit 10'
        " | fields r = toLong(revenue) % 7",
    )
    want_rows = sql(
        lab,
        "select (mod(trunc((attributes->>'revenue')::float)::bigint, 7))::float as r from events"
        f" where {IN_WINDOW} and type = 'order.placed' order by attributes->>'orderId' limit 10",
    )
    assert got == want_rows


def test_sort_direction_and_triple_quoted_strings(lab: Session) -> None:
    got = fql(
        lab, SHOP + ' | summarize n = count(), by:{event.type} | sort n, direction: "descending"'
    )
    want = sql(
        lab,
        f'select type as "event.type", count(*) as n from events where {IN_WINDOW}'
        " group by type order by n desc",
    )
    assert [r["n"] for r in got] == [r["n"] for r in want]  # ties may come in either order
    assert sorted(map(str, got), key=str) == sorted(map(str, want), key=str)
    assert got[0]["n"] > got[-1]["n"]
    (row,) = fql(lab, SHOP + ' | limit 1 | fields s = """a "quoted" \\n word"""')
    assert row == {"s": 'a "quoted" \\n word'}


def test_unix_times_and_exact_distinct_counts(lab: Session) -> None:
    got = fql(
        lab,
        SHOP + " | sort timestamp | limit 5 | fields s = unixSecondsFromTimestamp(timestamp),"
        " ms = unixMillisFromTimestamp(timestamp)",
    )
    want = sql(
        lab,
        "select floor(extract(epoch from timestamp))::bigint as s,"
        " floor(extract(epoch from timestamp) * 1000)::bigint as ms"
        f" from events where {IN_WINDOW} order by timestamp limit 5",
    )
    assert got == want
    (row,) = fql(lab, SHOP + " | summarize n = countDistinctExact(orderId)")
    (expected,) = sql(
        lab, f"select count(distinct attributes->>'orderId') as n from events where {IN_WINDOW}"
    )
    assert row == expected
