"""Timeframes: `from:`/`to:` in a query, and the caller's timeframe (API parameters, picker).

Accepted: relative times (`-1h`, `-1d-1h`, `-30m`, `now`, `now-2h`) and absolute ISO 8601
timestamps (`2026-11-23T10:00:00Z`; without a zone, UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flowscope.query import ast
from flowscope.query.ast_builder import duration_ns
from flowscope.query.errors import QueryError

DEFAULT_FROM = "-24h"

_RELATIVE = re.compile(
    r"^(?:now(?:\(\))?)?\s*((?:[-+]\s*\d+(?:\.\d+)?(?:ns|us|ms|s|m|h|d|w)\s*)*)$", re.ASCII
)
_PART = re.compile(r"([-+])\s*(\d+(?:\.\d+)?(?:ns|us|ms|s|m|h|d|w))")


@dataclass(frozen=True, slots=True)
class Timeframe:
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def parse_time(text: str, now: datetime, what: str) -> datetime:
    """A relative or absolute time from a text parameter; QueryError naming `what` if invalid."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if value and match is not None:
        offset = sum(
            (
                timedelta(microseconds=duration_ns(amount) / 1000) * (-1 if sign == "-" else 1)
                for sign, amount in _PART.findall(match.group(1))
            ),
            timedelta(),
        )
        return now + offset
    return _iso(value, what, None)


def _iso(value: str, what: str, pos: ast.Pos | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryError.at(
            pos,
            f"{what}: {value!r} is not a time; use a relative time like -2h or -1d-1h, "
            "now, or an ISO timestamp like 2026-11-23T10:00:00Z",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def caller_timeframe(
    time_from: str | None, time_to: str | None, now: datetime, default_from: str = DEFAULT_FROM
) -> Timeframe:
    start = parse_time(time_from or default_from, now, "from")
    end = parse_time(time_to, now, "to") if time_to else now
    return checked(Timeframe(start, end), None)


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
    value = _constant(expr, now, what)
    if isinstance(value, timedelta):
        return now + value
    return value


def _constant(expr: ast.Expr, now: datetime, what: str) -> datetime | timedelta:
    if isinstance(expr, ast.Literal):
        if expr.kind == "duration":
            assert isinstance(expr.value, int)  # noqa: S101 - durations are int ns
            return timedelta(microseconds=expr.value / 1000)
        if expr.kind == "string":
            return _iso(str(expr.value), what, expr.pos)
    if isinstance(expr, ast.Field) and expr.name == "now":
        return now
    if isinstance(expr, ast.Call) and expr.name == "now" and not expr.args:
        return now
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
