"""User text never becomes SQL text; queries run read-only, with a timeout and a row cap."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.ingest.schemas import NewEvent
from flowscope.query.errors import QueryError
from flowscope.query.service import compile_text, execute, run_query
from tests.query.data import NOW, ingest

# Literals carry a marker so that they cannot occur in generated SQL by chance; the rest is
# hostile on purpose: quotes, comment starters, semicolons, percent signs, unicode.
_HOSTILE = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 '\";-%()/*$\\{}[]|`é€\u2028")), min_size=1, max_size=12
)
strings = st.builds(lambda s: "Zq" + s, _HOSTILE)
names = st.builds(lambda s: "Zq" + s, st.text(alphabet="abcdefxyz_", min_size=1, max_size=8))
odd_names = st.builds(lambda s: "Zq " + s.replace("`", ""), _HOSTILE)
numbers = st.integers(min_value=2_000_001, max_value=8_999_999)
units = st.sampled_from(["m", "h", "d"])


def fql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A query built from random literals, and the literal texts that must not reach SQL."""
    s1, s2, s3 = draw(strings), draw(strings), draw(strings)
    f1, f2 = draw(names), draw(names)
    odd = draw(odd_names)
    n1, n2, n3 = draw(numbers), draw(numbers), draw(numbers)
    unit = draw(units)
    parts = [
        "fetch bizevents, from: -1d-1h",
        f"| filter {f1} == {fql_string(s1)} or in(event.type, {fql_string(s2)}, {fql_string(s3)})",
        f"| filter {f2}.inner > {n1} and startsWith(event.provider, {fql_string(s2)})",
        f"| fieldsAdd `{odd}` = {f1} * {n2} + toDouble({f2})",
        draw(
            st.sampled_from(
                [
                    f"| summarize c = countIf(event.type == {fql_string(s3)}), by: {{{f1}}}",
                    f"| makeTimeseries c = count(), interval: {n3 % 50 + 1}{unit[-1]}",
                    f"| lookup [fetch bizevents | filter {f2} == {fql_string(s1)}], "
                    f"sourceField: {f1}, lookupField: {f2}, prefix: {fql_string(s3)}",
                    f"| sort `{odd}` desc | limit {n3}",
                    f"| dedup {f1} | filter timestamp > now() - {n3 % 10_000}{unit}",
                ]
            )
        ),
    ]
    literals = [s1, s2, s3, f1, f2, odd, str(n1), str(n2), str(n3)]
    return "\n".join(parts), literals


@settings(max_examples=200, deadline=None)
@given(queries())
def test_no_user_literal_reaches_the_sql_text(case: tuple[str, list[str]]) -> None:
    query, literals = case
    compiled = compile_text(query, now=NOW)
    for literal in literals:
        assert literal not in compiled.sql
    bound = json.dumps(compiled.params, default=str, ensure_ascii=False)
    for value in literals[:3]:
        assert json.dumps(value, ensure_ascii=False)[1:-1] in bound


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(queries())
def test_generated_queries_run(database: Database, case: tuple[str, list[str]]) -> None:
    with database.sessions() as session:
        run_query(session, case[0], now=NOW)


def test_queries_run_in_a_read_only_transaction(session: Session) -> None:
    # results come from a cursor, which only a SELECT can open: write from inside one
    write = "select nextval(pg_get_serial_sequence('events', 'seq'))"
    with pytest.raises(pg_errors.ReadOnlySqlTransaction):
        execute(session, write, {}, 5, 10)
    assert session.scalar(text("select count(*) from events")) == 0


def test_read_only_mode_ends_with_the_query(session: Session) -> None:
    run_query(session, "fetch bizevents | limit 1", now=NOW)
    ingest(session, [NewEvent("p", "after", "t", NOW - timedelta(minutes=1), {})])
    assert session.scalar(text("select count(*) from events")) == 1


def test_statement_timeout_stops_a_long_query(session: Session) -> None:
    with pytest.raises(QueryError) as caught:
        execute(session, "select pg_sleep(5)", {}, 0.05, 10)
    assert "ran longer than 0.05 s" in caught.value.message
    assert caught.value.line is None
    assert session.scalar(text("select 1")) == 1  # the session is usable afterwards


def test_row_cap_truncates_and_says_so(session: Session) -> None:
    ingest(
        session,
        [NewEvent("p", f"e{i}", "t", NOW - timedelta(minutes=i + 1), {"i": i}) for i in range(7)],
    )
    capped = run_query(session, "fetch bizevents | sort timestamp desc", now=NOW, row_cap=5)
    assert capped.truncated
    assert capped.row_count == 5
    limited = run_query(session, "fetch bizevents | limit 3", now=NOW, row_cap=5)
    assert (limited.truncated, limited.row_count) == (False, 3)
    exact = run_query(session, "fetch bizevents | limit 5", now=NOW, row_cap=5)
    assert (exact.truncated, exact.row_count) == (False, 5)


def test_unconvertible_values_are_a_query_error(session: Session) -> None:
    ingest(session, [NewEvent("p", "bad", "t", NOW - timedelta(minutes=1), {"when": "2026-13-45"})])
    with pytest.raises(QueryError) as caught:
        run_query(session, "fetch bizevents | filter toTimestamp(when) > now()", now=NOW)
    assert "could not be converted" in caught.value.message


_TOKENS = st.sampled_from(
    [
        "fetch",
        "bizevents",
        "flows",
        "|",
        "filter",
        "summarize",
        "makeTimeseries",
        "lookup",
        "sort",
        "limit",
        "dedup",
        "fields",
        "fieldsAdd",
        "fieldsRemove",
        "by:",
        "from:",
        "to:",
        "bins:",
        "interval:",
        "time:",
        "sourceField:",
        "lookupField:",
        "prefix:",
        "sort:",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        ",",
        "=",
        "==",
        "!=",
        "<",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "and",
        "or",
        "not",
        "asc",
        "desc",
        "count()",
        "countIf",
        "takeFirst",
        "arraySum",
        "now()",
        "toDuration",
        "isNull",
        "in",
        "if",
        "timestamp",
        "event.type",
        "amount",
        "x.y",
        "`a b`",
        '"s"',
        '"',
        "`",
        "1",
        "2.5",
        "5m",
        "-1h",
        "0",
        "true",
        "null",
        "//c\n",
        "\n",
        "@",
        "~",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_TOKENS, max_size=30).map(" ".join)))
def test_any_text_compiles_or_gives_a_positioned_query_error(text_: str) -> None:
    error: QueryError | None = None
    try:
        compile_text(text_, now=NOW)
    except QueryError as exc:  # anything else (a crash) fails the test
        error = exc
    if error is None:
        return
    assert error.message
    if error.line is not None:
        assert 1 <= error.line <= text_.count("\n") + text_.count("\r") + 1
        assert error.column is not None
        assert error.column >= 1


def test_deep_nesting_is_a_query_error_not_a_crash() -> None:
    deep = "fetch bizevents | filter " + "abs(" * 3000 + "1" + ")" * 3000 + " == 1"
    with pytest.raises(QueryError) as caught:
        compile_text(deep, now=NOW)
    assert "nest" in caught.value.message
