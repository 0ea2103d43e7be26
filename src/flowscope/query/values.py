"""FQL value types, bound parameters, and the SQL that converts one type into another.

Attribute values live in JSONB and have no static type: an attribute path (read by the rule of
`flowscope.attributes`) is typed `JSON` until an operator or function needs something else, and
then it is converted with the rules below (a JSON number or numeric string becomes a number,
anything else becomes null). Every constant from the query text becomes a bound parameter with
an explicit cast: the SQL text never contains user-supplied values or names.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from flowscope.query.ast import Pos
from flowscope.query.errors import QueryError


class T(enum.StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DURATION = "duration"  # bigint nanoseconds
    ARRAY = "array"
    JSON = "json"  # an attribute value whose type is known only per row
    NULL = "null"


SQL_TYPE = {
    T.STRING: "text",
    T.NUMBER: "double precision",
    T.BOOLEAN: "boolean",
    T.TIMESTAMP: "timestamptz",
    T.DURATION: "bigint",
    T.JSON: "jsonb",
    T.ARRAY: "double precision[]",
}

NUMERIC = frozenset({T.NUMBER, T.DURATION})


@dataclass(frozen=True, slots=True)
class Typed:
    """A compiled SQL expression and its FQL type."""

    sql: str
    type: T


@dataclass
class Params:
    """Bound parameters named p1, p2, …; the SQL refers to them as %(pN)s."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any, sql_type: str) -> str:
        name = f"p{len(self.values) + 1}"
        self.values[name] = value
        return f"%({name})s::{sql_type}"


# --- conversions ---------------------------------------------------------------------------

_NUMERIC_TEXT = r"'^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'"
_ISO_TEXT = r"'^\d{4}-\d{2}-\d{2}'"


# A one-part attribute path as `expressions.ExprCompiler._attribute` writes it: `(col -> key)`
_ONE_KEY = re.compile(r"\(([\w.]+) -> (%\(p\d+\)s::text)\)")


def json_text(sql: str) -> str:
    one_key = _ONE_KEY.fullmatch(sql)
    if one_key is not None:  # `col ->> key` reads the text in one step (joins, IN, groups)
        return f"({one_key.group(1)} ->> {one_key.group(2)})"
    return f"({sql} #>> '{{}}')"


def json_number(sql: str) -> str:
    """A JSON number, or a string holding one, as double precision; anything else is null."""
    text = json_text(sql)
    return (
        f"(case jsonb_typeof({sql}) when 'number' then ({sql})::double precision "
        f"when 'string' then (case when {text} ~ {_NUMERIC_TEXT} "
        f"then {text}::double precision end) end)"
    )


def text_number(sql: str) -> str:
    return f"(case when {sql} ~ {_NUMERIC_TEXT} then ({sql})::double precision end)"


def json_boolean(sql: str) -> str:
    return f"(case jsonb_typeof({sql}) when 'boolean' then ({sql})::boolean end)"


def json_timestamp(sql: str) -> str:
    text = json_text(sql)
    return f"(case when {text} ~ {_ISO_TEXT} then {text}::timestamptz end)"


def type_name(t: T) -> str:
    return {T.JSON: "attribute value", T.NULL: "null"}.get(t, t.value)


def coerce(value: Typed, target: T, pos: Pos | None, what: str = "value") -> str:
    """SQL for `value` as `target`, or a QueryError naming both types."""
    source = value.type
    if source is target:
        return value.sql
    if source is T.NULL:
        return f"null::{SQL_TYPE[target]}"
    if source is T.JSON:
        if target is T.STRING:
            return json_text(value.sql)
        if target is T.NUMBER:
            return json_number(value.sql)
        if target is T.DURATION:
            return f"({json_number(value.sql)})::bigint"
        if target is T.BOOLEAN:
            return json_boolean(value.sql)
        if target is T.TIMESTAMP:
            return json_timestamp(value.sql)
    if source in NUMERIC and target in NUMERIC:
        if target is T.DURATION:
            return f"({value.sql})::bigint"
        return f"({value.sql})::double precision"
    if target is T.JSON:
        return f"to_jsonb({value.sql})"
    if source is T.STRING and target is T.TIMESTAMP:
        return f"({value.sql})::timestamptz"
    raise QueryError.at(pos, f"{what} is a {type_name(source)}, but a {target.value} is needed")


def unify(left: Typed, right: Typed) -> T:
    """The type two operands are compared (or chosen between) as."""
    a, b = left.type, right.type
    if a is b:
        return a
    if a is T.NULL:
        return b
    if b is T.NULL:
        return a
    if a is T.JSON:
        return b
    if b is T.JSON:
        return a
    if a in NUMERIC and b in NUMERIC:
        return T.NUMBER
    if {a, b} == {T.STRING, T.TIMESTAMP}:
        return T.TIMESTAMP
    return a  # mismatched: coerce() reports it with the position
