"""Timeframes: the one value type, the named ranges, the default, and the one time syntax.

Every page, JSON route, FQL `from:`/`to:` and dashboard reads times with `parse_time`:

- relative to now: `-2h`, `-1d-1h`, `-30m`, `now`, `now()`, `now-2h`, `+1d`
  (units ns, us, ms, s, m, h, d, w; decimals allowed: `-1.5h`);
- ISO 8601 with or without a zone (`2026-11-23T10:00:00Z`, `2026-11-23T10:00:00+01:00`,
  `2026-11-23`), which covers the `2026-11-23T10:00` of a datetime-local input; a time
  without a zone is UTC.

Results are aware UTC datetimes between `EARLIEST` and `LATEST`; anything else (a typo, year 0,
year 10000, an offset of a billion days) is a `TimeframeError`: a 400 that names the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flowscope.errors import FlowscopeError

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {"1h": "1 h", "6h": "6 h", "24h": "24 h", "7d": "7 d", "30d": "30 d"}
DEFAULT_RANGE = "24h"
# The same default as text, for the places that keep a time as typed (FQL, dashboards).
DEFAULT_FROM = f"-{DEFAULT_RANGE}"

# Business events before the Unix epoch are not a use case, and the upper bound keeps a day of
# margin below Python's datetime.max, so showing or shifting a valid time can never overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
BOUNDS = f"times must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"

# Longer texts are not a time anyway; the bound keeps the regexes' work small.
MAX_LENGTH = 100
_UNIT_NS = {
    "ns": 1,
    "us": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
    "w": 7 * 86400 * 10**9,
}
_RELATIVE = re.compile(
    r"(?:now(?:\(\))?)?\s*((?:[-+]\s*\d+(?:\.\d+)?(?:ns|us|ms|s|m|h|d|w)\s*)*)", re.ASCII
)
_PART = re.compile(r"([-+])\s*(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d|w)", re.ASCII)
SYNTAX = (
    "use a relative time like -2h, -1d-1h, now or now-2h, or an ISO 8601 time like "
    "2026-11-23T10:00:00Z"
)


class TimeframeError(FlowscopeError):
    """A time or timeframe the user gave is not valid; `field` names where it came from."""

    code = "invalid_request"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", details=[{"field": field, "message": reason}])
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Timeframe:
    """`[start, end)`; `range` is the name of a named range (a key of RANGES) ending at `end`,
    or None for any other timeframe."""

    start: datetime
    end: datetime
    range: str | None = None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def custom(self) -> bool:
        return self.range is None

    def previous(self) -> Timeframe:
        """The timeframe of the same length just before, to compare KPIs with (not a named
        range: it does not end now).

        It never starts before EARLIEST (nothing older can be queried), so it is shorter, or
        empty, for a timeframe that starts less than its own length after 1970."""
        start = self.start - min(self.duration, self.start - EARLIEST)
        return Timeframe(start, self.start)

    def params(self) -> dict[str, str]:
        """Query parameters that reproduce this timeframe (for links that keep it)."""
        if self.range is not None:
            return {"range": self.range}
        return {"range": "custom", "from": _minutes(self.start), "to": _minutes(self.end)}

    @property
    def label(self) -> str:
        if self.range is None:
            return "custom timeframe"
        return f"last {RANGE_LABELS[self.range]}"

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def _minutes(value: datetime) -> str:
    """The datetime-local form the custom timeframe inputs show."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def parse_time(text: str, now: datetime, field: str) -> datetime:
    """`text` as an aware UTC datetime in [EARLIEST, LATEST]; TimeframeError naming `field`."""
    value = text.strip()
    if not value:
        raise TimeframeError(field, f"is empty; {SYNTAX}")
    if len(value) > MAX_LENGTH:
        raise TimeframeError(field, f"is longer than {MAX_LENGTH} characters; {SYNTAX}")
    match = _RELATIVE.fullmatch(value)
    if match is not None:
        return _relative(match.group(1), now, field, value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TimeframeError(field, f"{value!r} is not a time; {SYNTAX}") from None
    return in_range(parsed, field, value)


def _relative(offsets: str, now: datetime, field: str, text: str) -> datetime:
    total = sum(
        (
            Decimal(amount) * _UNIT_NS[unit] * (-1 if sign == "-" else 1)
            for sign, amount, unit in _PART.findall(offsets)
        ),
        Decimal(0),
    )
    try:
        moved = now + timedelta(microseconds=int(total) // 1000)
    except OverflowError:  # `-99999999999999d`: past what timedelta or datetime can hold
        raise TimeframeError(field, f"{text!r} is too far from now; {BOUNDS}") from None
    return in_range(moved, field, text)


def in_range(value: datetime, field: str, text: str | None = None) -> datetime:
    """`value` in UTC (naive means UTC) if it lies in [EARLIEST, LATEST], else TimeframeError."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is in year 0 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        shown = repr(text) if text is not None else value.isoformat()
        raise TimeframeError(field, f"{shown} is outside the supported range; {BOUNDS}")
    return utc


def _ordered(start: datetime, end: datetime) -> None:
    if start >= end:
        raise TimeframeError(
            "from",
            f"must be earlier than to (from {start.isoformat()}, to {end.isoformat()})",
        )


def between(
    time_from: str | None, time_to: str | None, now: datetime, default_from: str = DEFAULT_FROM
) -> Timeframe:
    """The timeframe a caller asks for as text (API parameters, dashboards, the notebook):
    `from` defaults to `default_from`, `to` to now."""
    start = parse_time(time_from or default_from, now, "from")
    end = parse_time(time_to, now, "to") if time_to else now
    _ordered(start, end)
    return Timeframe(start, end)


def bounds(
    time_from: str | None, time_to: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Optional `from`/`to` parameters of a listing, where a missing one means open-ended."""
    start = parse_time(time_from, now, "from") if time_from else None
    end = parse_time(time_to, now, "to") if time_to else None
    if start is not None and end is not None:
        _ordered(start, end)
    return start, end


def window(start: datetime | None, end: datetime | None, now: datetime) -> Timeframe:
    """`[start, end)` of datetimes a service was given: `end` defaults to now, `start` to the
    default range before `end`; naive times are UTC."""
    finish = in_range(end, "to") if end is not None else now
    begin = in_range(start, "from") if start is not None else finish - RANGES[DEFAULT_RANGE]
    _ordered(begin, finish)
    return Timeframe(begin, finish, None if start is not None or end is not None else DEFAULT_RANGE)


def timeframe(range_: str | None, start: str | None, end: str | None, now: datetime) -> Timeframe:
    """The timeframe of a page: a named range ending now (`?range=7d`), or a custom one
    (`?range=custom&from=…&to=…`, `to` defaulting to now)."""
    if range_ == "custom" or (range_ is None and (start or end)):
        if not start:
            raise TimeframeError("from", "a custom timeframe needs a start")
        begin = parse_time(start, now, "from")
        finish = parse_time(end, now, "to") if end else now
        _ordered(begin, finish)
        return Timeframe(begin, finish)
    key = range_ or DEFAULT_RANGE
    if key not in RANGES:
        raise TimeframeError("range", f"must be one of {', '.join(RANGES)} or custom")
    return Timeframe(now - RANGES[key], now, key)
