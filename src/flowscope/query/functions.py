"""The allow-list of FQL functions: scalar functions and aggregations, each with its SQL.

A function not in these tables cannot be called. Arguments arrive compiled (`Typed`), so a
function only decides the types it accepts and the SQL template around its arguments.
"""

from __future__ import annotations

from flowscope.query.array_functions import (
    array,
    in_values,
    range_of,
    split_string,
    timeframe,
    to_boolean,
)
from flowscope.query.calls import CallContext, Function, Impl
from flowscope.query.stat_functions import (
    count_distinct,
    median,
    percentile,
    percentiles,
    stddev,
    variance,
)
from flowscope.query.text_functions import (
    duration,
    format_timestamp,
    index_of,
    like,
    matches_phrase,
    matches_value,
    string_length,
    substring,
    text_map,
    text_test,
)
from flowscope.query.time_functions import PARTS, time_part, unix_from_timestamp
from flowscope.query.values import (
    SQL_TYPE,
    T,
    Typed,
    json_number,
    json_text,
    text_number,
    type_name,
    unify,
)

# --- scalar functions ------------------------------------------------------------------------


def _is_null(c: CallContext, a: list[Typed]) -> Typed:
    if a[0].type is T.JSON:  # a missing attribute and a JSON null are both null
        return Typed(f"(coalesce(jsonb_typeof({a[0].sql}), 'null') = 'null')", T.BOOLEAN)
    return Typed(f"({a[0].sql} is null)", T.BOOLEAN)


