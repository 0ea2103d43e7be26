"""Retention benchmark (run by hand): batched deletes against one big delete, and ingest beside.

    .venv/bin/python bench/retention.py [--events 200000] [--batch 1000] [--ingest-seconds 5]

1. Delete: N stored and correlated events (bench/correlate.py's 5-step flow), the older half
   past retention. `run` is a retention run (`flowscope.retention.purge`): batches of
   `--batch` events, memberships and flow rows with them, partly expired instances
   recomputed. The baseline is one transaction deleting the same events and memberships with
   set-based joins and dropping every touched instance (no recompute): what a
   `delete … where timestamp < cutoff` job does. Printed: time of each, rows/s, and the longest
   transaction (how long locks on deleted rows and the correlator wait at most).
2. Ingest beside a run: 200-event inserts in a loop for `--ingest-seconds`, alone (baseline) and
   while a retention run deletes; p50/p99 per insert.
3. The ingest guard: the same inserts with and without the statement's horizon check.

Uses FLOWSCOPE_BENCH_DATABASE_URL, else a new database on 127.0.0.1:5432 (dropped at the end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from correlate import COHORT, T0, batch, correlate_all, open_bench_database, reset
from sqlalchemy import text

from flowscope.db import Database, transaction
from flowscope.ingest import service as ingest_service
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events
from flowscope.retention.purge import run_retention

DAYS = 30


def load(db: Database, events: int) -> datetime:
    """Store and correlate `events`; returns the `now` at which the older half is past."""
    reset(db)
    with db.engine.begin() as conn:  # the last run's horizons would refuse the old events
        conn.execute(text("truncate retention_providers"))
    batches = events // (5 * COHORT)
    for number in range(batches + 4):  # the last cohorts finish their steps
        with transaction(db.sessions) as session:
            store_events(session, batch(number) if number < batches else _tail(number, batches))
    correlate_all(db)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("vacuum analyze"))
    # an instance spans 4 minutes (24 cohorts): the older ones lose every event, the 24 just
    # before the cutoff only their first steps and are recomputed
    middle = T0 + timedelta(seconds=(batches // 2) * 10 + 241)
    return middle + timedelta(days=DAYS)


def _tail(number: int, batches: int) -> list[NewEvent]:
    return [e for e in batch(number) if int(e.event_id.split("-")[0][1:]) < batches]


def counts(db: Database) -> dict[str, int]:
    tables = ("events", "flow_events", "flow_instances", "flow_instance_steps", "flow_transitions")
    with db.sessions() as s:
        return {t: int(s.scalar(text(f"select count(*) from {t}")) or 0) for t in tables}  # noqa: S608


def naive(db: Database, now: datetime) -> float:
    cutoff = now - timedelta(days=DAYS)
    started = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(
            text(
                """
                create temporary table gone on commit drop as
                select distinct fe.build_id, fe.correlation_id
                from flow_events fe join events e on e.seq = fe.seq
                where e."timestamp" < :c
                """
            ),
            {"c": cutoff},
        )
        conn.execute(
            text(
                "delete from flow_events fe using events e where e.seq = fe.seq "
                'and e."timestamp" < :c'
            ),
            {"c": cutoff},
        )
        conn.execute(text('delete from events where "timestamp" < :c'), {"c": cutoff})
        for table in ("flow_instances", "flow_instance_steps", "flow_transitions"):
            conn.execute(
                text(
                    f"delete from {table} t using gone g "  # noqa: S608
                    "where t.build_id = g.build_id and t.correlation_id = g.correlation_id"
                )
            )
    return time.perf_counter() - started


def ingest_latencies(
    db: Database, seconds: float, stop: threading.Event | None = None
) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    now = datetime.now(UTC)
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        events = [
            NewEvent("shop", uuid.uuid4().hex, "order.placed", now, {"order": {"id": "x"}})
            for _ in range(200)
        ]
        began = time.perf_counter()
        with transaction(db.sessions) as session:
            store_events(session, events)
        latencies.append(time.perf_counter() - began)
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--ingest-seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    with open_bench_database() as db:
        # 1. the baseline: one set-based delete
        now = load(db, args.events)
        before = counts(db)
        naive_s = naive(db, now)
        after = counts(db)
        naive_rows = sum(before[t] - after[t] for t in before)
        print(
            f"one delete: {before['events'] - after['events']:,} events, {naive_rows:,} rows "
            f"in {naive_s:.2f} s ({naive_rows / naive_s:,.0f} rows/s), one transaction of "
            f"{naive_s * 1000:.0f} ms (no instance recomputed)"
        )
        # 1. a retention run on the same data
        now = load(db, args.events)
        before = counts(db)
        started = time.perf_counter()
        result = run_retention(
            db, default_days=DAYS, batch_size=args.batch, budget_seconds=3600, now=now
        )
        run_s = time.perf_counter() - started
        after = counts(db)
        rows = sum(before[t] - after[t] for t in before)
        slowest = result.slowest_batch_s
        print(
            f"retention run: {result.events:,} events, {rows:,} rows in {run_s:.2f} s "
            f"({rows / run_s:,.0f} rows/s, half of it pauses), {result.batches} batches, "
            f"{result.removed.recomputed:,} instance recomputes; longest batch "
            f"{slowest * 1000:.0f} ms"
        )
        print(
            f"  ratios: run time / one delete {run_s / naive_s:.2f}; longest transaction / "
            f"one delete {slowest / naive_s:.3f}"
        )
        # 2. ingest beside a run
        alone = ingest_latencies(db, args.ingest_seconds)
        now = load(db, args.events)
        stop = threading.Event()
        beside: list[float] = []
        writer = threading.Thread(target=lambda: beside.extend(ingest_latencies(db, 3600, stop)))
        writer.start()
        beside_run = run_retention(
            db, default_days=DAYS, batch_size=args.batch, budget_seconds=3600, now=now
        )
        stop.set()
        writer.join()
        print(
            f"ingest beside a run of {beside_run.events:,} events in {beside_run.batches} "
            f"batches: {len(beside)} inserts of 200 events"
        )
        print(
            f"ingest of 200 events alone: p50 {pct(alone, 0.5):.1f} ms, p99 "
            f"{pct(alone, 0.99):.1f} ms; beside a run: p50 {pct(beside, 0.5):.1f} ms, p99 "
            f"{pct(beside, 0.99):.1f} ms (ratio p99 {pct(beside, 0.99) / pct(alone, 0.99):.2f})"
        )
        # 3. the horizon guard in the insert statement
        guarded = ingest_service._INSERT_ANY
        unguarded = guarded.replace(
            """and not exists (select 1 from retention_providers r
                          where r.provider = u.p and r.purged_before > u.ts)""",
            "",
        )
        assert unguarded != guarded
        times: dict[str, list[float]] = {"guarded": [], "unguarded": []}
        for _ in range(3):
            for name, sql in (("unguarded", unguarded), ("guarded", guarded)):
                ingest_service._INSERT_ANY = sql
                times[name] += ingest_latencies(db, args.ingest_seconds / 3)
        ingest_service._INSERT_ANY = guarded
        g, u = statistics.median(times["guarded"]), statistics.median(times["unguarded"])
        print(
            f"insert of 200 events with the horizon guard: median {g * 1000:.2f} ms, without "
            f"{u * 1000:.2f} ms (ratio {g / u:.3f})"
        )
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")


if __name__ == "__main__":
    main()
