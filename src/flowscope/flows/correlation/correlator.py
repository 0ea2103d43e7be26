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

in (txid, seq) order and in batches. Snapshots only grow, so nothing can later appear behind
a build's snapshot, and nothing is read twice. Compared with keeping only `xmin`, a long
writing transaction (a log import, or a session in *another database* on the same server:
transaction ids are server-wide) delays only its own events, not everything committed after
it began; its id stays in `xip` until it ends.

Each build (one flow version) has its own snapshot; builds at the same snapshot are served
by one scan. A new build first backfills the events visible in its horizon snapshot in `seq`
order, a bounded number of batches per run, then follows like the others and is promoted
once it has caught up (see `flowscope.flows.correlation.builds`).

Recompute. Memberships are inserted idempotently (duplicates and re-reads change nothing),
then every touched instance is recomputed from all its memberships inside PostgreSQL
(`flowscope.flows.correlation.recompute`), so the rows never depend on arrival order, batch size or
duplicates.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy.orm import Session

from flowscope.flows.correlation import builds
from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.models import FlowBuild
from flowscope.flows.correlation.recompute import recompute
from flowscope.flows.correlation.staging import clear, copy_rows, insert_staged, stage

log = logging.getLogger(__name__)

LOCK_ID = 0x434F5252  # "CORR": one correlator run at a time per database

# The provider and type filters are written `x || ''` so that they cannot use an index: the
# reads must walk the (txid, seq) or seq order with a limit. Right after a bulk load, stale
# statistics made PostgreSQL pick the (provider, type) index and sort every row of the range
# for each batch instead.

# Events of the given transactions (finished since the build's snapshot).
_FINISHED = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx
from events
where txid = any(%(txids)s::text[]::xid8[]) and (txid, seq) > (%(ct)s::text::xid8, %(cs)s)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by txid, seq
limit %(n)s
"""

# Events of transactions that started after the build's snapshot and are visible now.
_NEWER = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx
from events
where txid >= %(lo)s::text::xid8 and txid < %(hi)s::text::xid8
  and pg_visible_in_snapshot(txid, %(snapshot)s::pg_snapshot)
  and (txid, seq) > (%(ct)s::text::xid8, %(cs)s)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by txid, seq
limit %(n)s
"""

_BACKFILL = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint as tx
from events
where seq > %(after)s and pg_visible_in_snapshot(txid, %(horizon)s::pg_snapshot)
  and provider || '' = any(%(providers)s) and type || '' = any(%(types)s)
