"""Reading the rollups: the figures of timeframes from O(hours) rows.

A caller asks for contiguous *pieces* `[lo, hi)` of start times (the window, the one before,
cut where the like-for-like rule cuts them). Each piece reads:

* day rollups for the whole UTC days inside it, hour rollups for the whole hours around them;
* the instance rows of its partial first and last hour (at most two hours of flows), with
  their exact state at now;
* for the rollups' open instances, the state follows from their deadline hours, except for
  those with a deadline in the current hour: those are read from the instance rows (at most
  one hour of deadlines; see `flowscope.flows.correlation.rollups`).

Every piece's figures are kept apart and merged by the caller, so each row is read once
however many timeframes share it.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from flowscope.flows.analysis.statements import started_in
from flowscope.flows.analysis.states import state_sql
from flowscope.flows.correlation.rollups import COLUMNS, contribution_sql
from flowscope.flows.correlation.statements import statements_for

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SKETCHED = {"duration", "delay"}
Key = tuple[str, str, str]  # kind, d1, d2
# Sums of numeric values stay exact: PostgreSQL's numeric has no digit limit, Decimal's
# default context 28 digits.
_EXACT = decimal.Context(prec=200)


@dataclass
class Figures:
    """Counts and sums by (kind, d1, d2) — kind `state` has d1 = step, d2 = state at now —
    and sketch buckets of the `duration` and `delay` kinds."""

    counts: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[Key, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    sketches: dict[Key, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )

    def add_row(self, kind: str, d1: str, d2: str, key: int, n: int, total: Decimal) -> None:
        if kind in SKETCHED:
            self.sketches[(kind, d1, d2)][key] += n
            return
        self.counts[(kind, d1, d2)] += n
        self.totals[(kind, d1, d2)] = _EXACT.add(self.totals[(kind, d1, d2)], total)

    def add_sketch(
        self, kind: str, d1: str, d2: str, keys: Sequence[int], counts: Sequence[int]
    ) -> None:
        buckets = self.sketches[(kind, d1, d2)]
        for key, n in zip(keys, counts, strict=True):
            buckets[key] += n

    def absorb(self, other: Figures) -> None:
        """Add `other`'s figures to these."""
        for k, n in other.counts.items():
            self.counts[k] += n
        for k, total in other.totals.items():
            self.totals[k] = _EXACT.add(self.totals[k], total)
        for k, buckets in other.sketches.items():
            mine = self.sketches[k]
            for key, n in buckets.items():
                mine[key] += n

    def count(self, kind: str, d1: str = "", d2: str = "") -> int:
        return self.counts.get((kind, d1, d2), 0)

    def total(self, kind: str, d1: str = "", d2: str = "") -> Decimal:
        return self.totals.get((kind, d1, d2), Decimal(0))

    def sketch(self, kind: str, d1: str = "", d2: str = "") -> dict[int, int]:
        return self.sketches.get((kind, d1, d2), {})

    def keys(self, kind: str) -> list[Key]:
        return [k for k in (*self.counts, *self.sketches) if k[0] == kind]


def merge(parts: Iterable[Figures]) -> Figures:
    result = Figures()
    for part in parts:
        result.absorb(part)
    return result


