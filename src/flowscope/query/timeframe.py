"""The timeframe of a query: the caller's (API parameters, picker) and `from:`/`to:` in FQL.

Times use the one syntax of `flowscope.timeframes`; here its errors become QueryErrors, so the
query layer reports them like any other mistake in a query, with a line and column when the
time was written in the query text.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flowscope.query import ast
from flowscope.query.errors import QueryError
from flowscope.query.time_functions import align
from flowscope.timeframes import (
    BOUNDS,
    DEFAULT_FROM,
    Timeframe,
    TimeframeError,
    between,
    in_range,
)
from flowscope.timeframes import parse_time as parse_text


def caller_timeframe(
    time_from: str | None, time_to: str | None, now: datetime, default_from: str = DEFAULT_FROM
) -> Timeframe:
    try:
        return between(time_from, time_to, now, default_from)
    except TimeframeError as exc:
        raise QueryError(exc.message) from None


def checked(timeframe: Timeframe, pos: ast.Pos | None) -> Timeframe:
    if timeframe.start >= timeframe.end:
        raise QueryError.at(
            pos,
            f"the timeframe is empty: from ({timeframe.start.isoformat()}) must be before "
            f"to ({timeframe.end.isoformat()})",
        )
    return timeframe


def eval_time(expr: ast.Expr, now: datetime, what: str) -> datetime:
    """`from:`/`to:` values: a constant time expression (-1h, -1d-1h, now(), now()-2h, "ISO")."""
    try:
        value = _constant(expr, now, what)
        return in_range(now + value if isinstance(value, timedelta) else value, what)
    except TimeframeError as exc:
        raise QueryError.at(expr.pos, exc.message) from None
    except OverflowError:  # e.g. "1970-01-01" - 106751d - 106751d…: before year 1
        raise QueryError.at(expr.pos, f"{what}: this time is out of range; {BOUNDS}") from None


def _constant(expr: ast.Expr, now: datetime, what: str) -> datetime | timedelta:
    if isinstance(expr, ast.Literal):
        if expr.kind == "duration":
            assert isinstance(expr.value, int)  # noqa: S101 - durations are int ns
            return timedelta(microseconds=expr.value // 1000)
        if expr.kind == "string":
            try:
                return parse_text(str(expr.value), now, what)
            except TimeframeError as exc:
                raise QueryError.at(expr.pos, exc.message) from None
    if isinstance(expr, ast.Field) and expr.name == "now":
        return now
    if isinstance(expr, ast.Call) and expr.name == "now" and not expr.args:
        return now
    if isinstance(expr, ast.Call) and expr.name == "@":  # from: now()@d
        moment = _constant(expr.args[0], now, what)
        unit = expr.args[1]
        if isinstance(moment, datetime) and isinstance(unit, ast.Literal):
            return align(moment, str(unit.value))
    if isinstance(expr, ast.Unary) and expr.op == "-":
        inner = _constant(expr.operand, now, what)
        if isinstance(inner, timedelta):
            return -inner
    if isinstance(expr, ast.Binary) and expr.op in ("+", "-"):
        left = _constant(expr.left, now, what)
        right = _constant(expr.right, now, what)
        if isinstance(right, timedelta):
            return left + right if expr.op == "+" else left - right
    raise QueryError.at(
        expr.pos,
        f'{what}: expected a time such as -1h, -1d-1h, now() or "2026-11-23T10:00:00Z"',
    )
