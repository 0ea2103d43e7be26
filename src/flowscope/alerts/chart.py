"""A preview as a server-rendered SVG chart: the series, the threshold or band, and marks
where alerts would have opened (red) and resolved (green).

Only coordinates are computed here; `templates/alerts/_chart.html` draws them, escaped by
Jinja like everything else. Long series are reduced to at most `COLUMNS` points, keeping each
column's highest value (a spike never disappears from the picture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from flowscope.alerts.analyzers import Judged
from flowscope.alerts.preview import GroupPreview

WIDTH, HEIGHT, PAD = 720, 200, 4
COLUMNS = 360


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    line: str  # polyline points of the values
    band: str  # polygon points of lower..upper (empty when there is none)
    upper: str  # polyline of the upper bound (a static threshold: a flat line)
    lower: str
    opened: list[float]  # x of each opening
    resolved: list[float]
    top: float
    bottom: float
    start: datetime
    end: datetime
    empty: bool


def _columns(points: list[Judged]) -> list[Judged]:
    if len(points) <= COLUMNS:
        return points
    size = math.ceil(len(points) / COLUMNS)
    out = []
    for n in range(0, len(points), size):
        chunk = [p for p in points[n : n + size] if p.value is not None] or points[n : n + 1]
        out.append(max(chunk, key=lambda p: p.value if p.value is not None else -math.inf))
    return out


def chart(group: GroupPreview, start: datetime, end: datetime) -> Chart:
    points = _columns(group.points)
    numbers = [
        v for p in points for v in (p.value, p.lower, p.upper) if v is not None and math.isfinite(v)
    ]
    top, bottom = (max(numbers), min(numbers)) if numbers else (1.0, 0.0)
    if top == bottom:
        top, bottom = top + 1, bottom - 1
    span = (end - start).total_seconds() or 1.0

    def x(at: datetime) -> float:
        return round(PAD + (at - start).total_seconds() / span * (WIDTH - 2 * PAD), 1)

    def y(value: float) -> float:
        return round(HEIGHT - PAD - (value - bottom) / (top - bottom) * (HEIGHT - 2 * PAD), 1)

    def line(values: list[tuple[datetime, float | None]]) -> str:
        return " ".join(f"{x(at)},{y(v)}" for at, v in values if v is not None)

    uppers = [(p.at, p.upper) for p in points]
    lowers = [(p.at, p.lower) for p in points]
    both = [(p.at, p.lower, p.upper) for p in points if p.lower is not None and p.upper is not None]
    band = ""
    if both:
        band = " ".join(
            [f"{x(at)},{y(hi)}" for at, _, hi in both]
            + [f"{x(at)},{y(lo)}" for at, lo, _ in reversed(both)]
        )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        line=line([(p.at, p.value) for p in points]),
        band=band,
        upper="" if band else line(uppers),
        lower="" if band else line(lowers),
        opened=[x(c.at) for c in group.changes if c.change == "opened"],
        resolved=[x(c.at) for c in group.changes if c.change == "resolved"],
        top=top,
        bottom=bottom,
        start=start,
        end=end,
        empty=not numbers,
    )
