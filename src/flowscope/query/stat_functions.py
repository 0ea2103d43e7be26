"""DQL's statistical aggregations: percentile(s), stddev, variance, countDistinctApprox.

Percentiles interpolate between the two nearest values (PostgreSQL's `percentile_cont`), as
`percentile` and `median` always have here. `stddev` and `variance` are the sample ones
(divided by n − 1, as SQL's `stddev`/`variance`): a group with a single value gives null.
`countDistinctApprox` is exact here: PostgreSQL counts distinct values exactly, so its
`precision:` is accepted and changes nothing.
"""

from __future__ import annotations

from flowscope.query import ast
from flowscope.query.calls import CallContext
from flowscope.query.errors import QueryError
from flowscope.query.values import T, Typed


def _numeric_kind(value: Typed) -> T:
    return T.DURATION if value.type is T.DURATION else T.NUMBER


def percent(c: CallContext, expr: ast.Expr) -> float:
    """A percentile given as a number literal from 0 to 100, as a fraction."""
    if not (isinstance(expr, ast.Literal) and expr.kind == "number"):
        raise QueryError.at(expr.pos, f"{c.name}(): a percentile must be a number from 0 to 100")
    assert isinstance(expr.value, int | float)  # noqa: S101 - number literals are int or float
    if not 0 <= expr.value <= 100:
        raise QueryError.at(expr.pos, f"{c.name}(): a percentile must be from 0 to 100")
    return expr.value / 100


def _ordered(c: CallContext, a: list[Typed]) -> tuple[str, T]:
    kind = _numeric_kind(a[0])
    return f"within group (order by ({c.arg(a, 0, kind)})::double precision)", kind


def percentile_of(c: CallContext, a: list[Typed], fraction_sql: str) -> Typed:
    ordered, kind = _ordered(c, a)
    return Typed(f"percentile_cont({fraction_sql}) {ordered}", kind)


def percentile(c: CallContext, a: list[Typed]) -> Typed:
    fraction = percent(c, c.call.args[1])
    return percentile_of(c, a, c.params.bind(fraction, "double precision"))


def median(c: CallContext, a: list[Typed]) -> Typed:
    return percentile_of(c, a, "0.5")


def percentiles(c: CallContext, a: list[Typed]) -> Typed:
    """percentiles(x, 50, 90, 99) or percentiles(x, {50, 90, 99}): an array with one value per
    percentile, in the order given, from one sort of the group (durations in nanoseconds)."""
    fractions = [percent(c, expr) for expr in c.call.args[1:]]
    ordered, _ = _ordered(c, a)
    bound = c.params.bind(fractions, "double precision[]")
    return Typed(f"percentile_cont({bound}) {ordered}", T.ARRAY)


def stddev(c: CallContext, a: list[Typed]) -> Typed:
    """The sample standard deviation; of durations, a duration."""
    kind = _numeric_kind(a[0])
    value = f"stddev_samp(({c.arg(a, 0, kind)})::double precision)"
    return Typed(f"({value})::bigint" if kind is T.DURATION else value, kind)


def variance(c: CallContext, a: list[Typed]) -> Typed:
    """The sample variance (of durations, in square nanoseconds: a number)."""
    return Typed(f"var_samp(({c.arg(a, 0, _numeric_kind(a[0]))})::double precision)", T.NUMBER)


def count_distinct(c: CallContext, a: list[Typed]) -> Typed:
    """countDistinct, countDistinctExact and countDistinctApprox (exact; `precision:` is
    accepted and ignored)."""
    return Typed(f"count(distinct {a[0].sql})", T.NUMBER)
