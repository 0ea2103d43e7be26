"""The one time syntax and timeframe value: what parses, what is refused, and how."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowscope.timeframes import (
    DEFAULT_FROM,
    DEFAULT_RANGE,
    EARLIEST,
    LATEST,
    RANGES,
    Timeframe,
    TimeframeError,
    between,
    bounds,
    parse_time,
    timeframe,
    window,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2h", NOW - timedelta(hours=2)),
        ("-1d-1h", NOW - timedelta(days=1, hours=1)),
        ("- 1d + 30m", NOW - timedelta(days=1) + timedelta(minutes=30)),
        ("-1.5h", NOW - timedelta(minutes=90)),
        ("-250ms", NOW - timedelta(milliseconds=250)),
        ("+1w", NOW + timedelta(weeks=1)),
        ("now", NOW),
        ("now()", NOW),
        ("now-2h", NOW - timedelta(hours=2)),
        ("  -30m  ", NOW - timedelta(minutes=30)),
        ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T10:00:00+01:00", datetime(2026, 11, 23, 9, tzinfo=UTC)),
        ("2026-11-23T10:00:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T10:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),  # datetime-local
        ("2026-11-23", datetime(2026, 11, 23, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", EARLIEST),
        ("9999-12-31", LATEST),
    ],
)
def test_every_accepted_form_gives_an_aware_utc_time(text: str, expected: datetime) -> None:
    parsed = parse_time(text, NOW, "from")
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-99999999999999d", "too far from now"),
        ("+99999999999999999999999999999999999999w", "too far from now"),
        ("-2000000w", "too far from now"),
        ("+9000y", "is not a time"),
        ("0000-01-01", "is not a time"),
        ("10000-01-01T00:00:00Z", "is not a time"),
        ("0001-01-01T00:00:00+05:00", "outside the supported range"),
        ("1969-12-31T23:59:59Z", "outside the supported range"),
        ("9999-12-31T12:00:00Z", "outside the supported range"),
        ("9999-12-31T23:00:00-05:00", "outside the supported range"),
        ("-3000w", "outside the supported range"),
        ("2026-02-30", "is not a time"),
        ("yesterday", "is not a time"),
        ("", "is empty"),
        ("-1h" * 40, "longer than 100 characters"),
    ],
)
def test_refused_times_are_a_400_naming_the_field(text: str, reason: str) -> None:
    with pytest.raises(TimeframeError) as caught:
        parse_time(text, NOW, "to")
    error = caught.value
    assert error.status_code == 400
    assert error.field == "to"
    assert error.message.startswith("to: ")
    assert reason in error.message
    assert error.to_dict()["error"]["details"] == [{"field": "to", "message": error.reason}]


def test_named_ranges_and_custom_timeframes() -> None:
    week = timeframe("7d", None, None, NOW)
    assert (week.start, week.end, week.params()) == (NOW - timedelta(days=7), NOW, {"range": "7d"})
    assert week.label == "last 7 d"
    custom = timeframe("custom", "2026-11-01T08:00", "2026-11-02T08:00", NOW)
    assert custom.start == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert custom.custom
    assert custom.label == "custom timeframe"
    assert custom.params() == {
        "range": "custom",
        "from": "2026-11-01T08:00",
        "to": "2026-11-02T08:00",
    }
    relative = timeframe(None, "-2h", None, NOW)
    assert (relative.start, relative.end) == (NOW - timedelta(hours=2), NOW)
    default = timeframe(None, None, None, NOW)
    assert (default.range, default.duration) == (DEFAULT_RANGE, RANGES[DEFAULT_RANGE])
    with pytest.raises(TimeframeError, match="from: must be earlier than to"):
        timeframe("custom", "2026-11-02T08:00", "2026-11-01T08:00", NOW)
    with pytest.raises(TimeframeError, match="range: must be one of"):
        timeframe("2w", None, None, NOW)
    with pytest.raises(TimeframeError, match="from: a custom timeframe needs a start"):
        timeframe("custom", None, "2026-11-01T08:00", NOW)


def test_previous_is_the_same_span_just_before() -> None:
    tf = Timeframe(NOW - timedelta(hours=6), NOW, "6h")
    assert tf.previous() == Timeframe(NOW - timedelta(hours=12), NOW - timedelta(hours=6))
    assert tf.previous().duration == tf.duration


def test_previous_never_starts_before_the_earliest_time() -> None:
    everything = Timeframe(EARLIEST + timedelta(days=1), LATEST)
    before = everything.previous()
    assert (before.start, before.end) == (EARLIEST, EARLIEST + timedelta(days=1))
    assert Timeframe(EARLIEST, NOW).previous().duration == timedelta(0)


def test_between_defaults_to_the_default_range_before_now() -> None:
    assert between(None, None, NOW) == Timeframe(NOW - RANGES[DEFAULT_RANGE], NOW)
    assert DEFAULT_FROM == f"-{DEFAULT_RANGE}"
    assert between("-1h", "now-30m", NOW).duration == timedelta(minutes=30)
    with pytest.raises(TimeframeError, match="from: must be earlier than to"):
        between("-1h", "-2h", NOW)
    with pytest.raises(TimeframeError, match="^to: "):
        between("-1h", "10000-01-01", NOW)


def test_bounds_are_open_ended_unless_given() -> None:
    assert bounds(None, None, NOW) == (None, None)
    assert bounds("-1h", None, NOW) == (NOW - timedelta(hours=1), None)
    with pytest.raises(TimeframeError, match="from: must be earlier than to"):
        bounds("2026-11-02", "2026-11-01", NOW)


def test_window_reads_naive_times_as_utc_and_checks_the_range() -> None:
    naive = window(datetime(2026, 11, 1), datetime(2026, 11, 2), NOW)
    assert naive.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert naive.range is None
    assert window(None, None, NOW) == Timeframe(NOW - timedelta(hours=24), NOW, DEFAULT_RANGE)
    east = timezone(timedelta(hours=5))
    with pytest.raises(TimeframeError, match="^from: .*outside the supported range"):
        window(datetime(1, 1, 1, tzinfo=east), None, NOW)


# --- any input: an aware time within range, or the 400 error; never anything else ----------

_UNITS = st.sampled_from(["ns", "us", "ms", "s", "m", "h", "d", "w", "y", ""])
_AMOUNT = st.one_of(
    st.integers(0, 10**40), st.decimals(0, 10**12, places=3), st.sampled_from([10**8, 10**15])
)
_OFFSET = st.builds(
    lambda sign, amount, unit: f"{sign}{amount}{unit}",
    st.sampled_from(["-", "+", " - ", ""]),
    _AMOUNT,
    _UNITS,
)
_RELATIVE = st.builds(
    lambda head, parts: head + "".join(parts),
    st.sampled_from(["", "now", "now()", "now ", "NOW"]),
    st.lists(_OFFSET, max_size=4),
)
# Years at and beyond the edges, and zones that move a time across them.
_ISO = st.builds(
    lambda year, rest, zone: f"{year:04d}{rest}{zone}",
    st.one_of(st.sampled_from([0, 1, 1969, 1970, 9999, 10_000]), st.integers(0, 99_999)),
    st.sampled_from(["-01-01T00:00:00", "-12-31T23:59:59", "-02-29T12:00", "-06-15"]),
    st.sampled_from(["", "Z", "+14:00", "-12:00", "+05:30", "-00:30"]),
)
_NOW = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


def _parses_into_range_or_is_a_400(text: str, now: datetime) -> None:
    outcome: datetime | TimeframeError
    try:
        outcome = parse_time(text, now, "from")
    except TimeframeError as exc:  # any other exception fails the test
        outcome = exc
    if isinstance(outcome, TimeframeError):
        assert outcome.status_code == 400
        assert outcome.message.startswith("from: ")
    else:
        assert outcome.utcoffset() == timedelta(0)
        assert EARLIEST <= outcome <= LATEST


@settings(max_examples=300)
@given(text=_RELATIVE, now=_NOW)
def test_any_relative_time_is_in_range_or_a_400(text: str, now: datetime) -> None:
    _parses_into_range_or_is_a_400(text, now)


@settings(max_examples=300)
@given(text=_ISO)
def test_any_iso_time_is_in_range_or_a_400(text: str) -> None:
    _parses_into_range_or_is_a_400(text, NOW)


@given(text=st.one_of(st.text(max_size=40), st.text("0123456789-+:TZ.nowdhms ", max_size=30)))
def test_any_text_is_a_time_in_range_or_a_400(text: str) -> None:
    _parses_into_range_or_is_a_400(text, NOW)