order by seq
limit %(n)s
"""


@dataclass(frozen=True)
class Snapshot:
    """A transaction snapshot as PostgreSQL prints it: `xmin:xmax:xip1,xip2,…`."""

    xmin: int
    xmax: int
    xip: tuple[int, ...]

    @classmethod
    def parse(cls, value: str) -> Snapshot:
        xmin, xmax, xip = value.split(":")
        return cls(int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x))

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(map(str, self.xip))}"

    def visible(self, txid: int) -> bool:
        return txid < self.xmin or (txid < self.xmax and txid not in self.xip)


def _raw(session: Session) -> psycopg.Connection[Any]:
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    return driver


def _read(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        set_json_loads(orjson.loads, cur)
        cur.execute(sql, params)
        return cur.fetchall()


def correlate(session: Session, *, batch_size: int = 5000, backfill_batches: int = 20) -> int:
    """Correlate the events that became visible since the last run; returns events read.

    Runs in the caller's transaction (a job commits it). `backfill_batches` bounds the work a
    rebuild does per run, so a run stays short and its progress is committed run by run.
    """
    conn = _raw(session)
    with conn.cursor() as cur:
        cur.execute("select pg_try_advisory_xact_lock(%s)", (LOCK_ID,))
        row = cur.fetchone()
        if not row or not row[0]:
            return 0  # another run is busy; the next tick continues
        # Taken before this transaction writes anything, so it does not contain itself.
        cur.execute("select pg_current_snapshot()::text")
        row = cur.fetchone()
    assert row is not None  # noqa: S101
    snapshot = Snapshot.parse(row[0])
    builds.sync_builds(session, str(snapshot))
    active = builds.load_active(session)
    read = 0
    for build, flow in active:
        if not build.backfill_done:
            read += _backfill(session, build, flow, batch_size, backfill_batches)
    groups: dict[str, list[tuple[FlowBuild, CompiledFlow]]] = defaultdict(list)
    for build, flow in active:
        if build.backfill_done:
            groups[build.snapshot].append((build, flow))
    for since, members in groups.items():
        read += _follow(session, members, Snapshot.parse(since), snapshot, batch_size)
    for build, _ in active:
        caught_up = build.backfill_done and build.snapshot == str(snapshot)
        if build.state == "building" and caught_up:
            builds.promote(session, build)
    builds.purge_retired(session)
    session.flush()
    return read


def _backfill(
    session: Session, build: FlowBuild, flow: CompiledFlow, batch_size: int, max_batches: int
) -> int:
    conn = _raw(session)
    read = 0
    for _ in range(max_batches):
        rows = _read(
            conn,
            _BACKFILL,
            {
                "after": build.backfill_seq,
                "horizon": build.horizon,
                "providers": flow.providers,
                "types": sorted({t for _, t in flow.by_event}),
                "n": batch_size,
            },
        )
        if rows:
            apply_events(session, [flow], rows)
            build.backfill_seq = rows[-1][0]
            build.events_done += len(rows)
            read += len(rows)
        if len(rows) < batch_size:
            build.backfill_done = True
            break
    return read


def _follow(
    session: Session,
    members: list[tuple[FlowBuild, CompiledFlow]],
    since: Snapshot,
    until: Snapshot,
    batch_size: int,
) -> int:
    """Read the events visible in `until` but not in `since` for the builds in `members`."""
    conn = _raw(session)
    flows = [flow for _, flow in members]
    common = {
        "providers": sorted({p for flow in flows for p in flow.providers}),
        "types": sorted({t for flow in flows for _, t in flow.by_event}),
        "n": batch_size,
    }
    finished = [str(t) for t in since.xip if until.visible(t)]
    phases: list[tuple[str, dict[str, Any]]] = []
    if finished:
        phases.append((_FINISHED, {"txids": finished}))
    if until.xmax > since.xmax:
        phases.append(
            (_NEWER, {"lo": str(since.xmax), "hi": str(until.xmax), "snapshot": str(until)})
        )
    read = 0
    for sql, params in phases:
        ct, cs = 0, 0
        while True:
            rows = _read(conn, sql, {**common, **params, "ct": str(ct), "cs": cs})
            if rows:
                apply_events(session, flows, rows)
                ct, cs = rows[-1][5], rows[-1][0]
                read += len(rows)
            if len(rows) < batch_size:
                break
    for build, _ in members:
        build.snapshot = str(until)
        if build.state == "building":
            build.events_done += read
    return read


def apply_events(
    session: Session, flows: Sequence[CompiledFlow], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Record the memberships of `rows` (events) in `flows` and recompute touched instances."""
    memberships: list[tuple[Any, ...]] = []
    for seq, provider, type_, timestamp, attributes, *_ in rows:
        for flow in flows:
            match = flow.match(provider, type_, attributes)
            if match is not None:
                memberships.append(
                    (
                        flow.build_id,
                        match.correlation_id,
                        seq,
                        timestamp,
                        match.step,
                        match.exception,
                        match.properties,
                        match.revenue,
                    )
                )
    if not memberships:
        return 0
    conn = _raw(session)
    # Staged first: the recompute reads the new memberships from there to know what changed.
    staged = stage(conn, "flow_events")
    copy_rows(conn, staged, MEMBERSHIP_COLUMNS, memberships)
    insert_staged(conn, "flow_events", staged, MEMBERSHIP_COLUMNS, "on conflict do nothing")
    for build_id in sorted({m[0] for m in memberships}):
        recompute(conn, next(f for f in flows if f.build_id == build_id), staged)
    clear(conn, staged)
    return len(memberships)


MEMBERSHIP_COLUMNS = [
    ("build_id", "int8"),
    ("correlation_id", "text"),
    ("seq", "int8"),
    ("timestamp", "timestamptz"),
    ("step", "text"),
    ("exception", "text"),
    ("properties", "jsonb"),
    ("revenue", "numeric"),
]