def _is_not_null(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(f"(not {_is_null(c, a).sql})", T.BOOLEAN)


def _to_double(c: CallContext, a: list[Typed]) -> Typed:
    value = a[0]
    if value.type is T.STRING:
        return Typed(text_number(value.sql), T.NUMBER)
    if value.type is T.BOOLEAN:
        return Typed(f"(case when {value.sql} then 1.0 else 0.0 end)", T.NUMBER)
    return Typed(c.arg(a, 0, T.NUMBER), T.NUMBER)


def _to_long(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(f"(trunc({_to_double(c, a).sql}))::bigint", T.NUMBER)


def _to_string(c: CallContext, a: list[Typed]) -> Typed:
    value = a[0]
    if value.type is T.STRING:
        return value
    if value.type is T.JSON:
        return Typed(json_text(value.sql), T.STRING)
    if value.type is T.TIMESTAMP:
        iso = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''
        return Typed(f"to_char({value.sql} at time zone 'UTC', {iso})", T.STRING)
    return Typed(f"({value.sql})::text", T.STRING)


def _to_duration(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(c.arg(a, 0, T.DURATION), T.DURATION)


def _to_timestamp(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(c.arg(a, 0, T.TIMESTAMP), T.TIMESTAMP)


def _now(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(c.now_sql(), T.TIMESTAMP)


def _if(c: CallContext, a: list[Typed]) -> Typed:
    condition = c.arg(a, 0, T.BOOLEAN)
    if len(a) == 2:
        return Typed(f"(case when {condition} then {a[1].sql} end)", a[1].type)
    result = unify(a[1], a[2])
    then, other = c.arg(a, 1, result), c.arg(a, 2, result)
    return Typed(f"(case when {condition} then {then} else {other} end)", result)


def _coalesce(c: CallContext, a: list[Typed]) -> Typed:
    result = a[0].type
    for value in a[1:]:
        result = unify(Typed("", result), value)
    parts = ", ".join(c.arg(a, i, result) for i in range(len(a)))
    return Typed(f"coalesce({parts})", result)


def _concat(c: CallContext, a: list[Typed]) -> Typed:
    parts = ", ".join(_to_string(c, [value]).sql for value in a)
    return Typed(f"concat({parts})", T.STRING)


def _abs(c: CallContext, a: list[Typed]) -> Typed:
    kind = T.DURATION if a[0].type is T.DURATION else T.NUMBER
    return Typed(f"abs({c.arg(a, 0, kind)})", kind)


def _round(c: CallContext, a: list[Typed]) -> Typed:
    value = c.arg(a, 0, T.NUMBER)
    if len(a) == 1:
        return Typed(f"round({value})", T.NUMBER)
    digits = c.arg(a, 1, T.NUMBER)
    return Typed(f"(round(({value})::numeric, ({digits})::int))::double precision", T.NUMBER)


def _array(sql_aggregate: str) -> Impl:
    def impl(c: CallContext, a: list[Typed]) -> Typed:
        if a[0].type is T.JSON:  # an array of JSON values: its numbers
            elements = f"jsonb_array_elements({_json_array(a[0].sql)})"
            value = json_number("u.v")
            total = f"({sql_aggregate}({value}))::double precision"
            return Typed(f"(select {total} from {elements} as u(v))", T.NUMBER)  # noqa: S608
        if a[0].type is not T.ARRAY:
            raise c.fail(f"needs an array (e.g. from makeTimeseries), not a {type_name(a[0].type)}")
        return Typed(f"(select {sql_aggregate}(v) from unnest({a[0].sql}) as u(v))", T.NUMBER)  # noqa: S608

    return impl


def _json_array(sql: str) -> str:
    """The JSON value if it is an array, else an empty array."""
    return f"(case jsonb_typeof({sql}) when 'array' then {sql} else '[]'::jsonb end)"


def _array_size(c: CallContext, a: list[Typed]) -> Typed:
    if a[0].type is T.JSON:
        return Typed(f"jsonb_array_length({_json_array(a[0].sql)})", T.NUMBER)
    if a[0].type is not T.ARRAY:
        raise c.fail(f"needs an array, not a {type_name(a[0].type)}")
    return Typed(f"coalesce(cardinality({a[0].sql}), 0)", T.NUMBER)


def _truth(sql_test: str) -> Impl:
    """isTrue/isFalse/isTrueOrNull/isFalseOrNull: `sql_test` is `is true`, `is not false`, …"""

    def impl(c: CallContext, a: list[Typed]) -> Typed:
        return Typed(f"(({c.arg(a, 0, T.BOOLEAN)}) {sql_test})", T.BOOLEAN)

    return impl


def _bin(c: CallContext, a: list[Typed]) -> Typed:
    """The start of the bin of width `a[1]` that holds `a[0]` (time bins start at the epoch)."""
    if a[0].type is T.TIMESTAMP:
        width = c.arg(a, 1, T.DURATION)
        stride = f"(({width})::double precision / 1000 * interval '1 microsecond')"
        return Typed(f"date_bin({stride}, {a[0].sql}, timestamptz 'epoch')", T.TIMESTAMP)
    kind = T.DURATION if a[0].type is T.DURATION else T.NUMBER
    value, width = c.arg(a, 0, kind), c.arg(a, 1, kind)
    return Typed(f"(floor(({value}) / nullif(({width}), 0)) * ({width}))", kind)


SCALARS: dict[str, Function] = {
    "isNull": Function(_is_null, 1, 1, "isNull(value)"),
    "isNotNull": Function(_is_not_null, 1, 1, "isNotNull(value)"),
    "startsWith": Function(
        text_test("starts_with({text}, {part})"),
        2,
        3,
        "startsWith(text, prefix[, caseSensitive: false])",
        ("expression", "prefix", "caseSensitive"),
    ),
    "endsWith": Function(
        text_test("(right({text}, char_length({part})) = {part})"),
        2,
        3,
        "endsWith(text, suffix[, caseSensitive: false])",
        ("expression", "suffix", "caseSensitive"),
    ),
    "contains": Function(
        text_test("(strpos({text}, {part}) > 0)"),
        2,
        3,
        "contains(text, part[, caseSensitive: false])",
        ("expression", "substring", "caseSensitive"),
    ),
    "substring": Function(
        substring, 2, 3, "substring(text, from: 0[, to: 5])", ("expression", "from", "to")
    ),
    "duration": Function(duration, 2, 2, 'duration(number, unit: "ms")', ("value", "unit")),
    "formatTimestamp": Function(
        format_timestamp,
        2,
        2,
        'formatTimestamp(timestamp, format: "yyyy-MM-dd HH:mm")',
        ("timestamp", "format"),
    ),
    "lower": Function(text_map("lower"), 1, 1, "lower(text)"),
    "upper": Function(text_map("upper"), 1, 1, "upper(text)"),
    "toDouble": Function(_to_double, 1, 1, "toDouble(value)"),
    "toLong": Function(_to_long, 1, 1, "toLong(value)"),
    "toString": Function(_to_string, 1, 1, "toString(value)"),
    "toDuration": Function(_to_duration, 1, 1, "toDuration(nanoseconds)"),
    "toTimestamp": Function(_to_timestamp, 1, 1, "toTimestamp(iso_text)"),
    "now": Function(_now, 0, 0, "now()"),
    "if": Function(_if, 2, 3, "if(condition, then[, else: value])", ("condition", "then", "else")),
    "coalesce": Function(_coalesce, 1, None, "coalesce(value, …)"),
    "concat": Function(_concat, 1, None, "concat(value, …)"),
    "abs": Function(_abs, 1, 1, "abs(number)"),
    "round": Function(_round, 1, 2, "round(number[, decimals: 2])", ("value", "decimals")),
    "in": Function(in_values, 2, None, "in(value, option, …) or in(value, array)"),
    "array": Function(array, 1, None, "array(value, …)"),
    "splitString": Function(
        split_string, 2, 2, 'splitString(text, delimiter: ",")', ("expression", "delimiter")
    ),
    "timeframe": Function(timeframe, 2, 2, "timeframe(from: now()-1h, to: now())", ("from", "to")),
    "range": Function(range_of, 2, 2, "range(timestamp, interval: 1h)", ("expression", "interval")),
    "toBoolean": Function(to_boolean, 1, 1, "toBoolean(value)"),
    "arraySum": Function(_array("sum"), 1, 1, "arraySum(array)"),
    "arrayAvg": Function(_array("avg"), 1, 1, "arrayAvg(array)"),
    "arrayMin": Function(_array("min"), 1, 1, "arrayMin(array)"),
    "arrayMax": Function(_array("max"), 1, 1, "arrayMax(array)"),
    "arraySize": Function(_array_size, 1, 1, "arraySize(array)"),
    "bin": Function(_bin, 2, 2, "bin(timestamp or number, width)"),
    "matchesPhrase": Function(
        matches_phrase,
        2,
        3,
        'matchesPhrase(text, "phrase"[, caseSensitive: true])',
        ("expression", "phrase", "caseSensitive"),
    ),
    "matchesValue": Function(
        matches_value,
        2,
        3,
        'matchesValue(value, "value*"[, caseSensitive: true])',
        ("expression", "value", "caseSensitive"),
    ),
    "like": Function(like, 2, 2, 'like(text, "pattern%")', ("expression", "pattern")),
    "indexOf": Function(
        index_of, 2, 3, "indexOf(text, part[, from: 0])", ("expression", "substring", "from")
    ),
    "stringLength": Function(string_length, 1, 1, "stringLength(text)"),
    "isTrue": Function(_truth("is true"), 1, 1, "isTrue(condition)"),
    "isFalse": Function(_truth("is false"), 1, 1, "isFalse(condition)"),
    "isTrueOrNull": Function(_truth("is not false"), 1, 1, "isTrueOrNull(condition)"),
    "isFalseOrNull": Function(_truth("is not true"), 1, 1, "isFalseOrNull(condition)"),
}
SCALARS |= {
    name: Function(time_part(field), 1, 1, f"{name}(timestamp)") for name, field in PARTS.items()
}
SCALARS |= {
    f"unix{unit}FromTimestamp": Function(
        unix_from_timestamp(per_second), 1, 1, f"unix{unit}FromTimestamp(timestamp)"
    )
    for unit, per_second in (("Seconds", 1), ("Millis", 1000))
}


# --- aggregations ----------------------------------------------------------------------------


def _numeric_kind(value: Typed) -> T:
    return T.DURATION if value.type is T.DURATION else T.NUMBER


def _count(c: CallContext, a: list[Typed]) -> Typed:
    if not a:
        return Typed("count(*)", T.NUMBER)
    if a[0].type is T.JSON:
        return Typed(f"count(nullif({a[0].sql}, 'null'::jsonb))", T.NUMBER)
    return Typed(f"count({a[0].sql})", T.NUMBER)


def _count_if(c: CallContext, a: list[Typed]) -> Typed:
    return Typed(f"count(*) filter (where {c.arg(a, 0, T.BOOLEAN)})", T.NUMBER)


def _sum(c: CallContext, a: list[Typed]) -> Typed:
    kind = _numeric_kind(a[0])
    return Typed(f"(sum({c.arg(a, 0, kind)}))::{SQL_TYPE[kind]}", kind)


def _avg(c: CallContext, a: list[Typed]) -> Typed:
    kind = _numeric_kind(a[0])
    return Typed(f"(avg({c.arg(a, 0, kind)}))::double precision", kind)


def _extreme(sql_function: str) -> Impl:
    def impl(c: CallContext, a: list[Typed]) -> Typed:
        value = a[0]
        if value.type in (T.ARRAY, T.BOOLEAN):
            raise c.fail(f"cannot compare {type_name(value.type)} values")
        if value.type is T.JSON:
            # an attribute holds numbers (or numeric text) or text: numbers compare as numbers,
            # and only a group without any number falls back to comparing the text
            number = f"to_jsonb({sql_function}({json_number(value.sql)}))"
            text = f'{json_text(value.sql)} collate "C"'
            only_text = f"jsonb_typeof({value.sql}) = 'string'"
            fallback = f"to_jsonb({sql_function}({text}) filter (where {only_text}))"
            return Typed(f"coalesce({number}, {fallback})", T.JSON)
        return Typed(f"{sql_function}({value.sql})", value.type)

    return impl


def _take(descending: bool) -> Impl:
    def impl(c: CallContext, a: list[Typed]) -> Typed:
        if c.record_order and a[0].sql == c.record_order[0][0]:
            # the first/last value of the ordering column itself is its min/max: no arrays
            first = "max" if descending != c.record_order[0][1] else "min"
            return Typed(f"{first}({a[0].sql})", a[0].type)
        if not c.record_order:
            order = ""
        else:
            order = " order by " + ", ".join(
                f"{sql} {'desc' if desc != descending else 'asc'}" for sql, desc in c.record_order
            )
        # DQL skips nulls: takeFirst(if(event.type == "x", timestamp)) is the first x's time
        present = f"where {_is_not_null(c, a).sql}"
        return Typed(f"(array_agg({a[0].sql}{order}) filter ({present}))[1]", a[0].type)

    return impl


def _collect(distinct: bool) -> Impl:
    """A JSON array of the non-null values: distinct ones sorted, or all in record order."""

    def impl(c: CallContext, a: list[Typed]) -> Typed:
        value = a[0].sql if a[0].type is T.JSON else f"to_jsonb({a[0].sql})"
        order = ", ".join(f"{sql} {'desc' if desc else 'asc'}" for sql, desc in c.record_order)
        inner = f"distinct {value}" if distinct else value + (f" order by {order}" if order else "")
        present = f"where {_is_not_null(c, a).sql}"
        return Typed(f"coalesce(jsonb_agg({inner}) filter ({present}), '[]'::jsonb)", T.JSON)

    return impl


def _take_any(c: CallContext, a: list[Typed]) -> Typed:
    present = f"where {_is_not_null(c, a).sql}"
    return Typed(f"(array_agg({a[0].sql}) filter ({present}))[1]", a[0].type)


AGGREGATES: dict[str, Function] = {
    "count": Function(_count, 0, 1, "count()"),
    "countIf": Function(_count_if, 1, 1, "countIf(condition)"),
    "countDistinct": Function(count_distinct, 1, 1, "countDistinct(value)"),
    "countDistinctExact": Function(count_distinct, 1, 1, "countDistinctExact(value)"),
    "countDistinctApprox": Function(
        count_distinct,
        1,
        2,
        "countDistinctApprox(value) (exact here)",
        ("expression", "precision"),
    ),
    "sum": Function(_sum, 1, 1, "sum(number)"),
    "avg": Function(_avg, 1, 1, "avg(number)"),
    "min": Function(_extreme("min"), 1, 1, "min(value)"),
    "max": Function(_extreme("max"), 1, 1, "max(value)"),
    "takeMin": Function(_extreme("min"), 1, 1, "takeMin(value)"),
    "takeMax": Function(_extreme("max"), 1, 1, "takeMax(value)"),
    "percentile": Function(percentile, 2, 2, "percentile(number, 0-100)"),
    "percentiles": Function(percentiles, 2, None, "percentiles(number, 50, 90, 99)"),
    "median": Function(median, 1, 1, "median(number)"),
    "stddev": Function(stddev, 1, 1, "stddev(number)"),
    "variance": Function(variance, 1, 1, "variance(number)"),
    "takeFirst": Function(_take(False), 1, 1, "takeFirst(value)"),
    "takeLast": Function(_take(True), 1, 1, "takeLast(value)"),
    "takeAny": Function(_take_any, 1, 1, "takeAny(value)"),
    "collectDistinct": Function(_collect(True), 1, 1, "collectDistinct(value)"),
    "collectArray": Function(_collect(False), 1, 1, "collectArray(value)"),
}

# Aggregations that count: an empty time-series bin is 0 for them, null for the others.
COUNTING = frozenset({"count", "countIf", "countDistinct"})
COUNTING |= {"countDistinctExact", "countDistinctApprox"}
ALL_FUNCTIONS = frozenset(SCALARS) | frozenset(AGGREGATES)
assert not set(SCALARS) & set(AGGREGATES)  # noqa: S101 - one name, one meaning
