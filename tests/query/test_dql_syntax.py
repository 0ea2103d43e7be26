"""DQL syntax pasted from Dynatrace notebooks: upper-case logic, named function parameters,
aggregations in braces, and clear errors for what FQL does not support."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from flowscope.query.errors import QueryError
from flowscope.query.service import compile_text, run_query
from tests.query.data import NOW, ingest

MIN = timedelta(minutes=1)


@pytest.fixture
def shop(session: Session) -> Session:
    ingest(
        session,
        [
            NewEvent("p", "e1", "Order.Placed", NOW - 9 * MIN, {"amount": 10.256, "tier": "gold"}),
            NewEvent("p", "e2", "order.paid", NOW - 8 * MIN, {"amount": 3.5, "tier": "silver"}),
            NewEvent("p", "e3", "order.placed", NOW - 7 * MIN, {"amount": 100, "tier": "gold"}),
        ],
    )
    return session


def rows(session: Session, query: str) -> list[dict[str, Any]]:
    result = run_query(session, query, time_from="-1h", now=NOW)
    names = [c["name"] for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def error(query: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        compile_text(query, time_from="-1h", now=NOW)
    return caught.value


def test_upper_case_logical_operators_mean_the_lower_case_ones(shop: Session) -> None:
    upper = 'tier == "gold" AND NOT amount > 50 OR event.type == "order.paid"'
    lower = 'tier == "gold" and not amount > 50 or event.type == "order.paid"'
    ids = "| fields event.id"
    assert rows(shop, f"fetch bizevents | filter {upper} {ids}") == [
        {"event.id": "e1"},
        {"event.id": "e2"},
    ]
    assert rows(shop, f"fetch bizevents | filter {lower} {ids}") == rows(
        shop, f"fetch bizevents | filter {upper} {ids}"
    )


def test_named_parameters_of_functions(shop: Session) -> None:
    got = rows(
        shop,
        """fetch bizevents | sort timestamp
| fields size = if(amount > 50, "big", else: "small"),
         money = round(amount, decimals: 1),
         placed = contains(event.type, "PLACED", caseSensitive: false),
         strict = contains(event.type, "PLACED"),
         start = startsWith(event.type, "order", caseSensitive: false),
         part = substring(event.type, from: 1, to: 5),
         wait = duration(amount, unit: "ms")""",
    )
    assert got == [
        {"size": "small", "money": 10.3, "placed": True, "strict": False, "start": True,
         "part": "rder", "wait": 10_256_000},
        {"size": "small", "money": 3.5, "placed": False, "strict": False, "start": True,
         "part": "rder", "wait": 3_500_000},
        {"size": "big", "money": 100.0, "placed": True, "strict": False, "start": True,
         "part": "rder", "wait": 100_000_000},
    ]  # fmt: skip


def test_positional_arguments_still_work_where_dql_names_them(shop: Session) -> None:
    got = rows(shop, "fetch bizevents | filter amount > 50 | fields if(true, 1, 2), round(1.26, 1)")
    assert got == [{"if(true, 1, 2)": 1, "round(1.26, 1)": 1.3}]


def test_unknown_named_parameter_is_named_with_its_position() -> None:
    caught = error("fetch bizevents | fields x = if(a, 1, otherwise: 2)")
    assert "if() has no parameter 'otherwise:'" in caught.message
    assert "else:" in caught.message
    assert (caught.line, caught.column) == (1, 39)
    twice = error("fetch bizevents | fields round(1, 2, decimals: 3)")
    assert "'decimals' is given twice" in twice.message


def test_aggregations_in_braces_with_names(shop: Session) -> None:
    got = rows(
        shop,
        "fetch bizevents | summarize {orders = count(), revenue = sum(amount)}, by: {tier}",
    )
    assert got == [
        {"tier": "gold", "orders": 2, "revenue": pytest.approx(110.256)},
        {"tier": "silver", "orders": 1, "revenue": 3.5},
    ]
    series = rows(
        shop,
        "fetch bizevents, from: -10m | makeTimeseries {n = count(), top = max(amount)},"
        " by: {tier}, interval: 5m",
    )
    assert [
        (r["tier"], sum(r["n"]), max(v for v in r["top"] if v is not None)) for r in series
    ] == [
        ("gold", 2, 100),
        ("silver", 1, 3.5),
    ]


@pytest.mark.parametrize(
    ("query", "line", "column", "message"),
    [
        ("fetch bizevents | fieldsFlatten a", 1, 19, "DQL command 'fieldsFlatten'"),
        ("fetch bizevents | timeseries avg(cpu)", 1, 19, "DQL command 'timeseries'"),
        # a command's own syntax that FQL cannot parse: the error still names the command
        (
            "fetch bizevents\n| joinNested [fetch bizevents | filter a == \"|]\"],"
            " on: {left[id] == right[id] ==}",
            2,
            3,
            "DQL command 'joinNested'",
        ),
        ('fetch bizevents | fields replaceString(event.type, ".", "-")', 1, 26,
         "DQL function 'replaceString'"),
        ("fetch bizevents | summarize correlation(revenue, n)", 1, 29,
         "DQL function 'correlation'"),
    ],
)  # fmt: skip
def test_unsupported_dql_is_named_as_such(query: str, line: int, column: int, message: str) -> None:
    caught = error(query)
    assert caught.message == f"{message} is not supported by FQL"
    assert (caught.line, caught.column) == (line, column)


def test_syntax_errors_in_supported_commands_stay_precise() -> None:
    caught = error("fetch bizevents | append [fetch bizevents] | filter a == ]")
    assert "not supported" not in caught.message
    assert caught.message.startswith("unexpected ']'")
    assert error("fetch bizevents | frobnicate x").message.startswith("unknown command")
    assert error("fetch bizevents | fields frob(x)").message.startswith("unknown function")


def test_format_timestamp_reads_java_patterns(shop: Session) -> None:
    got = rows(
        shop,
        'fetch bizevents | filter event.id == "e1" | fields '
        'day = formatTimestamp(timestamp, format: "yyyy-MM-dd HH:mm"), '
        "said = formatTimestamp(timestamp, format: \"EEE d MMM 'at' H:mm:ss.SSS\")",
    )
    at = NOW - 9 * MIN
    assert got == [
        {"day": at.strftime("%Y-%m-%d %H:%M"), "said": at.strftime("%a %-d %b at %-H:%M:%S.000")}
    ]
    caught = error('fetch bizevents | fields formatTimestamp(timestamp, format: "yyyy QQ")')
    assert "'QQ' is not supported in format:" in caught.message
