"""Percentiles from DDSketch buckets (the rollups' `duration` and `delay` kinds).

A value x > 0 is counted under key k = ⌈log_γ x⌉ (SQL `flowscope_sketch_key`, migration 0012),
the bucket (γ^(k−1), γ^k]; 0 has its own key. Reading a bucket back as 2γ^k / (γ+1) is within
ALPHA = (γ−1)/(γ+1) of every value in it. `percentile` interpolates between the values at the
two ranks around q·(n−1), as PostgreSQL's `percentile_cont` does with the exact values; a
convex combination of two estimates each within ALPHA of its true value is within ALPHA of
the exact result, so a percentile shown from rollups is within 1 % of `percentile_cont`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

GAMMA = 1.02
ALPHA = (GAMMA - 1) / (GAMMA + 1)  # 0.0099: "within 1 %"
ZERO_KEY = -(2**31)


def value(key: int) -> float:
    """The representative value of bucket `key`."""
    if key == ZERO_KEY:
        return 0.0
    return 2 * GAMMA**key / (GAMMA + 1)


def percentile(buckets: Mapping[int, int], q: float) -> float | None:
    """The `q` percentile (0 ≤ q ≤ 1) of the values counted in `buckets`; None when empty."""
    keys = sorted(k for k, n in buckets.items() if n > 0)
    total = sum(buckets[k] for k in keys)
    if total == 0:
        return None
    rank = q * (total - 1)
    low_rank, high_rank = math.floor(rank), math.ceil(rank)
    low = high = None
    seen = 0
    for key in keys:
        seen += buckets[key]
        if low is None and seen > low_rank:
            low = value(key)
        if seen > high_rank:
            high = value(key)
            break
    assert low is not None  # noqa: S101 - both ranks are below the total
    assert high is not None  # noqa: S101
    return low + (rank - low_rank) * (high - low)
