"""A rule's source as a series of samples, one per interval.

Intervals are aligned on the epoch: the sample at `t` covers `[t, t + interval)` and exists
once that interval is over (`t + interval <= now`). What a sample means, per KPI of a flow
(the instances of the flow's current build, states as `flows.analysis.states` derives them):

- `started`: instances that started in the interval.
- `revenue`: the revenue of the instances that started in the interval.
- `exceptions`: instances that started in the interval and have a business exception (so far);
  `exception_rate`: that / started (None without flows).
- `completed`, `conversion` (completed / started), `avg_duration`, `median_duration`,
  `p90_duration` (last − first event of the completed ones): over the instances that started
  in the interval, *once they are old enough to have finished*. Like the flow page's
  like-for-like comparison (`kpis.settle_age`: the longest drop timeout a step can apply),
  the sample at `t` exists only when `t + interval <= now − settle age`; younger cohorts
  would look like a conversion drop merely because their flows are still running. A flow
  without drop timeouts has no settle age: its samples are as current as the others.
- `dropped` / `stalled`: instances that are still open and whose drop (stall) time, last event
  plus the timeout of the step they are at, fell in the interval: the flows that *became*
  dropped (stalled) then. A late event that revives a flow moves it out again.
- per step: `reached` and `exceptions`: instances that started in the interval and reached
  the step (with an exception there); `dropped`: as above, of the flows dropped at that step.

Counts are 0 for an interval without flows; ratios and durations are None.

All KPIs of one flow come from one SQL statement per (flow, interval, window): the evaluator
computes it once per tick for all rules on that flow and interval.

A query source runs FQL over the window: a `makeTimeseries` result gives one series per row
(per `by:` group, the first numeric array); any other result's first numeric value of its
first row is one sample for the current interval.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.alerts.analyzers import Point
from flowscope.flows.analysis.context import FlowContext
from flowscope.flows.analysis.kpis import settle_age

# KPIs of the cohort that need its flows to have had time to finish.
SETTLED = frozenset({"completed", "conversion", "avg_duration", "median_duration", "p90_duration"})

# One round trip: the cohort figures per interval (kind c), the flows that became dropped (d)
# or stalled (s) per interval and step, and the step cohort figures (r). Columns a…g are
# shared; each kind says what they hold. `:i` is the interval in seconds.
_SERIES = """
select 'c' as kind, to_timestamp(floor(extract(epoch from i.started_at) / :i) * :i) as at,
       null::text as step,
       count(*)::float8 as a,
       (count(*) filter (where i.completed_at is not null))::float8 as b,
       coalesce(sum(i.revenue), 0)::float8 as c,
       (count(*) filter (where i.has_exception))::float8 as d,
       avg(i.duration_s) filter (where i.completed_at is not null) as e,
       percentile_cont(0.5) within group (order by i.duration_s)
         filter (where i.completed_at is not null) as f,
       percentile_cont(0.9) within group (order by i.duration_s)
         filter (where i.completed_at is not null) as g
from flow_instances i
where i.build_id = :b and i.started_at >= :start and i.started_at < :end
group by 2
union all
select 'd', to_timestamp(floor(extract(epoch from i.drop_at) / :i) * :i), i.current_step,
       count(*), null, null, null, null, null, null
from flow_instances i
where i.build_id = :b and i.completed_at is null and i.drop_at >= :start and i.drop_at < :end
group by 2, 3
union all
select 's', to_timestamp(floor(extract(epoch from i.stall_at) / :i) * :i), i.current_step,
       count(*), null, null, null, null, null, null
from flow_instances i
where i.build_id = :b and i.completed_at is null and i.stall_at >= :start and i.stall_at < :end
group by 2, 3
union all
select 'r', to_timestamp(floor(extract(epoch from s.started_at) / :i) * :i), s.step,
       count(*), null, null, (count(*) filter (where s.exception is not null)), null, null, null
