"""Analyzers on synthetic series: each detects its kind of anomaly, and the false positives
on clean seasonal data are counted (printed; run with -s to see them)."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from flowscope.alerts import analyzers
from flowscope.alerts.analyzers import Judged, Point, Window
from tests.alerts.synthetic import PER_DAY, START, STEP, daily, with_added

W = Window(violating=3, of=5, dealerting=5)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """The detection and false-positive counts are these tests' report: shown with -s or
    not."""
    with capsys.disabled():
        sys.stdout.write(f"\n{line}\n")


DAY = timedelta(days=1)


def _opened(judged: list[Judged], window: Window = W) -> list[int]:
    return [c.index for c in analyzers.transitions(judged, window) if c.change == "opened"]


def test_static_opens_after_three_of_five_and_resolves_after_five_normal() -> None:
    values = [1, 1, 20, 1, 20, 20, 1, 1, 1, 1, 1, 1]
    points = [Point(START + STEP * n, v) for n, v in enumerate(values)]
    judged = analyzers.static(points, "above", 10)
    changes = analyzers.transitions(judged, W)
    assert [(c.change, c.index) for c in changes] == [("opened", 5), ("resolved", 10)]


def test_static_below_and_missing_values_never_violate_a_threshold() -> None:
    points = [Point(START + STEP * n, v) for n, v in enumerate([5, None, 0, None, 0])]
    judged = analyzers.static(points, "below", 1)
    assert [j.violating for j in judged] == [False, False, True, False, True]


def test_a_resolved_alert_needs_new_violations_to_open_again() -> None:
    window = Window(violating=3, of=5, dealerting=1)
    values = [20, 20, 20, 1, 1, 1]
    points = [Point(START + STEP * n, v) for n, v in enumerate(values)]
    changes = analyzers.transitions(analyzers.static(points, "above", 10), window)
    assert [(c.change, c.index) for c in changes] == [("opened", 2), ("resolved", 3)]


ADAPTIVE_WINDOW = 2 * PER_DAY  # two days of 5-minute samples


def test_adaptive_detects_a_spike(capsys: pytest.CaptureFixture[str]) -> None:
    clean = daily(4)
    spike_at = 3 * PER_DAY + 100
    spiked = with_added(clean, spike_at, 4, 150)
    opened = _opened(analyzers.adaptive(spiked, "above", ADAPTIVE_WINDOW, 1.5))
    false_positives = _opened(analyzers.adaptive(clean, "above", ADAPTIVE_WINDOW, 1.5))
    report(
        capsys, f"adaptive: spike opened at {opened}, clean false positives {len(false_positives)}"
    )
    assert any(spike_at <= i < spike_at + 4 for i in opened)
    assert len(false_positives) == 0


def test_adaptive_detects_a_level_shift_then_follows_it(capsys: pytest.CaptureFixture[str]) -> None:
    clean = daily(4)
    shift_at = 3 * PER_DAY + 60
    shifted = with_added(clean, shift_at, PER_DAY, 150)
    changes = analyzers.transitions(analyzers.adaptive(shifted, "above", ADAPTIVE_WINDOW, 1.5), W)
    opened = [c.index for c in changes if c.change == "opened"]
    resolved = [c.index for c in changes if c.change == "resolved"]
    report(capsys, f"adaptive: level shift opened at {opened}, resolved at {resolved}")
    assert opened
    assert shift_at <= opened[0] < shift_at + 5
    # the baseline moves up with the data: the alert resolves once the shift is the norm
    assert resolved
    assert resolved[0] > opened[0]


def test_seasonal_detects_a_high_value_at_the_daily_low(capsys: pytest.CaptureFixture[str]) -> None:
    clean = daily(14)
    # At 18:00 on day 10, the daily low (about 50), the value is 110: well inside the
    # series' overall range, so a static threshold above the daily peak cannot see it; the
    # seasonal baseline (the same time on earlier days) does.
    night = 10 * PER_DAY + 216
    anomaly = with_added(clean, night, 6, 60)
    opened = _opened(analyzers.seasonal(anomaly, "outside", DAY, 3, 0.25, 1.0))
    static_opened = _opened(analyzers.static(anomaly, "above", 160))
    false_positives = _opened(analyzers.seasonal(clean, "outside", DAY, 3, 0.25, 1.0))
    report(
        capsys,
        f"seasonal: anomaly opened at {opened}; static above 160 opened {len(static_opened)}; "
        f"clean false positives {len(false_positives)} over {len(clean)} samples",
    )
    assert any(night <= i < night + 6 for i in opened)
    assert static_opened == []
    assert len(false_positives) == 0


def test_seasonal_needs_earlier_periods_before_judging() -> None:
    judged = analyzers.seasonal(daily(1), "outside", DAY, 3, 0.25, 1.0)
    assert not any(j.violating for j in judged)
    # (the last samples of the day have a neighbour of "the same moment yesterday" already)
    unjudged = judged[: PER_DAY - analyzers.NEIGHBOURS]
    assert all(j.lower is None and j.upper is None for j in unjudged)


def _false_positives(clean: list[Point]) -> dict[str, int]:
    suggested = analyzers.suggest_static(clean[: 7 * PER_DAY], "above")
    assert suggested is not None
    return {
        "static, suggested from the first 7 days": len(
            _opened(analyzers.static(clean, "above", suggested.threshold))
        ),
        "adaptive p99+1.5×IQR, 2 days": len(
            _opened(analyzers.adaptive(clean, "outside", ADAPTIVE_WINDOW, 1.5))
        ),
        "seasonal day ×3, ±25 %": len(
            _opened(analyzers.seasonal(clean, "outside", DAY, 3, 0.25, 1.0))
        ),
        "seasonal week ×2, ±25 %": len(
            _opened(analyzers.seasonal(clean, "outside", 7 * DAY, 2, 0.25, 1.0))
        ),
    }


def test_false_positives_on_four_weeks_of_clean_seasonal_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quiet = _false_positives(daily(28, seed=11))
    report(capsys, f"false positives, 28 days at 5 min (8,064 samples), noise sd 3: {quiet}")
    assert all(n == 0 for n in quiet.values()), quiet
    # noise sd 8: 16 % of the daily low, where a ±25 % band is only 12.5 wide; the seasonal
    # band widens with the noise its references show, so these stay rare
    noisy = _false_positives(daily(28, seed=11, noise=8))
    report(capsys, f"false positives, same, noise sd 8: {noisy}")
    assert sum(noisy.values()) <= 2, noisy


def test_missing_data_opens_after_n_empty_intervals() -> None:
    values: list[float | None] = [3, 4, None, 0, None, 5, 5, 5, 5, 5]
    points = [Point(START + STEP * n, v) for n, v in enumerate(values)]
    window = Window(violating=3, of=3, dealerting=5)
    changes = analyzers.transitions(analyzers.missing_data(points), window)
    assert [(c.change, c.index) for c in changes] == [("opened", 4), ("resolved", 9)]


def test_suggest_static_is_the_outlier_fence_of_the_history() -> None:
    points = [Point(START + STEP * n, float(n % 10)) for n in range(1000)]
    above = analyzers.suggest_static(points, "above")
    below = analyzers.suggest_static(points, "below")
    assert above is not None
    assert below is not None
    # p25 = 2, p75 = 7 (IQR 5); p99 = 9, p1 = 0
    assert above.threshold == 9 + 7.5
    assert below.threshold == 0 - 7.5
    assert analyzers.suggest_static([Point(START, None)], "above") is None


def test_judging_only_the_tail_gives_the_same_verdicts_as_judging_everything() -> None:
    points = with_added(daily(4), 3 * PER_DAY + 100, 4, 150)
    start = len(points) - 20
    whole = analyzers.adaptive(points, "above", ADAPTIVE_WINDOW, 1.5)
    assert analyzers.adaptive(points, "above", ADAPTIVE_WINDOW, 1.5, start) == whole[start:]
    seasonal = analyzers.seasonal(points, "outside", DAY, 3, 0.25, 1.0)
    tail = analyzers.seasonal(points, "outside", DAY, 3, 0.25, 1.0, start)
    assert tail == seasonal[start:]
