"""How the flow pages show numbers and changes (pure functions)."""

from __future__ import annotations

import pytest

from flowscope.flows.analysis.formatting import change, duration, it_context, sparkline


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0, "0 s"), (59.6, "1 min"), (200, "3 min 20 s"), (7500, "2 h 5 min"),
     (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"), (86400, "1 d")],
)  # fmt: skip
def test_durations_show_the_two_largest_units(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_a_change_knows_whether_up_is_good() -> None:
    assert change(12.5, "revenue") == {"text": "+12.5 %", "tone": "good", "arrow": "▲"}
    assert change(12.5, "exceptions")["tone"] == "bad"
    assert change(-3.0, "avg_duration_s") == {"text": "−3.0 %", "tone": "good", "arrow": "▼"}
    assert change(0.0, "conversion")["tone"] == "flat"
    assert change(None, "exceptions", previous=0, current=4)["text"] == "up from 0"
    assert change(None, "exceptions", previous=0, current=4)["tone"] == "bad"
    assert change(None, "revenue")["tone"] == "flat"


def test_sparkline_scales_into_its_box() -> None:
    points = sparkline([0, 5, 10], width=100, height=20)
    assert points == "0.0,18.0 50.0,10.0 100.0,2.0"
    assert sparkline([0, 0]) == "0.0,34.0 160.0,34.0"


def test_it_context_is_found_flat_or_nested() -> None:
    attrs = {"host.name": "web-1", "service": {"name": "checkout"}, "trace_id": "abc", "x": 1}
    assert it_context(attrs) == [("host", "web-1"), ("service", "checkout"), ("trace", "abc")]
    assert it_context({"host": {"ip": "10.0.0.1"}}) == []
    assert it_context("not a mapping") == []


def test_a_small_baseline_shows_the_previous_value_instead_of_a_percentage() -> None:
    shown = change(29475.0, "started", previous=2, current=591, flows=591, baseline=2)
    assert shown == {"text": "prev. 2", "tone": "flat", "arrow": ""}
    assert change(812.5, "revenue", 40.0, 365.0, flows=7, baseline=1)["text"] == "prev. 40.00"
    assert change(-100.0, "conversion", 0.5, 0.0, flows=3, baseline=4)["text"] == "prev. 50.0 %"
    # From MIN_BASELINE flows on, the percentage is shown.
    assert change(-10.0, "conversion", 0.5, 0.45, flows=30, baseline=20)["text"] == "−10.0 %"


def test_an_empty_timeframe_is_named_as_such() -> None:
    assert change(None, "conversion", 0.5, None, flows=0, baseline=40)["text"] == (
        "no flows in this timeframe"
    )
    assert change(None, "conversion", 0.5, None)["text"] == "no flows in this timeframe"
    assert change(None, "conversion", None, 0.5)["text"] == "no flows in the timeframe before"
    assert change(None, "conversion", None, 0.5, flows=9, baseline=0)["text"] == (
        "no flows in the timeframe before"
    )
    assert change(None, "conversion", None, None, flows=0, empty="too early")["text"] == "too early"
