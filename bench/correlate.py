"""Correlator benchmark (run by hand): throughput, and lag from ingest to visible instances.

    .venv/bin/python bench/correlate.py [--events 200000] [--rate 20000] [--seconds 15]

1. Throughput: N stored events (a 5-step flow, instances advancing one step per batch) are
   correlated from scratch; the baseline is a raw scan of the same events in the
   correlator's order (fetch only), measured in the same run.
2. Lag: a writer ingests at a sustained rate (one batch every 100 ms) while the correlator
   runs in a loop; the lag of a batch is the time from its commit to the commit of the first
   correlator run whose snapshot shows the batch's transaction (from then on the batch's
   instances are visible). Prints p50/p99 against the 2 s target.

Uses FLOWSCOPE_BENCH_DATABASE_URL, else a new database on 127.0.0.1:5432 (dropped at the end).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, make_url, text

from flowscope.db import Database, make_engine, make_sessionmaker, transaction, upgrade_database
from flowscope.flows.correlation.correlator import Snapshot, correlate
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.service import save_flow
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

STEPS = ["order.placed", "payment.captured", "order.packed", "parcel.shipped", "parcel.delivered"]
COHORT = 400  # instances started per batch: a batch holds 5 × COHORT events
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def definition() -> FlowDefinition:
    return FlowDefinition.model_validate(
        {
            "slug": "bench",
            "name": "Bench",
            "providers": ["shop"],
            "correlation": "order.id",
            "revenue": {"field": "order.total", "step": "placed"},
            "steps": [
                {
                    "key": t.split(".")[1],
                    "name": t,
                    "events": [{"type": t}],
                    "properties": [{"name": "tier", "path": "customer.tier"}],
                }
                for t in STEPS
            ],
        }
    )


def batch(number: int) -> list[NewEvent]:
    """Cohort `number` starts; the four cohorts before it each take their next step."""
    events = []
    for step, type_ in enumerate(STEPS):
        cohort = number - step
        if cohort < 0:
            continue
        for i in range(COHORT):
            cid = f"o{cohort}-{i}"
            events.append(
                NewEvent(
                    provider="shop",
                    event_id=f"{cid}-{step}",
                    type=type_,
                    timestamp=T0 + timedelta(seconds=cohort * 10 + step * 60 + i / 1000),
                    attributes={
                        "order": {"id": cid, "total": 10 + i % 90},
                        "customer": {"tier": "gold" if i % 4 == 0 else "silver"},
                    },
                )
            )
    return events


@contextmanager
def open_bench_database() -> Iterator[Database]:
    configured = os.environ.get("FLOWSCOPE_BENCH_DATABASE_URL")
    admin = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    url = configured or make_url(admin).set(database=name).render_as_string(hide_password=False)
    if not configured:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
        engine.dispose()
    try:
        upgrade_database(url)
        engine = make_engine(url, pool_size=4)
        yield Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
        engine.dispose()
    finally:
        if not configured:
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
            engine.dispose()


def reset(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "truncate events, flows, flow_versions, flow_builds, flow_events, flow_instances,"
                " flow_instance_steps, flow_transitions restart identity cascade"
            )
        )
    with transaction(db.sessions) as session:
        save_flow(session, definition(), "bench")


def correlate_all(db: Database) -> int:
    read = 0
    while True:
        with transaction(db.sessions) as session:
            n = correlate(session, batch_size=5000, backfill_batches=1000)
        read += n
        with db.sessions() as session:
            pending = session.scalar(
                text(
                    "select count(*) from flow_builds b where b.state = 'ready' and exists ("
                    " select 1 from events e"
                    " where e.txid >= pg_snapshot_xmin(b.snapshot::pg_snapshot)"
                    " and not pg_visible_in_snapshot(e.txid, b.snapshot::pg_snapshot))"
                )
            )
            building = session.scalar(
                text("select count(*) from flow_builds where state = 'building'")
            )
        if not pending and not building:
            return read
        time.sleep(0.01)


def throughput(db: Database, events: int) -> None:
    reset(db)
    with transaction(db.sessions) as session:  # the first run creates the build
        correlate(session)
    batches = events // (5 * COHORT)
    for number in range(batches):
        with transaction(db.sessions) as session:
            store_events(session, batch(number))
    with db.engine.connect() as conn:
        total = conn.scalar(text("select count(*) from events")) or 0
        started = time.perf_counter()
        raw = conn.exec_driver_sql(
            'select seq, provider, type, "timestamp", attributes, txid::text from events '
            "order by txid, seq"
        ).fetchall()
        scan = time.perf_counter() - started
    assert len(raw) == total
    started = time.perf_counter()
    read = correlate_all(db)
    elapsed = time.perf_counter() - started
    with db.sessions() as session:
        instances = session.scalar(text("select count(*) from flow_instances"))
    print(f"throughput: {total:,} events, {instances:,} instances")
    print(f"  baseline raw scan (fetch only): {total / scan:12,.0f} events/s")
    print(f"  correlator (incremental):       {read / elapsed:12,.0f} events/s")
    print(f"  correlator / raw scan:          {scan / elapsed:12.3f}")


def lag(db: Database, rate: int, seconds: float) -> None:
    reset(db)
    with transaction(db.sessions) as session:
        correlate(session)
    per_batch = 5 * COHORT
    interval = per_batch / rate
    batches: list[tuple[int, float]] = []  # (txid, commit time)
    runs: list[tuple[Snapshot, float]] = []  # (snapshot correlated, commit time)
    stop = threading.Event()

    def writer() -> None:
        next_at = time.perf_counter()
        number = 0
        deadline = next_at + seconds
        while next_at < deadline:
            with transaction(db.sessions) as session:
                store_events(session, batch(number))
                txid = int(session.scalar(text("select pg_current_xact_id()::text")) or 0)
            batches.append((txid, time.perf_counter()))
            number += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))

    def correlator() -> None:
        while not stop.is_set():
            with transaction(db.sessions) as session:
                correlate(session, batch_size=5000)
                snapshot = session.scalar(
                    text("select snapshot from flow_builds where state = 'ready'")
                )
            runs.append((Snapshot.parse(str(snapshot)), time.perf_counter()))

    threads = [threading.Thread(target=writer), threading.Thread(target=correlator)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    threads[0].join()
    written_in = time.perf_counter() - started
    while not runs or not runs[-1][0].visible(batches[-1][0]):
        time.sleep(0.05)
    stop.set()
    threads[1].join()
    lags = []
    for txid, committed in batches:
        visible = next(at for snap, at in runs if snap.visible(txid) and at >= committed)
        lags.append(visible - committed)
    lags.sort()
    events = len(batches) * per_batch
    p50 = statistics.median(lags)
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    print(f"lag at {rate:,} events/s target: {events:,} events in {written_in:.1f} s")
    print(f"  achieved ingest rate:  {events / written_in:10,.0f} events/s")
    print(f"  ingest → visible p50:  {p50:10.3f} s")
    print(f"  ingest → visible p99:  {p99:10.3f} s   (target < 2 s)")
    print(f"  max:                   {lags[-1]:10.3f} s over {len(runs)} correlator runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with open_bench_database() as db:
        throughput(db, args.events)
        lag(db, args.rate, args.seconds)


if __name__ == "__main__":
    main()
