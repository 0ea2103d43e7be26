"""The incremental correlator: new events → memberships → recomputed flow instances.

Watermark. Sequence values are handed out before commit, so transactions commit out of `seq`
order and "the highest seq seen" would skip events of a transaction that commits late.
Instead each event carries the id of its inserting transaction (`events.txid`), and a run
takes `xmin = pg_snapshot_xmin(pg_current_snapshot())`: every transaction with an id below
xmin has finished, and any transaction still running (or not yet started) has an id >= xmin.
A run therefore reads the events with `cursor <= (txid, seq)` and `txid < xmin`, ordered by
(txid, seq) in batches, and then moves the cursor to (xmin, 0). Nothing can later appear
behind the cursor. The price: a long-running *writing* transaction anywhere on the server
holds xmin back, and with it the correlation of everything committed after it started.

Each build (one flow version) has its own cursor; builds at the same position are served by
one scan. A new build first backfills the events below its horizon in `seq` order (they are
all committed), a bounded number of batches per run, then follows like the others and is
promoted once it has caught up (see `flowscope.flows.builds`).

Recompute. Memberships are inserted idempotently (duplicates and re-reads change nothing),
then every touched instance is recomputed from all its memberships, so the rows never
depend on arrival order, batch size or duplicates.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy.orm import Session

from flowscope.flows import builds
from flowscope.flows.instances import InstanceRow, Membership, summarize
from flowscope.flows.matching import CompiledFlow
from flowscope.flows.models import FlowBuild
from flowscope.flows.writes import delete_touched, insert_rows

log = logging.getLogger(__name__)

LOCK_ID = 0x434F5252  # "CORR": one correlator run at a time per database

_FOLLOW = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint
from events
where (txid, seq) > (%(ct)s::text::xid8, %(cs)s) and txid < %(xmin)s::text::xid8
  and provider = any(%(providers)s)
order by txid, seq
limit %(n)s
"""

_BACKFILL = """
select seq, provider, type, "timestamp", attributes, txid::text::bigint
from events
where seq > %(after)s and txid < %(horizon)s::text::xid8 and provider = any(%(providers)s)
order by seq
limit %(n)s
"""

_MEMBERS = """
select f.build_id, f.correlation_id, f.seq, f."timestamp", f.step, f.exception,
       f.properties, f.revenue
from flow_events f
join unnest(%(b)s::bigint[], %(c)s::text[]) as t(b, c)
  on f.build_id = t.b and f.correlation_id = t.c
"""


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
        # Taken before this transaction writes anything, so it is not held back by itself.
        cur.execute("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        row = cur.fetchone()
    assert row is not None  # noqa: S101
    xmin = int(row[0])
    builds.sync_builds(session, xmin)
    active = builds.load_active(session)
    read = 0
    for build, flow in active:
        if not build.backfill_done:
            read += _backfill(session, build, flow, batch_size, backfill_batches)
    groups: dict[tuple[int, int], list[tuple[FlowBuild, CompiledFlow]]] = defaultdict(list)
    for build, flow in active:
        if build.backfill_done:
            groups[(build.cursor_txid, build.cursor_seq)].append((build, flow))
    for (ct, cs), members in sorted(groups.items()):
        read += _follow(session, members, ct, cs, xmin, batch_size)
    for build, _ in active:
        caught_up = build.backfill_done and (build.cursor_txid, build.cursor_seq) == (xmin, 0)
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
                "horizon": str(build.horizon_txid),
                "providers": flow.providers,
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
    ct: int,
    cs: int,
    xmin: int,
    batch_size: int,
) -> int:
    conn = _raw(session)
    flows = [flow for _, flow in members]
    providers = sorted({p for flow in flows for p in flow.providers})
    read = 0
    while True:
        rows = _read(
            conn,
            _FOLLOW,
            {"ct": str(ct), "cs": cs, "xmin": str(xmin), "providers": providers, "n": batch_size},
        )
        if rows:
            apply_events(session, flows, rows)
            ct, cs = rows[-1][5], rows[-1][0]
            read += len(rows)
        if len(rows) < batch_size:
            break
    for build, _ in members:
        build.cursor_txid, build.cursor_seq = xmin, 0
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
    insert_rows(
        conn,
        "flow_events",
        [
            ("build_id", "bigint"),
            ("correlation_id", "text"),
            ("seq", "bigint"),
            ("timestamp", "timestamptz"),
            ("step", "text"),
            ("exception", "text"),
            ("properties", "jsonb"),
            ("revenue", "numeric"),
        ],
        memberships,
        conflict="on conflict do nothing",
    )
    touched = sorted({(m[0], m[1]) for m in memberships})
    recompute(session, {flow.build_id: flow for flow in flows}, touched)
    return len(memberships)


