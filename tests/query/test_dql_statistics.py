"""DQL's statistical aggregations (stddev, variance, percentiles, countDistinctApprox), each
checked against hand-written SQL on the lab's seeded events."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from flowscope.query.errors import QueryError
from flowscope.query.service import run_query
from tests.query.data import IN_WINDOW, NOW, SHOP, fql, ingest, make_events, sql

REVENUE = "(attributes ->> 'revenue')::float"


@pytest.fixture
def lab(session: Session) -> Session:
    ingest(session, make_events())
    return session


def test_stddev_and_variance_are_the_sample_ones_per_group(lab: Session) -> None:
    got = fql(
        lab,
        f"{SHOP} | summarize sd = stddev(revenue), v = variance(revenue), by: {{loyalty.tier}}",
    )
    expected = sql(
        lab,
        f"""select attributes #> '{{loyalty,tier}}' as tier, stddev_samp({REVENUE}) as sd,
            var_samp({REVENUE}) as v
        from events where {IN_WINDOW} group by 1 order by 1""",
    )
    assert len(got) == 4  # three tiers, and the events without one
    assert [r["loyalty.tier"] for r in got] == [r["tier"] for r in expected]
    for row, want in zip(got[:3], expected, strict=False):
        assert row["sd"] == pytest.approx(want["sd"])
        assert row["v"] == pytest.approx(want["v"])
        assert row["v"] == pytest.approx(row["sd"] ** 2)
    assert (got[3]["sd"], got[3]["v"]) == (expected[3]["sd"], expected[3]["v"]) == (None, None)


def test_stddev_of_durations_is_a_duration(lab: Session) -> None:
    (row,) = fql(
        lab,
        f"""{SHOP} | summarize placed = takeMin(timestamp), last = takeMax(timestamp),
            by: {{orderId}}
| fieldsAdd wait = last - placed
| summarize sd = stddev(wait)""",
    )
    (expected,) = sql(
        lab,
        f"""select stddev_samp(d) as sd from (
              select extract(epoch from max(timestamp) - min(timestamp)) * 1e9 as d
              from events where {IN_WINDOW} group by attributes -> 'orderId') as per_order""",
    )
    assert isinstance(row["sd"], int)  # nanoseconds, as every duration
    assert row["sd"] == pytest.approx(float(expected["sd"]), abs=1)


def test_percentiles_give_one_value_per_percentile_in_the_order_given(lab: Session) -> None:
    expected = sql(
        lab,
        f"""select percentile_cont(array[0.9, 0.5, 0.99]) within group (order by {REVENUE})
            as p from events where {IN_WINDOW} and type = 'order.placed'""",
    )[0]["p"]
    for query in (
        f'{SHOP} | filter event.type == "order.placed" | summarize p = percentiles(revenue, 90, '
        "50, 99)",
        f'{SHOP} | filter event.type == "order.placed" | summarize p = percentiles(revenue, '
        "{90, 50, 99})",
    ):
        (row,) = fql(lab, query)
        assert row["p"] == pytest.approx(expected)
    # the same as percentile() one at a time, and an element is read with [i]
    (row,) = fql(
        lab,
        f'{SHOP} | filter event.type == "order.placed"'
        " | summarize p = percentiles(revenue, 90, 50), p90 = percentile(revenue, 90),"
        " p50 = median(revenue) | fieldsAdd first = p[0]",
    )
    assert row["p"] == pytest.approx([row["p90"], row["p50"]])
    assert row["first"] == pytest.approx(row["p90"])


def test_count_distinct_approx_is_exact_here(lab: Session) -> None:
    (row,) = fql(
        lab,
        f"{SHOP} | summarize a = countDistinctApprox(orderId),"
        " b = countDistinctApprox(orderId, precision: 10), c = countDistinct(orderId)",
    )
    (want,) = sql(
        lab, f"select count(distinct attributes -> 'orderId') as n from events where {IN_WINDOW}"
    )
    assert want["n"] > 100
    assert (row["a"], row["b"], row["c"]) == (want["n"], want["n"], want["n"])


def test_make_timeseries_takes_stddev_and_count_distinct_approx(lab: Session) -> None:
    (row,) = fql(
        lab,
        f"{SHOP} | makeTimeseries n = countDistinctApprox(orderId), sd = stddev(revenue),"
        " interval: 6h",
    )
    expected = sql(
        lab,
        f"""select floor(extract(epoch from timestamp - date_bin('6 hours', :start, 'epoch'))
                         / 21600)::int as bin,
                   count(distinct attributes -> 'orderId') as n, stddev_samp({REVENUE}) as sd
        from events where {IN_WINDOW} group by 1 order by 1""",
    )
    assert len(row["n"]) == len(expected) == 4  # 24 h in whole 6 h bins
    by_bin = {r["bin"]: r for r in expected}
    assert row["n"] == [by_bin[i]["n"] if i in by_bin else 0 for i in range(len(row["n"]))]
    for i, value in enumerate(row["sd"]):
        want = by_bin[i]["sd"] if i in by_bin else None
        assert value == (pytest.approx(want) if want is not None else None)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "fetch bizevents | makeTimeseries p = percentiles(revenue, 50, 90)",
            "makeTimeseries: 'p' gives an array, but a bin holds a number: use percentile(x, 90)",
        ),
        (
            "fetch bizevents | makeTimeseries last = max(timestamp)",
            "makeTimeseries: 'last' gives a timestamp, but a bin holds a number",
        ),
        ("fetch bizevents | summarize percentiles(revenue, 50, 101)", "from 0 to 100"),
        ("fetch bizevents | summarize percentiles(revenue, orderId)", "a number from 0 to 100"),
        ("fetch bizevents | summarize stddev(timestamp)", "a timestamp, but a number is needed"),
        ("fetch bizevents | fields x = {50, 90}", "unexpected"),
        ("fetch bizevents | summarize max(revenue, {1, 2})", "only allowed in in() and perc"),
    ],
)
def test_what_the_statistics_cannot_do_is_a_clear_error(
    session: Session, query: str, message: str
) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_query(session, query, time_from="-24h", now=NOW)
