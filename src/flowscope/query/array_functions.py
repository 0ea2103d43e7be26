"""Arrays and records of any values, as JSON: `array`, `record`, `splitString`, `timeframe`,
`range`, `toBoolean`, and `in(value, array)`.

FQL has two kinds of arrays: makeTimeseries' number arrays (`T.ARRAY`, double precision[]),
and arrays of anything (strings, records) as JSON, like `collectDistinct` gives. Both take
`[0]`, `expand`, `arraySize` and `in()`.
"""

from __future__ import annotations

from flowscope.query.calls import CallContext
from flowscope.query.values import T, Typed, json_text, unify


def as_json(value: Typed) -> str:
    if value.type is T.JSON:
        return value.sql
    if value.type is T.NULL:
        return "'null'::jsonb"
    return f"to_jsonb({value.sql})"


def array(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(f"jsonb_build_array({', '.join(as_json(v) for v in a)})", T.JSON)


def split_string(c: CallContext, a: list[Typed]) -> Typed:
    """The parts of the text between the delimiters; an empty text has no parts."""
    text, delimiter = c.arg(a, 0, T.STRING), c.arg(a, 1, T.STRING)
    return Typed(f"to_jsonb(string_to_array({text}, {delimiter}))", T.JSON)


def timeframe(c: CallContext, a: list[Typed]) -> Typed:
    start, end = c.arg(a, 0, T.TIMESTAMP), c.arg(a, 1, T.TIMESTAMP)
    return Typed(f"jsonb_build_object('start', {start}, 'end', {end})", T.JSON)


def range_of(c: CallContext, a: list[Typed]) -> Typed:
    """The bin of width `a[1]` (from the epoch) that holds the time `a[0]`, as a timeframe."""
    width = f"(({c.arg(a, 1, T.DURATION)})::double precision / 1000 * interval '1 microsecond')"
    start = f"date_bin({width}, {c.arg(a, 0, T.TIMESTAMP)}, timestamptz 'epoch')"
    bounds = f"jsonb_build_object('start', b, 'end', b + {width})"
    return Typed(f"(select {bounds} from (select {start}) as r(b))", T.JSON)  # noqa: S608


def to_boolean(c: CallContext, a: list[Typed]) -> Typed:
    """ "true"/"false" in any case, or a number (0 is false); anything else is null."""
    value = a[0]
    if value.type is T.BOOLEAN:
        return value
    if value.type in (T.NUMBER, T.DURATION):
        return Typed(f"(({value.sql}) <> 0)", T.BOOLEAN)
    if value.type is T.JSON:
        kind = f"jsonb_typeof({value.sql})"
        number = f"(case {kind} when 'number' then ({value.sql})::double precision <> 0 end)"
        boolean = f"(case {kind} when 'boolean' then ({value.sql})::boolean end)"
        text = _text_boolean(json_text(value.sql))
        return Typed(f"coalesce({boolean}, {number}, {text})", T.BOOLEAN)
    return Typed(_text_boolean(c.arg(a, 0, T.STRING)), T.BOOLEAN)


def _text_boolean(text: str) -> str:
    return f"(case lower({text}) when 'true' then true when 'false' then false end)"


def in_values(c: CallContext, a: list[Typed]) -> Typed:
    """in(x, "a", "b"), in(x, {"a", "b"}), or in(x, array): x is one of them."""
    if len(a) == 2 and a[1].type is T.ARRAY:
        return Typed(f"(({c.arg(a, 0, T.NUMBER)}) = any({a[1].sql}))", T.BOOLEAN)
    if len(a) == 2 and a[1].type is T.JSON:
        # an array holds the value as an element; any other value must equal it (as text)
        needle, options = as_json(a[0]), a[1].sql
        equal = f"({json_text(needle)} = {json_text(options)})"
        contains = f"({options} @> jsonb_build_array({needle}))"
        return Typed(
            f"(case jsonb_typeof({options}) when 'array' then {contains} else {equal} end)",
            T.BOOLEAN,
        )
    kind = a[0].type
    for value in a[1:]:
        kind = unify(Typed("", kind), value)
    if kind is T.JSON:
        kind = T.STRING  # attribute against attribute: compare their text
    needle = c.arg(a, 0, kind)
    options = ", ".join(c.arg(a, i, kind) for i in range(1, len(a)))
    return Typed(f"({needle} in ({options}))", T.BOOLEAN)