from flow_instance_steps s
where s.build_id = :b and s.started_at >= :start and s.started_at < :end
group by 2, 3
"""


def align(moment: datetime, interval_s: int) -> datetime:
    """The start of the interval `moment` falls in (intervals aligned on the epoch)."""
    epoch = math.floor(moment.timestamp() / interval_s) * interval_s
    return datetime.fromtimestamp(epoch, UTC)


def bucket_starts(start: datetime, end: datetime, interval_s: int) -> list[datetime]:
    """The intervals that begin at or after `align(start)` and are over by `end`."""
    step = timedelta(seconds=interval_s)
    t = align(start, interval_s)
    out = []
    while t + step <= end:
        out.append(t)
        t += step
    return out


@dataclass(frozen=True)
class FlowSeries:
    """Every KPI series of one flow over one window, from one statement."""

    interval_s: int
    buckets: list[datetime]  # every complete interval of the window
    settled_until: datetime  # SETTLED KPIs have samples for intervals over by then
    rows: dict[tuple[str, str | None], dict[datetime, tuple[float | None, ...]]]
    # Series already built (rules on the same KPI share them).
    _built: dict[tuple[str, str | None], list[Point]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def series(
        self, kpi: str, step: str | None = None, span: timedelta | None = None
    ) -> list[Point]:
        """The KPI's samples, or only those within `span` of its newest sample."""
        key = (kpi, step)
        points = self._built.get(key)
        if points is None:
            points = self._build(kpi, step)
            self._built[key] = points
        if span is None or not points:
            return points
        first = bisect.bisect_left([p.at for p in points], points[-1].at - span)
        return points[first:]

    def _build(self, kpi: str, step: str | None) -> list[Point]:
        step_of = timedelta(seconds=self.interval_s)
        buckets = self.buckets
        if step is None and kpi in SETTLED:
            buckets = [t for t in buckets if t + step_of <= self.settled_until]
        if kpi in ("dropped", "stalled"):
            kind = "d" if kpi == "dropped" else "s"
            counts = self._counts(kind, step)
            return [Point(t, counts.get(t, 0.0)) for t in buckets]
        if step is not None:
            rows = self.rows.get(("r", step), {})
            index = 0 if kpi == "reached" else 3
            return [Point(t, float(rows[t][index] or 0) if t in rows else 0.0) for t in buckets]
        rows = self.rows.get(("c", None), {})
        return [Point(t, _cohort_value(kpi, rows.get(t))) for t in buckets]

    def _counts(self, kind: str, step: str | None) -> dict[datetime, float]:
        """Per interval, the flows of `kind` at `step`, or at any step."""
        counts: dict[datetime, float] = defaultdict(float)
        for (k, at_step), by_time in self.rows.items():
            if k == kind and (step is None or at_step == step):
                for t, row in by_time.items():
                    counts[t] += row[0] or 0.0
        return counts


_COUNTS = {"started": 0, "completed": 1, "revenue": 2, "exceptions": 3}
_DURATIONS = {"avg_duration": 4, "median_duration": 5, "p90_duration": 6}


def _cohort_value(kpi: str, row: tuple[float | None, ...] | None) -> float | None:
    if kpi in _COUNTS:
        return float(row[_COUNTS[kpi]] or 0) if row else 0.0
    started = row[0] if row else 0.0
    if row is None or not started:
        return None  # a ratio or a duration of no flows
    if kpi == "conversion":
        return (row[1] or 0.0) / started
    if kpi == "exception_rate":
        return (row[3] or 0.0) / started
    return row[_DURATIONS[kpi]]


def flow_series(
    session: Session, flow: FlowContext, interval_s: int, start: datetime, now: datetime
) -> FlowSeries:
    """All KPI series of `flow` for the complete intervals from `start` to `now`."""
    buckets = bucket_starts(start, now, interval_s)
    age = settle_age(flow.definition)
    settled_until = now - age if age is not None else now
    rows: dict[tuple[str, str | None], dict[datetime, tuple[float | None, ...]]] = defaultdict(dict)
    if flow.build is not None and buckets:
        end = buckets[-1] + timedelta(seconds=interval_s)
        params = {"b": flow.build.id, "i": interval_s, "start": buckets[0], "end": end}
        for r in session.execute(text(_SERIES), params):
            key = (r.kind, r.step if r.kind != "c" else None)
            rows[key][r.at] = (r.a, r.b, r.c, r.d, r.e, r.f, r.g)
    return FlowSeries(interval_s, buckets, settled_until, dict(rows))


@dataclass(frozen=True)
class GroupSeries:
    group: dict[str, str]
    points: list[Point]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return None


def timeseries_groups(
    columns: list[dict[str, str]],
    rows: list[list[Any]],
    frame_start: datetime,
    interval_s: float,
    end: datetime,
) -> list[GroupSeries]:
    """One series per row of a `makeTimeseries` result: the first array column holds the
    values, the plain text/number columns (the `by:` fields) name the group. Bins that are not
    over by `end` are left out."""
    names = [c["name"] for c in columns]
    groups = []
    for row in rows:
        cells = dict(zip(names, row, strict=False))
        arrays = [v for v in cells.values() if isinstance(v, list)]
        if not arrays:
            continue
        group = {
            k: str(v)
            for k, v in cells.items()
            if not isinstance(v, list | dict) and k not in ("timeframe", "interval")
        }
        step = timedelta(seconds=interval_s)
        points = []
        for n, value in enumerate(arrays[0]):
            at = frame_start + step * n
            if at + step <= end:
                points.append(Point(at, _number(value)))
        groups.append(GroupSeries(group, points))
    return groups


def single_number(columns: list[dict[str, str]], rows: list[list[Any]]) -> float | None:
    """The first numeric value of the first row (None for an empty result)."""
    if not rows:
        return None
    for value in rows[0]:
        number = _number(value)
        if number is not None:
            return number
    return None
