"""The lab's five query templates, placeholders filled, against oracles computed in Python."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from flowscope.query.errors import QueryError
from flowscope.query.service import QueryResult, run_query
from tests.query.data import (
    NOW,
    PAID,
    PLACED,
    PROVIDER,
    SHIPPED,
    in_window,
    ingest,
    make_events,
)

NS = 1_000_000_000


@pytest.fixture(scope="module")
def events() -> list[NewEvent]:
    return make_events()


@pytest.fixture
def lab(session: Session, events: list[NewEvent]) -> Session:
    ingest(session, events)
    return session


def run(session: Session, text: str, time_from: str = "-24h") -> QueryResult:
    return run_query(session, text, time_from=time_from, now=NOW)


def records(result: QueryResult) -> list[dict[str, object]]:
    names = [c["name"] for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def day(events: list[NewEvent]) -> list[NewEvent]:
    return in_window(events, NOW - timedelta(hours=24), NOW)


def test_validate_counts_events_per_provider_and_type(lab: Session, events: list[NewEvent]) -> None:
    result = run(
        lab,
        f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| summarize count(), by: {{event.provider, event.type}}
""",
    )
    assert [c["name"] for c in result.columns] == ["event.provider", "event.type", "count()"]
    expected = Counter((e.provider, e.type) for e in day(events) if e.provider == PROVIDER)
    got = {(r["event.provider"], r["event.type"]): r["count()"] for r in records(result)}
    assert got == dict(expected)
    assert len(expected) == 5


def test_time_between_two_steps_is_the_average_duration(
    lab: Session, events: list[NewEvent]
) -> None:
    result = run(
        lab,
        f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| filter event.type == "{PLACED}" or event.type == "{PAID}"
| summarize firstTime = takeMin(timestamp), secondTime = takeMax(timestamp), by:{{orderId }}
| filterOut isNull(firstTime) or isNull(secondTime)
| fieldsAdd duration = secondTime - firstTime
| summarize averageTime = avg(duration)
""",
    )
    groups: dict[str, list[NewEvent]] = defaultdict(list)
    for e in day(events):
        if e.provider == PROVIDER and e.type in (PLACED, PAID):
            groups[e.attributes["orderId"]].append(e)
    durations = [
        (max(x.timestamp for x in g) - min(x.timestamp for x in g)) / timedelta(microseconds=1)
        for g in groups.values()
    ]
    expected_ns = sum(durations) / len(durations) * 1000
    assert result.columns == [{"name": "averageTime", "type": "duration"}]
    assert result.rows[0][0] == pytest.approx(expected_ns, rel=1e-9)
    assert expected_ns > 60 * NS  # the data has real gaps: the test cannot pass on zeros


def test_success_rate_of_a_step(lab: Session, events: list[NewEvent]) -> None:
    result = run(
        lab,
        f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| filter startsWith(event.type, "{SHIPPED}")
| summarize total = count(), success = countIf(event.type == "{SHIPPED}")
| fieldsAdd percentage = toDouble(success) / toDouble(total) * 100
""",
    )
    step = [e for e in day(events) if e.provider == PROVIDER and e.type.startswith(SHIPPED)]
    success = sum(1 for e in step if e.type == SHIPPED)
    (row,) = records(result)
    assert row["total"] == len(step)
    assert row["success"] == success
    assert row["percentage"] == pytest.approx(success / len(step) * 100)
    assert 0 < success < len(step)


def test_comparison_to_a_previous_time(lab: Session, events: list[NewEvent]) -> None:
    result = run(
        lab,
        f"""fetch bizevents, from: -1h
| filter event.provider == "{PROVIDER}" and event.type == "{PLACED}"
| summarize valueNow= count(), by:{{event.type}}
| lookup [fetch bizevents, from: -24h, to:-23h | filter event.provider == "{PROVIDER}" and event.type == "{PLACED}" | summarize previousValue = count(), by:{{event.type}} ], sourceField:event.type, lookupField:event.type
| fieldsAdd percentageChange = ((toDouble(lookup.previousValue) - toDouble(valueNow)) / toDouble(valueNow)) * 100
""",  # noqa: E501 - the lab's text, as written
    )

    def placed(start: timedelta, end: timedelta) -> int:
        window = in_window(events, NOW - start, NOW - end)
        return sum(1 for e in window if e.provider == PROVIDER and e.type == PLACED)

    now_value, previous = (
        placed(timedelta(hours=1), timedelta()),
        placed(timedelta(hours=24), timedelta(hours=23)),
    )
    (row,) = records(result)
    assert row["event.type"] == PLACED
    assert row["valueNow"] == now_value
    assert row["lookup.event.type"] == PLACED
    assert row["lookup.previousValue"] == previous
    assert row["percentageChange"] == pytest.approx((previous - now_value) / now_value * 100)
    assert result.timeframe.start == NOW - timedelta(hours=1)


