"""Synthetic KPI series with known anomalies, for the analyzer tests (seeded: reproducible)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from flowscope.alerts.analyzers import Point

START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
STEP = timedelta(minutes=5)
PER_DAY = 288


def daily(days: int, *, seed: int = 7, noise: float = 3.0) -> list[Point]:
    """100 + 50 × sin(time of day) + Gaussian noise: a clean series with daily seasonality."""
    rng = random.Random(seed)
    points = []
    for n in range(days * PER_DAY):
        phase = 2 * math.pi * (n % PER_DAY) / PER_DAY
        points.append(Point(START + STEP * n, 100 + 50 * math.sin(phase) + rng.gauss(0, noise)))
    return points


def with_added(points: list[Point], start: int, length: int, delta: float) -> list[Point]:
    """`delta` added to the values of `length` points from index `start`."""
    return [
        Point(p.at, (p.value or 0) + delta) if start <= n < start + length else p
        for n, p in enumerate(points)
    ]
