"""The typed FQL syntax tree. Every node knows where it starts in the query text (1-based)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TypingLiteral


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


# --- expressions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant. `kind` says how the value is typed; durations are integer nanoseconds."""

    value: str | int | float | bool | None
    kind: TypingLiteral["string", "number", "duration", "boolean", "null"]
    pos: Pos


@dataclass(frozen=True, slots=True)
class NamedArg:
    """`name: expr` inside a function call, e.g. the `else:` of if(c, a, else: b)."""

    name: str
    expr: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    pos: Pos
    named: tuple[NamedArg, ...] = ()


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # == != < <= > >= + - * / and or
    left: Expr
    right: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # not, -
    operand: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class Index:
    """`base[key]`: a record's field (key a name or string) or an array's element (a number,
    0-based, as in DQL)."""

    base: Expr
    key: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class InQuery:
    """`value in [subquery]`: the subquery returns one field."""

    value: Expr
    query: Query
    pos: Pos


Expr = Field | Literal | Call | Binary | Unary | Index | InQuery


@dataclass(frozen=True, slots=True)
class Assign:
    """`name = expr`, or a bare expression whose name is its own text (as DQL names it)."""

    name: str
    expr: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Expr
    descending: bool


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetch:
    source: str
    time_from: Expr | None
    time_to: Expr | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class Data:
    """`data record(a = 1, b = "x"), record(…)`: inline records instead of a fetch."""

    records: tuple[tuple[NamedArg, ...], ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Filter:
    condition: Expr
    negate: bool  # filterOut
    pos: Pos


@dataclass(frozen=True, slots=True)
class Fields:
    items: tuple[Assign, ...]
    keep_others: bool  # fieldsAdd keeps the other fields, fields does not
    pos: Pos


@dataclass(frozen=True, slots=True)
class FieldsRemove:
    names: tuple[Field, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Summarize:
    aggregates: tuple[Assign, ...]
    by: tuple[Assign, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[SortKey, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Limit:
    count: Literal
    pos: Pos


@dataclass(frozen=True, slots=True)
class Dedup:
    keys: tuple[Expr, ...]
    sort: tuple[SortKey, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Lookup:
    query: Query
    source_field: Field
    lookup_field: Field
    prefix: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class MakeTimeseries:
    aggregates: tuple[Assign, ...]
    by: tuple[Assign, ...]
    time: Field | None
    interval: Literal | None
    bins: Literal | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class FieldsRename:
    """`fieldsRename new = old, …`."""

    renames: tuple[tuple[str, Field], ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Expand:
    """`expand field`: one record per element of the array in `field`."""

    field: Field
    pos: Pos


@dataclass(frozen=True, slots=True)
class Join:
    """`join [subquery], on: {key, left[a] == right[b]}, kind:, fields: {…}, prefix:`."""

    query: Query
    on: tuple[tuple[Expr, Expr], ...]  # (left side, right side) pairs, all must be equal
    kind: TypingLiteral["inner", "leftOuter"]
    fields: tuple[Field, ...] | None  # None: every field of the subquery
    prefix: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Append:
    """`append [subquery]`: the subquery's records after this pipeline's."""

    query: Query
    pos: Pos


@dataclass(frozen=True, slots=True)
class FieldsSummary:
    """`fieldsSummary a, b, topValues: 20`: per field, how many records hold which value."""

    names: tuple[Field, ...]
    top: int
    pos: Pos


@dataclass(frozen=True, slots=True)
class Parse:
    """`parse field, "PATTERN"`: the pattern's named captures as new fields."""

    field: Expr
    pattern: Literal
    pos: Pos


Command = (
    Filter
    | Join
    | Append
    | FieldsSummary
    | Parse
    | Fields
    | FieldsRemove
    | FieldsRename
    | Expand
    | Summarize
    | Sort
    | Limit
    | Dedup
    | Lookup
    | MakeTimeseries
)


@dataclass(frozen=True, slots=True)
class Query:
    fetch: Fetch | Data
    commands: tuple[Command, ...] = field(default=())
