"""DQL's time parts (getHour, getDayOfWeek, …) and time alignment (`now()@d`), in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta

from flowscope.query.calls import CallContext, Impl
from flowscope.query.values import T, Typed

# getX → the extract() field; DQL's getDayOfWeek counts Monday = 1 … Sunday = 7 (ISO)
PARTS = {"getYear": "year", "getMonth": "month", "getDayOfMonth": "day", "getHour": "hour"}
PARTS |= {"getDayOfWeek": "isodow", "getDayOfYear": "doy", "getWeekOfYear": "week"}
PARTS |= {"getMinute": "minute", "getSecond": "second"}

# `@unit` → date_trunc's field (weeks start on Monday, as in DQL)
ALIGN_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
ALIGN_UNITS |= {"M": "month", "q": "quarter", "y": "year"}


def time_part(field: str) -> Impl:
    def impl(c: CallContext, a: list[Typed]) -> Typed:
        ts = c.arg(a, 0, T.TIMESTAMP)
        return Typed(f"(trunc(extract({field} from ({ts}) at time zone 'UTC')))::bigint", T.NUMBER)

    return impl


def align_sql(timestamp_sql: str, unit: str) -> str:
    field = ALIGN_UNITS[unit]
    return f"(date_trunc('{field}', ({timestamp_sql}) at time zone 'UTC') at time zone 'UTC')"


def align(moment: datetime, unit: str) -> datetime:
    """The same alignment in Python, for fetch's `from:`/`to:` (`from: now()@d`)."""
    if unit == "s":
        return moment.replace(microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    if unit == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    if unit == "q":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def unix_from_timestamp(per_second: int) -> Impl:
    """unixSeconds/Millis/NanosFromTimestamp: whole units since the epoch, rounded down."""

    def impl(c: CallContext, a: list[Typed]) -> Typed:
        epoch = f"extract(epoch from {c.arg(a, 0, T.TIMESTAMP)})"
        return Typed(f"(floor({epoch} * {per_second}))::bigint", T.NUMBER)

    return impl
