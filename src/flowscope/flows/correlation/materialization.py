"""A new build's materialization: instance rows from all the memberships of a range of
correlation ids, on several connections at once.

After its backfill a build holds every membership of its horizon and no instance row. The
materialization walks the build's correlation ids in order from `materialize_from`, in ranges
of about `batch_size` memberships, and computes each range's instance, step and transition rows
(and their rollups) with the recompute statement the live path uses, every membership staged
as new (`flowscope.flows.correlation.recompute`). Readers never see the build before it is
materialized and promoted.

Parallel, and why that is sound. A range's rows depend only on its memberships, so ranges are
independent, and PostgreSQL runs one statement on one core: a rebuild on one connection left
the other core idle for its whole second half (bench/correlate.py). So the ranges of a round
run on `workers` pooled connections at once, each in its own transaction, committed as soon as
it is done; the run's transaction then moves `materialize_from` past the round.

* It runs at the start of a run, before the run's own transaction writes any flow row, while
  the run holds the correlator's lock (`correlator.LOCK_ID`; retention takes it too). So no
  other writer touches the build, and a worker never waits for a row lock the run holds (the
  run waits for its workers: that wait would never end).
* A round committed whose cursor was not (the run failed after it) is done again by a later
  run. That is harmless: a range's rows are recomputed from its memberships, and its rollups
  move by "old contribution out, new one in", so doing a range twice gives the same rows.
* Workers share rollup rows (the same hours). Each applies its changes in key order
  (`rollups._APPLY`), so two of them lock shared rows in the same order and cannot deadlock;
  one waits for the other's commit at most, which follows its apply at once.

Its first round starts with a VACUUM of `flow_events` (`_settle`), on a pooled connection
outside any transaction. The backfill has just written the build's memberships and nothing
has marked their pages all-visible, so every visibility check went to the heap: finding a
range's end (an offset over the primary key) fetched a heap page per index entry, and the
memberships, written in `seq` order and read by correlation id, were fetched page by page
over and over from a table larger than shared_buffers. Measured on bench/flow_page.py's 2 M
build, the same run: 2.65 M buffers read without the pass and 0.29 M after it
(`pg_stat_bgwriter.buffers_alloc`), materialization 66.8 s against 40.3 s, the pass 0.4 s.
VACUUM skips the pages it marked all-visible before, so the pass costs what the new
memberships take, not what the table holds; autovacuum would get there too, at a time of its
choosing (and it is off on some servers).

Without a pooled connection to spare (the pool exhausted, or a session bound to one
connection, as some tests are), or with `workers=1`, the ranges run one after another in the
run's own transaction.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.memberships import raw, recompute_staged
from flowscope.flows.correlation.models import FlowBuild
from flowscope.flows.correlation.prefetch import driver, pooled_connection
from flowscope.flows.correlation.staging import clear, stage
from flowscope.flows.correlation.statements import Statements, statements_for

# Connections that materialize at once. Two is this machine kind's cores: each range is one
# statement on one core (measured in bench/README.md).
WORKERS = 2

_NEXT_RANGE = """
select correlation_id from flow_events
where build_id = %(b)s and correlation_id >= %(lo)s
order by correlation_id offset %(n)s limit 1
"""

_NEXT_ID = """
select min(correlation_id) from flow_events where build_id = %(b)s and correlation_id > %(lo)s
"""

_STAGE_RANGE = """
insert into {staged}
select * from flow_events
where build_id = %(b)s and correlation_id >= %(lo)s
  and (%(hi)s::text is null or correlation_id < %(hi)s::text)
"""

Range = tuple[str, str | None]  # [lo, hi): hi None is the end of the build


def materialize(
    session: Session,
    build: FlowBuild,
    flow: CompiledFlow,
    *,
    batch_size: int,
    max_batches: int,
    deadline: float,
    workers: int = WORKERS,
) -> int:
    """Compute the rows of the next ranges of correlation ids (about `batch_size`
    memberships each) from all their memberships; returns the memberships staged. Call it
    before the run writes any flow row (see the module docstring)."""
    conn = raw(session)
    statements = statements_for(session)
    with ExitStack() as stack:
        pool: list[psycopg.Connection[Any]] = []
        for _ in range(workers if workers > 1 else 0):
            opened = pooled_connection(session)
            if opened is None:
                break
            pool.append(driver(stack.enter_context(opened)))
        executor = stack.enter_context(ThreadPoolExecutor(len(pool))) if pool else None
        if pool and build.materialize_from is None:
            _settle(pool[0])
        done = 0
        batches = 0
        while batches < max_batches:
            count = min(max(len(pool), 1), max_batches - batches)
            ranges = _next_ranges(conn, build, batch_size, count)
            if executor is None:
                done += sum(_range(conn, build.id, flow, statements, r) for r in ranges)
            else:
                work = [
                    executor.submit(_committed_range, c, build.id, flow, statements, r)
                    for c, r in zip(pool, ranges, strict=False)
                ]
                done += sum(w.result() for w in work)
            batches += len(ranges)
            build.materialize_from = ranges[-1][1]
            if build.materialize_from is None:
                build.materialized = True
                break
            if time.monotonic() >= deadline:
                break
    return done


def _settle(conn: psycopg.Connection[Any]) -> None:
    """VACUUM the memberships before the first round (see the module docstring)."""
    conn.rollback()  # VACUUM runs outside a transaction block
    conn.autocommit = True
    try:
        conn.execute("vacuum flow_events")
    finally:
        conn.autocommit = False


def _next_ranges(
    conn: psycopg.Connection[Any], build: FlowBuild, batch_size: int, count: int
) -> list[Range]:
    """Up to `count` consecutive ranges from the build's cursor; the last may end the build."""
    ranges: list[Range] = []
    lo = build.materialize_from or ""
    with conn.cursor() as cur:
        while len(ranges) < count:
            params = {"b": build.id, "lo": lo, "n": batch_size}
            row = cur.execute(_NEXT_RANGE, params).fetchone()
            hi: str | None = row[0] if row else None
            if hi == lo:  # one instance holds more than a batch: take it alone
                hi = cur.execute(_NEXT_ID, params).fetchone()[0]  # type: ignore[index]
            ranges.append((lo, hi))
            if hi is None:
                break
            lo = hi
    return ranges


def _range(
    conn: psycopg.Connection[Any],
    build_id: int,
    flow: CompiledFlow,
    statements: Statements,
    bounds: Range,
) -> int:
    """Recompute the instances of one range in `conn`'s transaction; returns its memberships."""
    lo, hi = bounds
    staged = stage(conn, "flow_events")
    with conn.cursor() as cur:
        cur.execute(_STAGE_RANGE.format(staged=staged), {"b": build_id, "lo": lo, "hi": hi})
        staged_rows = cur.rowcount
    recompute_staged(conn, [flow], staged, statements)
    clear(conn, staged)
    return staged_rows


def _committed_range(
    conn: psycopg.Connection[Any],
    build_id: int,
    flow: CompiledFlow,
    statements: Statements,
    bounds: Range,
) -> int:
    """`_range` in a transaction of its own on a pooled connection, committed."""
    with conn.transaction():
        return _range(conn, build_id, flow, statements, bounds)