def _floor(t: datetime, unit: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((t - epoch) // unit) * unit


def _ceil(t: datetime, unit: timedelta) -> datetime:
    floor = _floor(t, unit)
    return floor if floor == t else floor + unit


@dataclass
class Plan:
    """Where each piece's figures come from."""

    rollups: list[tuple[int, str, datetime, datetime]] = field(default_factory=list)
    exact: list[tuple[int, datetime, datetime]] = field(default_factory=list)
    covered: list[tuple[int, datetime, datetime]] = field(default_factory=list)

    def add(self, piece: int, lo: datetime, hi: datetime) -> None:
        h_lo, h_hi = _ceil(lo, HOUR), _floor(hi, HOUR)
        if h_lo >= h_hi:
            self.exact.append((piece, lo, hi))
            return
        if lo < h_lo:
            self.exact.append((piece, lo, h_lo))
        if h_hi < hi:
            self.exact.append((piece, h_hi, hi))
        self.covered.append((piece, h_lo, h_hi))
        d_lo, d_hi = _ceil(h_lo, DAY), _floor(h_hi, DAY)
        if d_lo >= d_hi:
            self.rollups.append((piece, "h", h_lo, h_hi))
            return
        self.rollups.append((piece, "d", d_lo, d_hi))
        for a, b in ((h_lo, d_lo), (d_hi, h_hi)):
            if a < b:
                self.rollups.append((piece, "h", a, b))


# Open rows are decided by their deadline hours against the hour of now (h0); '' = undecided.
# Rows come back as stored (a few thousand for 30 days): summing sketch arrays per key in SQL
# meant unnesting and sorting every bucket, slower than adding them up in Python.
_ROLLUPS = """
select p.piece, r.kind, r.d1,
       case when r.kind <> 'open' then r.d2
            when r.drop_hour < %(h0)s then 'dropped'
            when r.drop_hour = %(h0)s then ''
            when r.stall_hour < %(h0)s then 'stalled'
            when r.stall_hour = %(h0)s then ''
            else 'in_progress' end as d2,
       r.skeys, r.scounts, r.n, r.total
from unnest(%(piece)s::int[], %(grain)s::text[], %(lo)s::timestamptz[], %(hi)s::timestamptz[])
  as p(piece, grain, lo, hi)
cross join lateral (
  -- a primary-key range scan per range, whatever the statistics say
  select r.kind, r.d1, r.d2, r.stall_hour, r.drop_hour, r.n, r.total, r.skeys, r.scounts
  from flow_rollups r
  where r.build_id = %(b)s and r.grain = p.grain and r.bucket >= p.lo and r.bucket < p.hi
    and r.kind = any(%(kinds)s)
  offset 0
) as r
"""

_RANGES = """unnest(%(piece)s::int[], %(lo)s::timestamptz[], %(hi)s::timestamptz[])
  as p(piece, lo, hi)"""

# The undecided open instances: a deadline in the hour of now (the partial indexes of 0012).
_UNDECIDED = f"""
with a as materialized (
  select i.started_at, i.current_step, {{state}} as state
  from flow_instances i
  where i.build_id = %(b)s and i.completed_at is null
    and ((i.drop_at >= %(h0)s and i.drop_at < %(h1)s)
         or (i.stall_at >= %(h0)s and i.stall_at < %(h1)s
             and (i.drop_at is null or i.drop_at >= %(h1)s)))
)
select p.piece, 'state', a.current_step, a.state, 0, count(*), 0
from a join {_RANGES} on a.started_at >= p.lo and a.started_at < p.hi
group by 1, 2, 3, 4
"""  # noqa: S608 - fixed fragments


def _state() -> str:
    return state_sql("i").replace(":now", "%(now)s")


def _raw(session: Session) -> psycopg.Connection[Any]:
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    return driver


def _arrays(names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """Rows as one array parameter per column (for `unnest`)."""
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def read(
    session: Session,
    build_id: int,
    pieces: Sequence[tuple[datetime, datetime]],
    now: datetime,
    kinds: Sequence[str],
) -> list[Figures]:
    """The figures of the instances that started in each of `pieces`, states at `now`."""
    plan = Plan()
    for index, (lo, hi) in enumerate(pieces):
        if lo < hi:
            plan.add(index, lo, hi)
    result = [Figures() for _ in pieces]
    conn = _raw(session)
    h0 = _floor(now, HOUR)
    # No JIT for these reads. The partial hours' ranges are parameters of a lateral scan, so
    # the planner guesses each at 0.5 % of the build: at 20 M events (4 M instances) the
    # estimate passed JIT's thresholds and compiling took ~390 ms of a 470 ms read whose
    # execution is ~70 ms (bench/flow_page.py). The reads are O(hours) rows and O(one hour)
    # of instances: never long enough for JIT to pay back.
    conn.execute("select set_config('jit', 'off', true)")
    wanted = list(kinds) + (["state"] if "open" in kinds else [])
    with conn.cursor() as cur:
        if plan.rollups:
            ranges = _arrays(("piece", "grain", "lo", "hi"), plan.rollups)
            params = {"b": build_id, "h0": h0, "kinds": list(kinds), **ranges}
            # binary: arrays and numerics without parsing text
            for index, kind, d1, d2, keys, counts, n, total in cur.execute(
                _ROLLUPS, params, binary=True
            ).fetchall():
                if kind in SKETCHED:
                    result[index].add_sketch(kind, d1, d2, keys, counts)
                elif kind != "open":
                    result[index].add_row(kind, d1, d2, 0, n, total)
                elif d2:  # an undecided one ('') is read exactly below
                    result[index].add_row("state", d1, d2, 0, n, total)
        if plan.exact:
            ranges = _arrays(("piece", "lo", "hi"), plan.exact)
            # the instances that started in the partial hours, by index range scans
            source = started_in(session, _RANGES, COLUMNS)
            contribution = contribution_sql(
                source, "p.piece", statements_for(session), exact_states=_state()
            )
            # (without the deadline hours: 'infinity' here, which Python has no datetime for)
            sql = f"select tag, kind, d1, d2, key, n, total from ({contribution}) c"  # noqa: S608
            cur.execute(sql, {"b": build_id, "now": now, "kinds": wanted, **ranges})
            for index, kind, d1, d2, key, n, total in cur:
                result[index].add_row(kind, d1, d2, key, n, total)
        if plan.covered and "open" in kinds:
            ranges = _arrays(("piece", "lo", "hi"), plan.covered)
            params = {"b": build_id, "now": now, "h0": h0, "h1": h0 + HOUR, **ranges}
            cur.execute(_UNDECIDED.format(state=_state()), params)
            for index, kind, d1, d2, key, n, total in cur:
                result[index].add_row(kind, d1, d2, key, n, Decimal(total))
    return result
