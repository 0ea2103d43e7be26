"""A new build's backfill: memberships first, instance rows once per correlation id after
(`flowscope.flows.correlation.materialization`).

Reading the stored events in `seq` order spreads an instance's events over many batches;
recomputing its rows after each of them (as following live events does) costs as many
recomputes as batches it spans. The backfill instead only stores memberships (binary COPY,
no staging: a build's backfill reads each event once, in the transaction that advances
`backfill_seq`), and then the build is *materialized*: its instance, step and transition rows
are computed from all the memberships of a range of correlation ids at a time
(`flowscope.flows.correlation.materialization`). Readers never see the build before it is
materialized and promoted.

Live events that arrive meanwhile are followed as usual (the build's snapshot stays the
horizon until the backfill has read everything). Following recomputes an instance from all its
memberships, but step and transition rows only from its new memberships on; an instance not
yet materialized gets its full rows when the materialization reaches its correlation id, in
a later run. Either way the rows are a function of the
memberships alone, as before.

The backfill stops when a run's time budget is spent (`deadline`) or after `max_batches`
batches, so a run stays short and its progress is committed run by run; so does the
materialization.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.memberships import MEMBERSHIP_COLUMNS, memberships, raw
from flowscope.flows.correlation.models import FlowBuild
from flowscope.flows.correlation.prefetch import batches
from flowscope.flows.correlation.reads import BACKFILL, Batch, read_window
from flowscope.flows.correlation.staging import copy_rows


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
    paths = flow.attribute_paths

    def reader(rconn: psycopg.Connection[Any]) -> Iterator[tuple[Batch, list[tuple[Any, ...]]]]:
        after = build.backfill_seq
        while True:
            batch = read_window(
                rconn,
                BACKFILL,
                {**params, "ct": 0, "cs": after},
                n=batch_size,
                paths=paths,
            )
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