def recompute(
    session: Session, flows: dict[int, CompiledFlow], touched: list[tuple[int, str]]
) -> None:
    """Rewrite the instances `touched` (build id, correlation id) from their memberships."""
    conn = _raw(session)
    params: dict[str, list[Any]] = {
        "b": [t[0] for t in touched],
        "c": [t[1] for t in touched],
    }
    grouped: dict[tuple[int, str], list[Membership]] = defaultdict(list)
    for b, c, *rest in _read(conn, _MEMBERS, params):
        grouped[(b, c)].append(Membership(*rest))
    summaries: list[tuple[int, InstanceRow]] = [
        (key[0], summarize(flows[key[0]], key[1], events)) for key, events in grouped.items()
    ]
    delete_touched(conn, ("flow_instance_steps", "flow_transitions"), params)
    write_instances(conn, summaries)


def write_instances(
    conn: psycopg.Connection[Any], summaries: list[tuple[int, InstanceRow]]
) -> None:
    insert_rows(
        conn,
        "flow_instances",
        INSTANCE_COLUMNS,
        [
            (
                b,
                r.correlation_id,
                r.started_at,
                r.last_event_at,
                r.duration_s,
                r.event_count,
                r.current_step,
                r.completed_at,
                r.stall_at,
                r.drop_at,
                r.has_exception,
                r.exception_step,
                r.exception_name,
                r.properties,
                r.revenue,
                r.variant,
                r.skipped_steps,
                r.out_of_order,
            )
            for b, r in summaries
        ],
        conflict="on conflict (build_id, correlation_id) do update set "
        + ", ".join(f"{c} = excluded.{c}" for c, _ in INSTANCE_COLUMNS[2:]),
    )
    insert_rows(
        conn,
        "flow_instance_steps",
        [
            ("build_id", "bigint"),
            ("correlation_id", "text"),
            ("step", "text"),
            ("first_at", "timestamptz"),
            ("last_at", "timestamptz"),
            ("count", "integer"),
            ("exception", "text"),
            ("started_at", "timestamptz"),
        ],
        [
            (b, r.correlation_id, s.step, s.first_at, s.last_at, s.count, s.exception, r.started_at)
            for b, r in summaries
            for s in r.steps
        ],
    )
    insert_rows(
        conn,
        "flow_transitions",
        [
            ("build_id", "bigint"),
            ("correlation_id", "text"),
            ("ord", "integer"),
            ("source", "text"),
            ("target", "text"),
            ("delay_s", "float8"),
            ("started_at", "timestamptz"),
        ],
        [
            (b, r.correlation_id, i, source, target, delay, r.started_at)
            for b, r in summaries
            for i, (source, target, delay) in enumerate(r.transitions)
        ],
    )


INSTANCE_COLUMNS = [
    ("build_id", "bigint"),
    ("correlation_id", "text"),
    ("started_at", "timestamptz"),
    ("last_event_at", "timestamptz"),
    ("duration_s", "float8"),
    ("event_count", "integer"),
    ("current_step", "text"),
    ("completed_at", "timestamptz"),
    ("stall_at", "timestamptz"),
    ("drop_at", "timestamptz"),
    ("has_exception", "boolean"),
    ("exception_step", "text"),
    ("exception_name", "text"),
    ("properties", "jsonb"),
    ("revenue", "numeric"),
    ("variant", "text[]"),
    ("skipped_steps", "text[]"),
    ("out_of_order", "text[]"),
]