def test_lost_items_as_a_time_series(lab: Session, events: list[NewEvent]) -> None:
    result = run(
        lab,
        f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| filter event.type == "{PLACED}" or event.type == "{SHIPPED}"
| summarize firstCount = countIf(event.type == "{PLACED}"), secondCount = countIf(event.type == "{SHIPPED}"), firstTime = takeFirst(timestamp), by:{{orderId }}
| fieldsAdd timeSinceFirstStep = (now() - firstTime)
| filter secondCount == 0 and timeSinceFirstStep > toDuration(7200000000000) //Time in nanoseconds
| makeTimeseries `Lost flows` = count(), time: firstTime, bins:50
| fieldsAdd totalLostFlows = arraySum(`Lost flows`)
""",  # noqa: E501 - the lab's text, as written
    )
    groups: dict[str, list[NewEvent]] = defaultdict(list)
    for e in day(events):
        if e.provider == PROVIDER and e.type in (PLACED, SHIPPED):
            groups[e.attributes["orderId"]].append(e)
    lost_times = []
    for group in groups.values():
        first = min(group, key=lambda e: e.timestamp).timestamp
        shipped = sum(1 for e in group if e.type == SHIPPED)
        if shipped == 0 and NOW - first > timedelta(hours=2):
            lost_times.append(first)
    # 24 h in 50 bins is 28.8 min, rounded up to a whole 30 min: 48 bins from 12:00 yesterday
    interval = timedelta(minutes=30)
    start = NOW - timedelta(hours=24)
    expected = [0] * 48
    for at in lost_times:
        expected[int((at - start) / interval)] += 1

    (row,) = records(result)
    assert row["Lost flows"] == expected
    assert row["totalLostFlows"] == len(lost_times) > 10
    assert row["interval"] == 30 * 60 * NS
    assert result.interval_ns == 30 * 60 * NS
    assert result.series_timeframe is not None
    assert result.series_timeframe.start == start
    assert result.series_timeframe.end == NOW
    assert not math.isnan(float(row["totalLostFlows"]))  # type: ignore[arg-type]


BROKEN_LOST_ITEMS = """fetch bizevents
| filter event.provider == "shop.checkout.v001
| filter event.type == "order.placed" or event.type == "order.shipped"
| summarize firstCount = countIf(event.type == "order.placed"), secondCount = countIf(event.type == "<Second event provider>"), firstTime = takeFirst(timestamp), by:{orderId }
| fieldsAdd timeSinceFirstStep = (now() - firstTime)
| filter secondCount == 0 and timeSinceFirstStep > toDuration(7200000000000) //Time in nanoseconds
| makeTimeseries `Lost flows` = count(), time: firstTime, bins:50
| fieldsAdd totalLostFlows = arraySum(`Lost flows`)
"""  # noqa: E501


def test_lost_items_as_printed_points_at_the_missing_quote(session: Session) -> None:
    with pytest.raises(QueryError) as caught:
        run(session, BROKEN_LOST_ITEMS)
    error = caught.value
    assert (error.line, error.column) == (2, 28)  # the opening quote
    assert "unterminated string" in error.message
    assert "closing quote" in error.message


def test_unfilled_placeholder_is_a_positioned_syntax_error(session: Session) -> None:
    text = "fetch bizevents\n| summarize count(), by:{<Correlation ID> }\n"
    with pytest.raises(QueryError) as caught:
        run(session, text)
    assert (caught.value.line, caught.value.column) == (2, 26)
    assert "unexpected '<'" in caught.value.message
    assert "expected" in caught.value.message
