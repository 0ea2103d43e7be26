"""Variables reach queries as FQL string literals bound as parameters, never as query text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from flowscope.dashboards.variables import fql_string, names_in, substitute
from flowscope.errors import FlowscopeError
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.query.parser import parse
from flowscope.query.service import compile_text, run_query

HOSTILE = [
    '" or true or "',
    'x") | limit 0 // ',
    'a\\" or 1 == 1 or \\"',
    "'; drop table events; --",
    "line\nbreak",
    "$Provider",
    "`backquoted`",
]
QUERY = "fetch bizevents | filter event.provider == $Provider | summarize n = count()"


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_one_literal_bound_as_a_parameter(value: str) -> None:
    text = substitute(QUERY, {"Provider": value})
    compiled = compile_text(text)
    assert value in compiled.params.values()
    assert value not in compiled.sql
    assert "drop table" not in compiled.sql


def test_the_literal_reads_back_as_the_same_value() -> None:
    for value in HOSTILE:
        query = parse(f"fetch bizevents | filter event.type == {fql_string(value)}")
        condition = query.commands[0].condition  # type: ignore[attr-defined]
        assert condition.right.value == value


def test_a_hostile_value_matches_nothing_and_an_exact_one_matches(session: Session) -> None:
    now = datetime.now(UTC)
    store_events(
        session,
        [
            NewEvent("shop.a", "1", "t", now - timedelta(minutes=1), {}),
            NewEvent('we"ird', "2", "t", now - timedelta(minutes=1), {}),
        ],
    )
    session.commit()

    def count(value: str) -> int:
        result = run_query(session, substitute(QUERY, {"Provider": value}), time_from="-1h")
        return int(result.rows[0][0])

    assert count('" or true or "') == 0
    assert count("shop.a") == 1
    assert count('we"ird') == 1


def test_dollars_in_strings_backquotes_and_comments_stay() -> None:
    text = 'fetch bizevents // $Nope\n| filter a == "$Nope" and `$Nope` == $P'
    assert substitute(text, {"P": "v"}) == (
        'fetch bizevents // $Nope\n| filter a == "$Nope" and `$Nope` == "v"'
    )
    assert names_in(text) == ["P"]


def test_an_unknown_variable_is_named() -> None:
    with pytest.raises(FlowscopeError, match=r"\$Missing"):
        substitute("fetch bizevents | filter a == $Missing", {})
