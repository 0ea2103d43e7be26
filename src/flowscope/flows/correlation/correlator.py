"""The incremental correlator: new events → memberships → recomputed flow instances.

Watermark. Sequence values are handed out before commit, so transactions commit out of `seq`
order and "the highest seq seen" would skip events of a transaction that commits late.
Instead each event carries the id of its inserting transaction (`events.txid`) and each build
remembers the transaction snapshot (`pg_current_snapshot()`, `xmin:xmax:xip`) its results
include: exactly the events whose transaction is visible in that snapshot. A run takes a new
snapshot and reads the events visible in the new one and not in the old one, which are

  * events of transactions that were still running at the old snapshot (its `xip` list) and
    have finished since, and
  * events with `old.xmax <= txid < new.xmax` that are visible in the new snapshot,

in (txid, seq) order and in batches. On Citus the snapshot is first certified against
transactions still committing on workers (`flowscope.flows.correlation.watermark`, with the
reasoning for distributed commits). Snapshots only grow, so nothing can later appear behind
a build's snapshot, and nothing is read twice. Compared with keeping only `xmin`, a long
writing transaction (a log import, or a session in *another database* on the same server:
transaction ids are server-wide) delays only its own events, not everything committed after
it began; its id stays in `xip` until it ends.

Each build (one flow version) has its own snapshot; builds at the same snapshot are served
by one scan. A new build first backfills the events visible in its horizon snapshot in `seq`
order, then computes its instance rows (`flowscope.flows.correlation.backfill` and
`.materialization`), within a time budget per run, then follows like the others and is
promoted once it has caught up (see `flowscope.flows.correlation.builds`).

Batches are bounded by rows and by bytes (`flowscope.flows.correlation.reads`). A run
follows every build to the run's snapshot (the watermark moves only as a whole), so the live
path's run length is what the events since the last run take; only rebuild work is cut by
the budget, and live builds are followed before it, so a rebuild does not delay them.

Lag. `snapshot_at` (`statement_timestamp()` of the statement that took the run's lock, just
before the snapshot) is stored with each build's snapshot: every event committed before it is
in the results once the run commits. On Citus too: a transaction the certification holds back
was still prepared on a worker after that time, so its events were not visible before it.
"Results as of N s ago" is `now - snapshot_at` of the ready build;
`flowscope.flows.correlation.lag` exports it and each run's publication delay to /metrics.

Recompute. Memberships are inserted idempotently (duplicates and re-reads change nothing),
then every touched instance is recomputed from all its memberships inside PostgreSQL
(`flowscope.flows.correlation.recompute`), so the rows never depend on arrival order, batch size or
duplicates.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from flowscope.flows.correlation import builds, watermark
from flowscope.flows.correlation.backfill import backfill
from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.materialization import materialize
from flowscope.flows.correlation.memberships import (
    MEMBERSHIP_COLUMNS,
    apply_events,
    apply_memberships,
    memberships,
    raw,
)
from flowscope.flows.correlation.models import FlowBuild
from flowscope.flows.correlation.prefetch import batches
from flowscope.flows.correlation.reads import FINISHED, NEWER, Batch, read_window
from flowscope.flows.correlation.statements import statements_for
from flowscope.flows.correlation.watermark import Snapshot

__all__ = ["LOCK_ID", "MEMBERSHIP_COLUMNS", "Run", "Snapshot", "apply_events", "correlate", "run"]

log = logging.getLogger(__name__)

LOCK_ID = 0x434F5252  # "CORR": one correlator run at a time per database


# Events per batch (read, matched, applied in one statement per build). Each batch costs a
# fixed round of statements, and an instance touched by several batches is rewritten each
# time: bench/correlate.py's catch-up of 196,000 events went from 17.7-19.7 k events/s at
# 5,000 to 26-28 k at 20,000 and 28-29 k at 40,000 (quiet machine, load 1.5). 20,000 keeps a
# batch's rows in Python to a few tens of MB and a batch's statement under a second.
BATCH_SIZE = 20_000


@dataclass(frozen=True)
class Run:
    """What one run did: events read, and the time of its snapshot (None: another run held
    the lock, nothing was done)."""

    read: int
    snapshot_at: datetime | None


def correlate(
    session: Session,
    *,
    batch_size: int = BATCH_SIZE,
    backfill_batches: int = 1000,
    budget_seconds: float = 0.5,
    prefetch: bool = True,
) -> int:
    """Correlate the events that became visible since the last run; returns events read."""
    return run(
        session,
        batch_size=batch_size,
        backfill_batches=backfill_batches,
        budget_seconds=budget_seconds,
        prefetch=prefetch,
    ).read


def run(
    session: Session,
    *,
    batch_size: int = BATCH_SIZE,
    backfill_batches: int = 1000,
    budget_seconds: float = 0.5,
    prefetch: bool = True,
) -> Run:
    """One correlator run in the caller's transaction (a job commits it).

    A rebuild's materialization comes first (on pooled connections, each range committed on
    its own: `flowscope.flows.correlation.materialization`), then live builds are followed
    to the run's snapshot, then backfills. Rebuild work stops once `budget_seconds` have
    passed since the run began, at most `backfill_batches` batches per phase, so a run stays
    short and its progress is committed run by run. `prefetch`: read and match the next
    batch on a second connection while this one applies the last
    (`flowscope.flows.correlation.prefetch`).
    """
    started = time.monotonic()
    conn = raw(session)
    with conn.cursor() as cur:
        # `statement_timestamp()` here precedes the snapshot taken next (see Lag).
        cur.execute("select pg_try_advisory_xact_lock(%s), statement_timestamp()", (LOCK_ID,))
        row = cur.fetchone()
        if not row or not row[0]:
            return Run(0, None)  # another run is busy; the next tick continues
        snapshot_at: datetime = row[1]
    # Taken before this transaction writes anything, so it does not contain itself; on Citus
    # certified against commits still pending on workers (see watermark.py).
    snapshot = watermark.take(conn, distributed=statements_for(session).distributed)
    for build in builds.sync_builds(session, str(snapshot)):
        build.snapshot_at = snapshot_at
    active = builds.load_active(session)
    deadline = started + budget_seconds
    # Materialization first, before this transaction writes any flow row: it runs on
    # connections of its own (see materialization.py).
    for build, flow in active:
        if build.backfill_done and not build.materialized:
            materialize(
                session,
                build,
                flow,
                batch_size=batch_size,
                max_batches=backfill_batches,
                deadline=deadline,
            )
    read = 0
    groups: dict[str, list[tuple[FlowBuild, CompiledFlow]]] = defaultdict(list)
    for build, flow in active:
        if build.backfill_done:
            groups[build.snapshot].append((build, flow))
    for since, members in groups.items():
        read += _follow(session, members, Snapshot.parse(since), snapshot, batch_size, prefetch)
        for build, _ in members:
            build.snapshot_at = snapshot_at
    for build, flow in active:
        if not build.backfill_done:
            read += backfill(
                session,
                build,
                flow,
                batch_size=batch_size,
                max_batches=backfill_batches,
                deadline=deadline,
                prefetch=prefetch,
            )
    for build, _ in active:
        caught_up = build.backfill_done and build.snapshot == str(snapshot)
        if build.state == "building" and caught_up and build.materialized:
            builds.promote(session, build)
    builds.purge_retired(session)
    session.flush()
    return Run(read, snapshot_at)


def _follow(
    session: Session,
    members: list[tuple[FlowBuild, CompiledFlow]],
    since: Snapshot,
    until: Snapshot,
    batch_size: int,
    prefetch: bool,
) -> int:
    """Read the events visible in `until` but not in `since` for the builds in `members`."""
    conn = raw(session)
    statements = statements_for(session)
    flows = [flow for _, flow in members]
    common = {
        "providers": sorted({p for flow in flows for p in flow.providers}),
        "types": sorted({t for flow in flows for _, t in flow.by_event}),
    }
    paths = sorted({p for flow in flows for p in flow.attribute_paths})
    finished = [str(t) for t in since.xip if until.visible(t)]
    phases: list[tuple[str, dict[str, Any]]] = []
    if finished:
        phases.append((FINISHED, {"txids": finished}))
    if until.xmax > since.xmax:
        phases.append(
            (NEWER, {"lo": str(since.xmax), "hi": str(until.xmax), "snapshot": str(until)})
        )

    def reader(rconn: psycopg.Connection[Any]) -> Iterator[tuple[Batch, list[tuple[Any, ...]]]]:
        for sql, params in phases:
            ct, cs = "0", 0
            while True:
                batch = read_window(
                    rconn, sql, {**common, **params, "ct": ct, "cs": cs}, n=batch_size, paths=paths
                )
                yield batch, memberships(flows, batch.rows)
                if batch.exhausted:
                    break
                ct, cs = batch.after

    read = 0
    for batch, found in batches(session, conn, reader, parallel=prefetch):
        apply_memberships(conn, flows, found, statements)
        read += len(batch.rows)
    for build, _ in members:
        build.snapshot = str(until)
        if build.state == "building":
            build.events_done += read
    return read
