"""Text → AST: shapes, positions, literals, and errors that say where and what was expected."""

from __future__ import annotations

import pytest

from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.parser import parse
from flowscope.query.service import compile_text
from tests.query.data import NOW


def error_of(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        compile_text(text, now=NOW)
    return caught.value


def test_commands_become_typed_nodes_with_positions() -> None:
    query = parse(
        "fetch bizevents, from: -1d-1h\n"
        '| filter event.type == "a"   // a comment\n'
        "| summarize n = count(), takeFirst(timestamp), by: {event.type, k = lower(x)}\n"
        "| sort n desc, event.type\n"
        "| limit 5"
    )
    assert query.fetch.source == "bizevents"
    assert query.fetch.pos == ast.Pos(1, 7)
    filter_, summarize, sort, limit = query.commands
    assert isinstance(filter_, ast.Filter)
    assert filter_.condition == ast.Binary(
        "==",
        ast.Field("event.type", ast.Pos(2, 10)),
        ast.Literal("a", "string", ast.Pos(2, 24)),
        ast.Pos(2, 21),
    )
    assert isinstance(summarize, ast.Summarize)
    assert [a.name for a in summarize.aggregates] == ["n", "takeFirst(timestamp)"]
    assert [a.name for a in summarize.by] == ["event.type", "k"]
    assert isinstance(sort, ast.Sort)
    assert [k.descending for k in sort.keys] == [True, False]
    assert isinstance(limit, ast.Limit)
    assert limit.count.value == 5


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("500ms", "duration", 500_000_000),
        ("2h", "duration", 7_200_000_000_000),
        ("1.5m", "duration", 90_000_000_000),
        ("30s", "duration", 30_000_000_000),
        ("7", "number", 7),
        ("2.5", "number", 2.5),
        ("1e3", "number", 1000.0),
        ('"a\\"b\\\\c"', "string", 'a"b\\c'),
        ("true", "boolean", True),
        ("null", "null", None),
    ],
)
def test_literals(text: str, kind: str, value: object) -> None:
    (command,) = parse(f"fetch bizevents | fieldsAdd x = {text}").commands
    assert isinstance(command, ast.Fields)
    literal = command.items[0].expr
    assert isinstance(literal, ast.Literal)
    assert (literal.kind, literal.value) == (kind, value)


def test_backquoted_names_keep_spaces_and_dots() -> None:
    (command,) = parse("fetch bizevents | fieldsAdd `Lost flows` = `a b.c`").commands
    assert isinstance(command, ast.Fields)
    assert command.items[0].name == "Lost flows"
    assert command.items[0].expr == ast.Field("a b.c", ast.Pos(1, 44))


def test_keywords_inside_names_stay_names() -> None:
    (command,) = parse("fetch bizevents | filter notes == order.id or android").commands
    assert isinstance(command, ast.Filter)
    condition = command.condition
    assert isinstance(condition, ast.Binary)
    assert condition.op == "or"
    assert condition.right == ast.Field("android", ast.Pos(1, 47))


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ('fetch bizevents\n| filter a == "open', 2, 15, ["unterminated string"]),
        ("fetch bizevents | filtr a", 1, 19, ["unknown command 'filtr'", "did you mean 'filter'"]),
        ("fetch bizevents | summarize cnt()", 1, 29, ["unknown function 'cnt'", "'count'"]),
        (
            "fetch bizevents | summarize n = count() | filter m > 1",
            1,
            50,
            ["unknown field 'm'", "n"],
        ),
        ("fetch bizevents | filter count() > 1", 1, 26, ["count() is an aggregation"]),
        ("fetch bizevents | summarize sum(count())", 1, 33, ["cannot be nested"]),
        ("fetch bizevents | summarize x = event.type", 1, 33, ["inside an aggregation", "by:"]),
        ("fetch bizevents | filter event.type == 1", 1, 40, ["number", "string"]),
        ("fetch bizevents | summarize count(), bye: {a}", 1, 38, ["no parameter 'bye:'", "'by'"]),
        ("fetch bizevents | filter (a == 1", 1, 33, ["ends too early", ")"]),
        ("fetch bizevents | filter a == ", 1, 30, ["ends too early", "a number"]),
        ("fetch bizevents | sort a | | limit 1", 1, 28, ["unexpected '|'"]),
        ("filter a == 1", 1, 1, ["starts with fetch"]),
        ("fetch bizevents | fetch bizevents", 1, 19, ["can only start"]),
        ("fetch logs", 1, 7, ["unknown data source 'logs'", "bizevents"]),
        ("fetch bizevents, from: yesterday", 1, 24, ["from:", "-1h"]),
        ("fetch bizevents, from: -1h, to: -2h", 1, 24, ["timeframe is empty"]),
        ("fetch bizevents | limit -1", 1, 19, ["whole number"]),
        ("fetch bizevents | fieldsAdd x = 99999999999d", 1, 33, ["too long"]),
        ('fetch bizevents | fieldsAdd x = a + "b"', 1, 35, ["concat()"]),
        ("fetch bizevents | filter startsWith(a)", 1, 26, ["2 to 3 arguments", "caseSensitive:"]),
        ("fetch bizevents | summarize percentile(a, 101)", 1, 43, ["from 0 to 100"]),
        ("fetch bizevents | makeTimeseries count(), interval: 1s", 1, 53, ["bins", "10000"]),
        ("fetch bizevents | fieldsAdd x = arraySum(event.type)", 1, 33, ["needs an array"]),
        ("fetch bizevents | summarize n = count(), n = sum(a)", 1, 42, ["defined twice"]),
        ("fetch bizevents | sort a | filter b asc", 1, 37, ["only allowed in sort"]),
        ("   ", 1, 1, ["empty"]),
    ],
)
def test_errors_name_the_problem_and_its_place(
    text: str, line: int, column: int, words: list[str]
) -> None:
    error = error_of(text)
    assert (error.line, error.column) == (line, column), error.message
    for word in words:
        assert word in error.message
    assert error.to_dict()["error"]["line"] == line


def test_unknown_fields_are_fine_on_events_but_not_after_summarize() -> None:
    compile_text("fetch bizevents | filter any.attribute.path == 1", now=NOW)
    error = error_of("fetch bizevents | summarize count(), by: {event.type} | fields x.y")
    assert "unknown field 'x.y'" in error.message
    assert "(fields here: event.type, count())" in error.message


def test_unnamed_expressions_are_named_by_their_canonical_text() -> None:
    (command,) = parse(
        'fetch bizevents | summarize count(), countIf(event.type=="a"  and not x), '
        "sum((a + b) * 2), avg(`Lost flows`), max(d - 90m), by: {event.type, lower(t)}"
    ).commands
    assert isinstance(command, ast.Summarize)
    assert [a.name for a in command.aggregates] == [
        "count()",
        'countIf(event.type == "a" and not x)',
        "sum((a + b) * 2)",
        "avg(`Lost flows`)",
        "max(d - 90m)",
    ]
    assert [a.name for a in command.by] == ["event.type", "lower(t)"]
