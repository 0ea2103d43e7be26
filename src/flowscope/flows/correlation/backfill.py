"""A new build's backfill: memberships first, instance rows once per correlation id after.

Reading the stored events in `seq` order spreads an instance's events over many batches;
recomputing its rows after each of them (as following live events does) costs as many
recomputes as batches it spans. The backfill instead only stores memberships (binary COPY,
no staging: a build's backfill reads each event once, in the transaction that advances
`backfill_seq`), and then *materializes*: it computes the instance, step and transition rows
from all the memberships of a range of correlation ids at a time, in `correlation_id` order
from `materialize_from` on, with the same recompute statement the live path uses (all of a
range's memberships staged as new). Readers never see the build before it is materialized
and promoted.

Live events that arrive meanwhile are followed as usual (the build's snapshot stays the
horizon until the backfill has read everything). Following recomputes an instance from all its
memberships, but step and transition rows only from its new memberships on; an instance not
yet materialized gets its full rows when the materialization reaches its correlation id,
which comes later in the same or a later run. Either way the rows are a function of the
memberships alone, as before.

Both phases stop when a run's time budget is spent (`deadline`) or after `max_batches`
batches, so a run stays short and its progress is committed run by run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.memberships import (
    MEMBERSHIP_COLUMNS,
    memberships,
    raw,
    recompute_staged,
)
from flowscope.flows.correlation.models import FlowBuild
from flowscope.flows.correlation.prefetch import batches
from flowscope.flows.correlation.reads import BACKFILL, Batch, read_window
from flowscope.flows.correlation.staging import clear, copy_rows, stage
from flowscope.flows.correlation.statements import Statements


def backfill(
    session: Session,
    build: FlowBuild,
    flow: CompiledFlow,
    *,
    batch_size: int,
    max_batches: int,
    deadline: float,
    prefetch: bool = True,
) -> int:
    """Store the memberships of the next batches of the build's horizon; returns events read."""
    conn = raw(session)
    params = {
        "horizon": build.horizon,
        "providers": flow.providers,
        "types": sorted({t for _, t in flow.by_event}),
    }

    def reader(rconn: psycopg.Connection[Any]) -> Iterator[tuple[Batch, list[tuple[Any, ...]]]]:
        after = build.backfill_seq
        while True:
            batch = read_window(rconn, BACKFILL, {**params, "ct": 0, "cs": after}, n=batch_size)
            yield batch, memberships([flow], batch.rows)
            if batch.exhausted:
                return
            after = batch.after[1]

    read = 0
    for number, (batch, found) in enumerate(
        batches(session, conn, reader, parallel=prefetch), start=1
    ):
        if batch.rows:
            copy_rows(conn, "flow_events", MEMBERSHIP_COLUMNS, found)
            build.events_done += len(batch.rows)
            read += len(batch.rows)
        build.backfill_seq = batch.after[1]
        if batch.exhausted:
            build.backfill_done = True
            break
        if number >= max_batches or time.monotonic() >= deadline:
            break
    return read


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


def materialize(
    conn: psycopg.Connection[Any],
    build: FlowBuild,
    flow: CompiledFlow,
    statements: Statements,
    *,
    batch_size: int,
    max_batches: int,
    deadline: float,
) -> int:
    """Compute the rows of the next ranges of correlation ids (about `batch_size`
    memberships each) from all their memberships; returns the memberships staged."""
    done = 0
    for _ in range(max_batches):
        lo = build.materialize_from or ""
        params: dict[str, Any] = {"b": build.id, "lo": lo, "n": batch_size}
        with conn.cursor() as cur:
            hi = cur.execute(_NEXT_RANGE, params).fetchone()
            upper = hi[0] if hi else None
            if upper == lo:  # one instance holds more than a batch: take it alone
                upper = cur.execute(_NEXT_ID, params).fetchone()[0]  # type: ignore[index]
            staged = stage(conn, "flow_events")
            cur.execute(_STAGE_RANGE.format(staged=staged), {**params, "hi": upper})
            done += cur.rowcount
        recompute_staged(conn, [flow], staged, statements)
        clear(conn, staged)
        build.materialize_from = upper
        if upper is None:
            build.materialized = True
            break
        if time.monotonic() >= deadline:
            break
    return done
