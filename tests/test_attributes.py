"""The attribute-path rule: its precedence, and Python and SQL agreeing on random trees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from flowscope.attributes import (
    MISSING,
    correlation_id,
    correlation_sql,
    get_path,
    lookup,
    sql_parameters,
    text_sql,
    value_sql,
)
from flowscope.db import Database


def test_a_flat_key_wins_over_the_nested_path() -> None:
    both = {"order.id": "flat", "order": {"id": "nested"}}
    assert get_path(both, "order.id") == "flat"
    assert get_path({"order": {"id": "nested"}}, "order.id") == "nested"
    # A flat key holding null still wins: it is present.
    assert get_path({"order.id": None, "order": {"id": "nested"}}, "order.id") is None


def test_missing_differs_from_a_json_null() -> None:
    assert get_path({"a": None}, "a") is None
    assert get_path({}, "a") is MISSING
    assert get_path({"a": {"b": 1}}, "a.c") is MISSING
    assert lookup({}, "a") is None
    assert get_path("not an object", "a") is MISSING


def test_arrays_are_not_indexed_and_only_the_top_level_is_flat() -> None:
    assert get_path({"items": [{"id": 1}]}, "items.0.id") is MISSING
    assert get_path({"a": {"b.c": 1}}, "a.b.c") is MISSING
    assert get_path({"a": {"b": {"c": 2}}}, "a.b.c") == 2


def test_correlation_ids_are_strings_and_numbers_only() -> None:
    assert [correlation_id(v) for v in ("A-1", 42, 1.5, "", None, True, {}, [], MISSING)] == [
        "A-1",
        "42",
        "1.5",
        None,
        None,
        None,
        None,
        None,
        None,
    ]


def test_sql_parameters_quote_every_part() -> None:
    assert sql_parameters("order.id") == ("order.id", 'strict $."order"."id"')
    assert sql_parameters('a"b.c\\d') == ('a"b.c\\d', 'strict $."a\\"b"."c\\\\d"')


# --- Python and SQL agree ----------------------------------------------------------------

# Few distinct keys, so random paths often hit; dots, quotes, digits and the empty key included.
KEYS = st.sampled_from(["a", "b", "a.b", "b.a", "0", "1", "", 'q"', "x\\y", "é", "a.b.a"])
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)
    | TEXT
    | KEYS
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
ATTRIBUTES = st.dictionaries(KEYS, TREES, max_size=5)
PATHS = st.lists(
    st.sampled_from(["a", "b", "0", "1", "", 'q"', "x\\y", "é", "c"]), min_size=1, max_size=4
).map(".".join)

_SQL = text(
    f"""
    select v, v is null as missing, {correlation_sql("v")} as cid,
           {text_sql("cast(:attributes as jsonb)", ":key", ":jsonpath")} as text
    from (select {value_sql("cast(:attributes as jsonb)", ":key", ":jsonpath")} as v) x
    """  # noqa: S608 - constant fragments; values are bound parameters
)


def same(python: Any, sql: Any) -> bool:
    """Equal as JSON values: booleans are not numbers, numbers compare by value."""
    if isinstance(python, bool) or isinstance(sql, bool):
        return type(python) is type(sql) and python == sql
    if isinstance(python, (int, float)) and isinstance(sql, (int, float)):
        return python == sql
    if isinstance(python, list) and isinstance(sql, list):
        return len(python) == len(sql) and all(map(same, python, sql))
    if isinstance(python, dict) and isinstance(sql, dict):
        return python.keys() == sql.keys() and all(same(python[k], sql[k]) for k in python)
    return type(python) is type(sql) and python == sql


@pytest.fixture(scope="module")
def connection(database: Database) -> Iterator[Connection]:
    with database.engine.connect() as conn:
        yield conn


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attributes=ATTRIBUTES, path=PATHS)
def test_python_and_sql_read_the_same_value(
    connection: Connection, attributes: dict[str, Any], path: str
) -> None:
    key, jsonpath = sql_parameters(path)
    row = connection.execute(
        _SQL, {"attributes": json.dumps(attributes), "key": key, "jsonpath": jsonpath}
    ).one()
    expected = get_path(attributes, path)
    assert row.missing == (expected is MISSING)
    if expected is not MISSING:
        assert same(expected, row.v)
    if expected is MISSING or expected is None:
        assert row.text is None
    elif isinstance(expected, str):
        assert row.text == expected
    else:
        assert same(expected, json.loads(row.text))
    cid = correlation_id(expected)
    if isinstance(expected, float):
        # Python writes a float in its shortest form, SQL as stored: the same number.
        assert row.cid is not None
        assert float(row.cid) == expected
    else:
        assert row.cid == cid
