"""Each command and function on a handful of events whose answers are known by heart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from flowscope.query.errors import QueryError
from flowscope.query.service import QueryResult, run_query
from flowscope.query.sources import SOURCES, Column, Source
from flowscope.query.values import T
from tests.query.data import NOW, ingest

MIN = timedelta(minutes=1)
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def few(session: Session) -> Session:
    ingest(
        session,
        [
            NewEvent(
                "p",
                "e1",
                "a",
                NOW - 10 * MIN,
                {"order": {"id": "X1"}, "amount": 10, "tier": "gold", "flag": True, "code": "42"},
            ),
            NewEvent(
                "p", "e2", "b", NOW - 9 * MIN, {"order.id": "X1", "amount": 25.5, "tier": "silver"}
            ),
            NewEvent(
                "p", "e3", "a", NOW - 8 * MIN, {"order": {"id": "X2"}, "amount": "7", "tier": None}
            ),
            NewEvent(
                "q", "e4", "c", NOW - 7 * MIN, {"amount": 100, "name": "<script>alert(1)</script>"}
            ),
            NewEvent("p", "e5", "b", NOW - timedelta(hours=25), {"amount": 1000}),
        ],
    )
    return session


def run(session: Session, text: str, time_from: str = "-24h") -> QueryResult:
    return run_query(session, text, time_from=time_from, now=NOW)


def rows(session: Session, text: str, time_from: str = "-24h") -> list[dict[str, object]]:
    result = run(session, text, time_from)
    names = [c["name"] for c in result.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def one(session: Session, text: str) -> object:
    (row,) = run(session, text).rows
    (value,) = row
    return value


def count(session: Session, condition: str) -> object:
    return one(session, f"fetch bizevents | filter {condition} | summarize count()")


def test_nested_and_flat_dotted_attributes_are_the_same_field(few: Session) -> None:
    assert count(few, 'order.id == "X1"') == 2
    assert count(few, 'order.id == "X2"') == 1


def test_attribute_compared_with_a_number_compares_numerically(few: Session) -> None:
    assert count(few, "amount > 8") == 3  # 10, 25.5, 100; "7" is a numeric string
    assert count(few, "amount == 7") == 1
    assert count(few, "amount * 2 >= 51") == 1 + 1  # 25.5 and 100
    assert count(few, 'code == "42"') == 1


def test_missing_and_json_null_attributes_are_null(few: Session) -> None:
    assert count(few, "isNull(tier)") == 2
    assert count(few, "isNotNull(tier)") == 2
    assert count(few, "tier == null") == 2
    assert count(few, "flag == true") == 1


def test_timeframe_excludes_older_events(few: Session) -> None:
    assert one(few, "fetch bizevents | summarize count()") == 4
    assert one(few, "fetch bizevents, from: -26h | summarize count()") == 5
    assert one(few, 'fetch bizevents, from: "2026-11-23T11:51:00Z" | summarize count()') == 3
    assert one(few, "fetch bizevents, from: -1d-2h, to: -1d | summarize count()") == 1
    assert count(few, 'timestamp >= "2026-11-23T11:51:00Z"') == 3


def test_default_output_lists_columns_then_attributes(few: Session) -> None:
    result = run(few, 'fetch bizevents | filter event.provider == "q"')
    names = [c["name"] for c in result.columns]
    assert names[:5] == ["timestamp", "event.provider", "event.type", "event.id", "event.kind"]
    assert names[5:] == ["amount", "name"]
    assert result.rows[0][1:] == ["q", "c", "e4", "BIZ_EVENT", 100, "<script>alert(1)</script>"]
    removed = run(
        few, 'fetch bizevents | filter event.provider == "q" | fieldsRemove name, event.id'
    )
    assert [c["name"] for c in removed.columns] == [
        "timestamp",
        "event.provider",
        "event.type",
        "event.kind",
        "amount",
    ]


def test_fields_keeps_only_what_it_names(few: Session) -> None:
    result = rows(
        few,
        'fetch bizevents | filter event.type == "c" '
        "| fields event.type, amount, twice = amount * 2",
    )
    assert result == [{"event.type": "c", "amount": 100, "twice": 200}]


def test_sort_limit_and_filter_after_limit(few: Session) -> None:
    top = rows(few, "fetch bizevents | sort toDouble(amount) desc | limit 2 | fields amount")
    assert top == [{"amount": 100}, {"amount": 25.5}]
    first_two_b = rows(
        few,
        'fetch bizevents | sort timestamp | limit 2 | filter event.type == "b" | fields event.id',
    )
    assert first_two_b == [{"event.id": "e2"}]


def test_dedup_keeps_the_first_record_per_key(few: Session) -> None:
    result = rows(few, "fetch bizevents | dedup event.type | fields event.type, event.id")
    assert result == [
        {"event.type": "a", "event.id": "e1"},
        {"event.type": "b", "event.id": "e2"},
        {"event.type": "c", "event.id": "e4"},
    ]
    latest = rows(
        few, "fetch bizevents | dedup event.type, sort: {timestamp desc} | fields event.id"
    )
    assert [r["event.id"] for r in latest] == ["e3", "e2", "e4"]


def test_take_functions_follow_record_order_or_values(few: Session) -> None:
    (row,) = rows(
        few,
        'fetch bizevents | filter event.provider == "p" | summarize first = takeFirst(event.id), '
        "last = takeLast(event.id), low = takeMin(amount), high = takeMax(amount), "
        "some = takeAny(tier), firstAt = takeFirst(timestamp), lastAt = takeLast(timestamp)",
    )
    assert row["first"] == "e1"
    assert row["last"] == "e3"
    assert (row["low"], row["high"]) == (7, 25.5)
    assert row["some"] in ("gold", "silver")
    assert row["firstAt"] == (NOW - 10 * MIN).isoformat()
    assert row["lastAt"] == (NOW - 8 * MIN).isoformat()


def test_numeric_aggregations(few: Session) -> None:
    (row,) = rows(
        few,
        "fetch bizevents | summarize n = count(), s = sum(amount), a = avg(amount), "
        "lo = min(amount), hi = max(amount), med = median(amount), p90 = percentile(amount, 90), "
        "types = countDistinct(event.type), withTier = count(tier)",
    )
    amounts = sorted([10, 25.5, 7, 100])
    assert row["n"] == 4
    assert row["s"] == pytest.approx(sum(amounts))
    assert row["a"] == pytest.approx(sum(amounts) / 4)
    assert (row["lo"], row["hi"]) == (7, 100)
    assert row["med"] == pytest.approx((10 + 25.5) / 2)
    assert row["p90"] == pytest.approx(25.5 + 0.7 * (100 - 25.5))  # linear interpolation
    assert row["types"] == 3
    assert row["withTier"] == 2


def test_text_functions_in_and_if(few: Session) -> None:
    assert count(few, 'in(event.type, "a", "c")') == 3
    assert count(few, 'startsWith(tier, "gol") or endsWith(tier, "ver")') == 2
    assert count(few, 'contains(name, "alert")') == 1
    assert count(few, 'lower(upper(tier)) == "gold"') == 1
    result = rows(
        few,
        'fetch bizevents | fields size = if(toDouble(amount) > 50, "big", "small"), '
        "t = toString(timestamp), n = toLong(amount) | sort n",
    )
    assert [r["size"] for r in result] == ["small", "small", "small", "big"]
    assert [r["n"] for r in result] == [7, 10, 25, 100]
    assert result[0]["t"] == "2026-11-23T11:52:00.000000Z"


def test_durations_from_timestamp_arithmetic(few: Session) -> None:
    assert count(few, "now() - timestamp > 9m") == 1
    assert count(few, "now() - timestamp < 500s") == 2
    assert count(few, "timestamp + 10m > now()") == 3
    ages = rows(few, "fetch bizevents | fields age = now() - timestamp | sort age | limit 1")
    assert ages == [{"age": 7 * 60 * 1_000_000_000}]
    assert count(few, "toDuration(420000000000) == 7m") == 4


def test_backquoted_names_and_comments(few: Session) -> None:
    result = rows(
        few,
        "fetch bizevents // all of them\n"
        "| summarize `Number of events` = count(), by: {`event.type`}\n"
        "| filter `Number of events` > 1 // only repeated types\n",
    )
    assert (
        result
        == [{"event.type": "a", "Number of events": 2}, {"event.type": "b", "Number of events": 1}][
            :1
        ]
    )


def test_lookup_adds_fields_under_a_prefix(few: Session) -> None:
    result = rows(
        few,
        "fetch bizevents | summarize n = count(), by: {event.type} "
        "| lookup [fetch bizevents, from: -26h | summarize total = sum(amount), by: {event.type}], "
        'sourceField: event.type, lookupField: event.type, prefix: "all." | sort event.type',
    )
    assert result == [
        {"event.type": "a", "n": 2, "all.event.type": "a", "all.total": 17},
        {"event.type": "b", "n": 1, "all.event.type": "b", "all.total": 1025.5},
        {"event.type": "c", "n": 1, "all.event.type": "c", "all.total": 100},
    ]


def test_lookup_without_a_match_gives_nulls(few: Session) -> None:
    result = rows(
        few,
        'fetch bizevents | filter event.type == "c" | fields event.type '
        '| lookup [fetch bizevents | filter event.type == "a"], sourceField: event.type, '
        "lookupField: event.type | fields event.type, lookup.event.id, lookup.amount",
    )
    assert result == [{"event.type": "c", "lookup.event.id": None, "lookup.amount": None}]


@pytest.mark.parametrize(
    ("subquery_sort", "first"),
    [("sort amount desc", "e1"), ("sort amount asc", "e3"), ("sort amount asc | limit 1", "e3")],
)
def test_lookup_takes_the_first_match_in_the_subquery_order(
    few: Session, subquery_sort: str, first: str
) -> None:
    result = rows(
        few,
        'fetch bizevents | filter event.id == "e1" | fields event.type '
        f'| lookup [fetch bizevents | filter event.type == "a" | {subquery_sort}], '
        "sourceField: event.type, lookupField: event.type | fields lookup.event.id",
    )
    assert result == [{"lookup.event.id": first}]


def test_make_timeseries_by_group_with_an_interval(few: Session) -> None:
    result = run(
        few,
        "fetch bizevents | makeTimeseries n = count(), total = sum(amount), "
        "by: {event.provider}, interval: 5m | sort event.provider",
        time_from="-20m",
    )
    names = [c["name"] for c in result.columns]
    assert names == ["timeframe", "interval", "event.provider", "n", "total"]
    by_provider = {row[2]: row for row in result.rows}
    # bins from 11:40 to 12:00: [11:40, 11:45, 11:50, 11:55]; events at 11:50, 11:51, 11:52, 11:53
    assert by_provider["p"][3] == [0, 0, 3, 0]
    assert by_provider["p"][4] == [None, None, 42.5, None]
    assert by_provider["q"][3] == [0, 0, 1, 0]
    assert result.interval_ns == 5 * 60 * 1_000_000_000


def test_make_timeseries_without_records_gives_zeros(few: Session) -> None:
    result = rows(
        few,
        'fetch bizevents | filter event.type == "none" | makeTimeseries n = count(), bins: 4 '
        "| fieldsAdd total = arraySum(n), mean = arrayAvg(n)",
        time_from="-1h",
    )
    assert result[0]["n"] == [0, 0, 0, 0]
    assert (result[0]["total"], result[0]["mean"]) == (0, 0)


def test_bin_groups_times_and_numbers(few: Session) -> None:
    result = rows(
        few,
        "fetch bizevents | summarize n = count(), by: {t = bin(timestamp, 5m)} | sort t",
    )
    assert result == [
        {"t": "2026-11-23T11:50:00+00:00", "n": 4},
    ]
    sizes = rows(
        few,
        "fetch bizevents | summarize n = count(), by: {size = bin(toDouble(amount), 50)} "
        "| sort size",
    )
    assert sizes == [{"size": 0, "n": 3}, {"size": 100, "n": 1}]


def test_attribute_columns_report_the_type_their_values_have(few: Session) -> None:
    result = run(few, "fetch bizevents | summarize n = count(), by: {tier} | sort tier")
    assert result.columns == [{"name": "tier", "type": "string"}, {"name": "n", "type": "number"}]


def test_a_new_source_is_one_declaration(few: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """How `fetch flows` will be added: a Source over a relation, with read-time columns."""
    providers = Source(
        name="providers",
        table='(select provider, count(*) as n, max("timestamp") as latest '
        "from events group by provider)",
        columns=(
            Column("provider", "{t}.provider", T.STRING),
            Column("events", "{t}.n", T.NUMBER),
            Column("latest", "{t}.latest", T.TIMESTAMP),
            Column(
                "age", "(extract(epoch from {now} - {t}.latest) * 1000000000)::bigint", T.DURATION
            ),
        ),
        time_column="latest",
        order=("latest",),
    )
    monkeypatch.setitem(SOURCES, "providers", providers)
    result = rows(few, "fetch providers | filter events > 1 and age < 9m | fields provider, age")
    assert result == [{"provider": "p", "age": 8 * 60 * 1_000_000_000}]
    error = run_error(few, "fetch providers | fields amount")
    assert "unknown field 'amount'" in error.message  # a closed schema: no attributes
    assert "(fields here: provider, events, latest, age)" in error.message


def run_error(session: Session, text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        run(session, text)
    return caught.value


def test_fields_add_sees_the_fields_added_before_it(few: Session) -> None:
    result = rows(
        few,
        'fetch bizevents | filter event.type == "c" '
        "| fieldsAdd a = toDouble(amount) / 2, b = a + 1 | fields a, b",
    )
    assert result == [{"a": 50, "b": 51}]
