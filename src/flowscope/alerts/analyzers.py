"""Analyzers: pure functions from a series of samples to violations, and the sliding window
that turns violations into opened and resolved alerts. No database here.

A series is a list of `Point(at, value)` one interval apart, oldest first; `value` is None
when the interval had no data. Each analyzer returns one `Judged` per point that it can
judge: the point, whether it violates, and the bound(s) it was compared with (for charts and
for the alert's threshold text). A point an analyzer cannot judge yet (an adaptive baseline
without history, a seasonal baseline without earlier weeks, a missing value for a threshold)
is *not violating*: an alert needs evidence, never its absence (except `missing_data`).

- static: `value > threshold` (above) or `value < threshold` (below).
- adaptive: the bound follows the data. For each point, over the `window` points before it
  (not the point itself): upper = p99 + n × IQR, lower = p1 − n × IQR (IQR = p75 − p25).
  Recomputed at every point, so the baseline moves as data arrives. At least
  `MIN_BASELINE` earlier values are needed.
- seasonal: the values at the same time of day (period 1 d) or week (7 d), and two samples
  either side, in the `seasons` earlier periods; baseline = their median; band = baseline ±
  max(tolerance × |baseline|, 3 × their robust standard deviation, min_band).
- missing_data: a point violates when it has no data: its value is None (a ratio or a
  duration of no flows, a query's null) or 0 (a count of nothing, no revenue).

Sliding window (`transitions`): an alert opens when `violating` of the last `of` judged points
violate, and resolves after `dealerting` consecutive normal points.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Condition = Literal["above", "below", "outside"]
MIN_BASELINE = 10
NEIGHBOURS = 2  # samples either side of the same moment that a seasonal baseline also uses


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float | None


@dataclass(frozen=True)
class Judged:
    at: datetime
    value: float | None
    violating: bool
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Change:
    change: Literal["opened", "resolved"]
    at: datetime  # the point whose judgement made the change
    index: int  # its index in the judged list


def _violates(value: float | None, lower: float | None, upper: float | None) -> bool:
    if value is None:
        return False
    return (upper is not None and value > upper) or (lower is not None and value < lower)


def _bounds(condition: Condition, low: float, high: float) -> tuple[float | None, float | None]:
    if condition == "above":
        return None, high
    if condition == "below":
        return low, None
    return low, high


def static(points: Sequence[Point], condition: Condition, threshold: float) -> list[Judged]:
    lower, upper = _bounds(condition, threshold, threshold)
    return [Judged(p.at, p.value, _violates(p.value, lower, upper), lower, upper) for p in points]


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, PostgreSQL's
    percentile_cont)."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def adaptive(
    points: Sequence[Point], condition: Condition, window: int, n: float, start: int = 0
) -> list[Judged]:
    """p99 + n × IQR (above) / p1 − n × IQR (below) over the `window` points before each,
    for the points from index `start` on (the ones before are only history).

    The trailing values are kept sorted as the window slides (insert the newest, remove the
    oldest), so a week of minutes with a day's window costs a memmove per point, not a sort."""
    judged = []
    history = sorted(p.value for p in points[max(0, start - window) : start] if p.value is not None)
    for i in range(start, len(points)):
        p = points[i]
        if len(history) < MIN_BASELINE:
            judged.append(Judged(p.at, p.value, False))
        else:
            iqr = quantile(history, 0.75) - quantile(history, 0.25)
            low = quantile(history, 0.01) - n * iqr
            high = quantile(history, 0.99) + n * iqr
            lower, upper = _bounds(condition, low, high)
            judged.append(Judged(p.at, p.value, _violates(p.value, lower, upper), lower, upper))
        if p.value is not None:
            bisect.insort(history, p.value)
        if i >= window:
            leaving = points[i - window].value
            if leaving is not None:
                del history[bisect.bisect_left(history, leaving)]
    return judged


def seasonal(
    points: Sequence[Point],
    condition: Condition,
    period: timedelta,
    seasons: int,
    tolerance: float,
    min_band: float,
    start: int = 0,
) -> list[Judged]:
    """Against the same moment in the `seasons` earlier periods (by time), for the points from
    index `start` on. The references are the samples at that moment and its `NEIGHBOURS` on
    either side in each earlier period; baseline = their median, and the band's half-width
    the largest of `tolerance` × |baseline|, 3 × their robust standard deviation (1.4826 ×
    the median absolute deviation: the noise they show, so a noisy quiet hour is not an
    anomaly) and `min_band`."""
    by_time = {p.at: p.value for p in points}
    spacing = points[1].at - points[0].at if len(points) > 1 else timedelta(0)
    offsets = [
        period * k - spacing * j
        for k in range(1, seasons + 1)
        for j in range(-NEIGHBOURS, NEIGHBOURS + 1)
    ]
    judged = []
    for p in points[start:]:
        refs = [v for v in (by_time.get(p.at - o) for o in offsets) if v is not None]
        if not refs:
            judged.append(Judged(p.at, p.value, False))
            continue
        base = statistics.median(refs)
        sigma = 1.4826 * statistics.median(abs(v - base) for v in refs)
        half = max(tolerance * abs(base), 3 * sigma, min_band)
        lower, upper = _bounds(condition, base - half, base + half)
        judged.append(Judged(p.at, p.value, _violates(p.value, lower, upper), lower, upper))
    return judged


def missing_data(points: Sequence[Point]) -> list[Judged]:
    return [Judged(p.at, p.value, p.value is None or p.value == 0) for p in points]


@dataclass(frozen=True)
class Window:
    violating: int = 3
    of: int = 5
    dealerting: int = 5


def step(is_open: bool, flags: Sequence[bool], window: Window) -> bool:
    """Whether an alert is open after the last of `flags` (newest last), given whether it was
    open before it: the one rule the evaluator and the preview both apply."""
    if not is_open:
        return sum(flags[-window.of :]) >= window.violating
    recent = flags[-window.dealerting :]
    return not (len(recent) >= window.dealerting and not any(recent))


def transitions(judged: Sequence[Judged], window: Window, is_open: bool = False) -> list[Change]:
    """Where an alert would have opened and resolved over `judged` (the backtest)."""
    changes = []
    flags: list[bool] = []
    for i, point in enumerate(judged):
        flags.append(point.violating)
        now_open = step(is_open, flags, window)
        if now_open != is_open:
            changes.append(Change("opened" if now_open else "resolved", point.at, i))
            if not now_open:
                flags.clear()  # after a resolution only newer samples count toward an alert
            is_open = now_open
    return changes


@dataclass(frozen=True)
class Suggestion:
    threshold: float
    statistic: str


def suggest_static(points: Sequence[Point], condition: Condition) -> Suggestion | None:
    """A threshold from history (the caller passes the last 7 days): p99 + 1.5 × IQR for
    `above`, p1 − 1.5 × IQR for `below` (Tukey's outlier fence widened to the extremes), so
    the history itself would have raised little. None without any value."""
    values = sorted(p.value for p in points if p.value is not None)
    if not values:
        return None
    iqr = quantile(values, 0.75) - quantile(values, 0.25)
    if condition == "below":
        return Suggestion(round(quantile(values, 0.01) - 1.5 * iqr, 4), "p1 − 1.5 × IQR")
    return Suggestion(round(quantile(values, 0.99) + 1.5 * iqr, 4), "p99 + 1.5 × IQR")
