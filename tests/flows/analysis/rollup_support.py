"""Helpers for the rollup tests: a from-scratch aggregation and figure comparisons."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest.mock import ANY

import psycopg
import pytest

from flowscope.db import Database
from flowscope.flows.analysis.schemas import FlowAnalysis
from flowscope.flows.analysis.sketch import ALPHA
from flowscope.flows.correlation.rollups import KINDS, contribution_sql
from flowscope.flows.correlation.statements import statements_for

Row = tuple[str, datetime, str, str, str, int, str, str]  # deadline hours as text


def _raw(db: Database) -> psycopg.Connection[Any]:
    conn = db.engine.raw_connection()
    driver = conn.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def stored(db: Database, build_id: int) -> dict[Row, tuple[int, Decimal]]:
    """The rollup rows the correlator keeps for `build_id`, a row per sketch bucket."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select grain, bucket, kind, d1, d2, coalesce(u.key, 0), stall_hour::text, "
            "drop_hour::text, coalesce(u.n, r.n), case when u.key is null then total else 0 end "
            "from flow_rollups r left join lateral unnest(skeys, scounts) as u(key, n) on true "
            "where build_id = %(b)s",
            {"b": build_id},
        ).all()
        # a sketch row's count is the sum of its buckets' counts
        mismatched = conn.exec_driver_sql(
            "select count(*) from flow_rollups where build_id = %(b)s "
            "and kind in ('duration', 'delay') "
            "and n <> coalesce((select sum(c) from unnest(scounts) as c), 0)",
            {"b": build_id},
        ).scalar()
    assert mismatched == 0
    return {tuple(r[:8]): (r[8], r[9]) for r in rows}  # type: ignore[misc]


def from_scratch(db: Database, build_id: int) -> dict[Row, tuple[int, Decimal]]:
    """The same rows aggregated from the build's instance tables now, zeros left out."""
    with db.engine.connect() as conn:
        sql = contribution_sql(
            "flow_instances i where i.build_id = %(b)s",
            "date_trunc('hour', i.started_at, 'UTC')",
            statements_for(conn),
        )
        rows = conn.exec_driver_sql(
            f"select tag, kind, d1, d2, key, sh::text, dh::text, n, total from ({sql}) c",  # noqa: S608
            {"b": build_id, "kinds": KINDS},
        ).all()
    result: dict[Row, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for tag, kind, d1, d2, key, sh, dh, n, total in rows:
        day = tag.astimezone(UTC).replace(hour=0)
        for grain, bucket in (("h", tag), ("d", day)):
            cell = result[(grain, bucket, kind, d1, d2, key, sh, dh)]
            cell[0] += n
            cell[1] += total
    return {k: (v[0], v[1]) for k, v in result.items() if v[0] or v[1]}


def approx_pct(value: float | None) -> Any:
    """A percentile from the sketch: within its relative error of the exact one."""
    if value is None:
        return None
    return pytest.approx(value, rel=ALPHA * 1.0001, abs=1e-9)


def comparable(analysis: FlowAnalysis) -> dict[str, Any]:
    """The analysis as plain data with percentiles and averages as tolerant comparisons."""
    data = analysis.model_dump()
    tolerant = ("median_duration_s", "p90_duration_s", "median_delay_s", "p90_delay_s")

    def walk(value: Any, changes: bool = False) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if changes and k in tolerant:
                    # a change between two estimates: what it is compared with is estimated
                    out[k] = ANY
                elif changes and k == "avg_duration_s" and v is not None:
                    out[k] = pytest.approx(v, abs=0.011)  # rounded to 0.01 from two averages
                elif k in tolerant:
                    out[k] = approx_pct(v)
                elif k == "change_pct":
                    out[k] = walk(v, changes=True)
                elif k == "avg_duration_s" and v is not None:
                    out[k] = pytest.approx(v, rel=1e-9)
                else:
                    out[k] = walk(v)
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(data)  # type: ignore[no-any-return]
