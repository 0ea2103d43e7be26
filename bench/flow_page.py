"""Server time of the flow page: rollups against the exact computation, at any window (by hand).

    .venv/bin/python bench/flow_page.py                      # 2 M events over 60 days
    .venv/bin/python bench/flow_page.py --events 20000000    # 20 M
    .venv/bin/python bench/flow_page.py --events 100000      # small, quick (`make bench`)
    .venv/bin/python bench/flow_page.py --keep               # keep the database for another run
    .venv/bin/python bench/flow_page.py --reuse NAME         # measure again on a kept database

The events come from the generator's engine (the retail template: orders from placement to
delivery, loops, optional steps, exceptions, drops), its volume set so that `--days` days up to
now hold about `--events` events; flows that would send events in the future send them up to
now only, so the recent ones are still open. They are written with COPY, then the real
correlator builds the instance tables and the rollups, so the pages read exactly what
production would.

Per window (24 h / 7 d / 30 d, each compared with the window before it, as the page does) it
prints p50/p95 of the analysis service reading the rollups and of the exact computation from
the instance rows (`flowscope.flows.analysis.exact`, the code before the rollups) measured in
the same run, their ratio, and the flow page and JSON route end to end (TestClient: routing,
services, template rendering, no network). The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import psycopg
from fastapi.testclient import TestClient
from psycopg.types.json import set_json_dumps
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowscope.app import create_app  # noqa: E402
from flowscope.auth import service as auth_service  # noqa: E402
from flowscope.auth.models import Role  # noqa: E402
from flowscope.db import Database, make_engine, make_sessionmaker, upgrade_database  # noqa: E402
from flowscope.flows.analysis import exact, kpis  # noqa: E402
from flowscope.flows.analysis.context import load_flow_context  # noqa: E402
from flowscope.flows.correlation.correlator import correlate  # noqa: E402
from flowscope.flows.definitions.service import get_flow, save_flow  # noqa: E402
from flowscope.generator.engine import flows_in_window  # noqa: E402
from flowscope.generator.flowdef import flow_definition  # noqa: E402
from flowscope.generator.schemas import GeneratorConfig  # noqa: E402
from flowscope.generator.service import get_template, parse_config  # noqa: E402
from flowscope.settings import Settings  # noqa: E402

SERVER = os.environ.get(
    "FLOWSCOPE_BENCH_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def config_for(events: int, days: int) -> GeneratorConfig:
    """The retail template with the volume that gives about `events` events in `days` days."""
    config = parse_config(get_template("retail").source)
    hour = datetime(2026, 1, 5, 12, tzinfo=UTC)
    sample = [len(flow) for flow in flows_in_window(config, hour - timedelta(days=1), hour)]
    per_flow = sum(sample) / len(sample)
    # time_of_day weighs the hours; their mean is what one hour gets on average
    mean_weight = sum(config.time_of_day) / 24
    volume = events / (days * 24 * per_flow * mean_weight)
    return config.model_copy(update={"volume": volume})


def rows(config: GeneratorConfig, days: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Event rows for COPY, in time order of the flows' starts; nothing after `now`."""
    for flow in flows_in_window(config, now - timedelta(days=days), now):
        for e in flow:
            if e.timestamp > now:
                break
            yield (e.provider, e.event_id, e.type, e.timestamp, e.attributes)


def load(url: str, source: Iterator[tuple[Any, ...]], chunk: int = 100_000) -> tuple[int, float]:
    """COPY the rows, committing every `chunk` rows: one long transaction would hold the
    server's snapshot xmin back, and with it every correlator on the server (other test runs
    share it)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.perf_counter()
    count = 0
    copy_sql = (
        'copy events (provider, event_id, type, "timestamp", attributes) from stdin (format binary)'
    )
    with psycopg.connect(conninfo) as conn:
        set_json_dumps(orjson.dumps, conn)
        more = True
        while more:
            more = False
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                copy.set_types(["text", "text", "text", "timestamptz", "jsonb"])
                for n, row in enumerate(source, 1):
                    copy.write_row(row)
                    count += 1
                    if n == chunk:
                        more = True
                        break
            conn.commit()
            print(f"  loaded {count:,} events", end="\r", flush=True)  # noqa: T201
        conn.execute("analyze events")
    print()  # noqa: T201
    return count, time.perf_counter() - started


def build(db: Database) -> float:
    """Run the correlator until the build is ready and has read every stored event (the
    watermark waits for older transactions anywhere on the server to end). The flow was
    saved before the events were loaded, so this is a rebuild's path: backfill (memberships),
    then materialization (instance rows and rollups), each timed; runs of 5 s back to back,
    the correlator's own speed (the job runs it every second with a 0.5 s budget)."""
    started = time.perf_counter()
    backfilled = None
    while True:
        with db.sessions.begin() as session:
            correlate(session, batch_size=20000, backfill_batches=1000, budget_seconds=5.0)
        with db.sessions() as session:
            # Caught up: ready, and no stored event outside the build's snapshot (the
            # watermark is a snapshot, as in tests/flows/correlation_support.caught_up),
            # asked with the snapshot as a value: read from the joined row, it made the
            # planner scan every event (3 s per check at 20 M events).
            state, done, total, backfill_done, snapshot = session.execute(
                text(
                    "select state, events_done, events_total, backfill_done, snapshot"
                    " from flow_builds order by id desc limit 1"
                )
            ).one()
            behind = state != "ready" or session.scalar(
                text(
                    "select exists (select 1 from events e"
                    "  where e.txid >= pg_snapshot_xmin(cast(:s as pg_snapshot))"
                    "    and not pg_visible_in_snapshot(e.txid, cast(:s as pg_snapshot)))"
                ),
                {"s": snapshot},
            )
        elapsed = time.perf_counter() - started
        if backfill_done and backfilled is None:
            backfilled = elapsed
            print(f"  backfill: {done:,} events in {elapsed:.1f} s ({done / elapsed:,.0f}/s)")  # noqa: T201
        print(f"  correlated {done:,} of {total:,} events", end="\r", flush=True)  # noqa: T201
        if state == "ready" and not behind:
            break
    print()  # noqa: T201
    if backfilled is not None:
        rest = time.perf_counter() - started - backfilled
        print(f"  materialization: {rest:.1f} s ({done / rest:,.0f} events/s)")  # noqa: T201
    correlated = time.perf_counter() - started
    # What autovacuum does to a settled table: statistics, and the visibility map without
    # which the covering indexes cannot answer from the index alone (not counted above).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (
            "flow_instances",
            "flow_instance_steps",
            "flow_transitions",
            "flow_events",
            "flow_rollups",
        ):
            conn.execute(text(f"vacuum analyze {table}"))
    return correlated


def samples_of(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm up caches and the plan cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def get(client: TestClient, url: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])  # noqa: S101
        return response

    return call


def service(db: Database, slug: str, fn: Any, span: timedelta) -> Callable[[], object]:
    def call() -> object:
        now = datetime.now(UTC)
        with db.sessions() as session:
            flow = load_flow_context(session, get_flow(session, slug))
            return fn(session, flow, start=now - span, end=now, now=now)

    return call


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(db: Database, url: str, slug: str, runs: int, windows: list[str]) -> None:
    settings = Settings(env="test", database_url=url, bootstrap_admin=False, log_format="text",
                        log_level="WARNING", scheduler_enabled=False)  # fmt: skip
    name = f"bench-{secrets.token_hex(3)}"
    with db.sessions.begin() as s:
        auth_service.create_user(s, name, "bench password 123", Role.viewer)
    app = create_app(settings, database=db)
    # The baseline is the code before the rollups with the indexes it had: migration 0016
    # dropped this one, which only the exact computation's edges still read.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            text(
                "create index if not exists ix_flow_transitions_build_id_started_at"
                " on flow_transitions (build_id, started_at)"
                " include (correlation_id, source, target, delay_s)"
            )
        )
        conn.execute(text("vacuum analyze flow_transitions"))
    print(f"{load_average()} before measuring")  # noqa: T201
    with TestClient(app) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"username": name, "password": "bench password 123",
                                    "csrf_token": token})  # fmt: skip
        head = f"{'window':6} {'request':38} {'p50 ms':>8} {'p95 ms':>8} {'p95 vs exact':>13}"
        print(head)  # noqa: T201
        for window in windows:
            span = WINDOWS[window]
            start = quote((datetime.now(UTC) - span).isoformat())
            api = f"/api/v1/flows/{slug}/analysis?from={start}"
            cases = [
                ("exact from instances (baseline)", service(db, slug, exact.flow_analysis, span)),
                ("rollups (analysis service)", service(db, slug, kpis.flow_analysis, span)),
                ("API analysis (JSON route)", get(client, api)),
                ("flow page (HTML)", get(client, f"/flows/{slug}?range={window}")),
            ]
            baseline = None
            for label, call in cases:
                samples = samples_of(call, runs)
                p50, p95 = p(samples, 0.5), p(samples, 0.95)
                baseline = baseline or p95
                ratio = "" if p95 is baseline else f"{p95 / baseline:.3f}x"
                print(f"{window:6} {label:38} {p50:8.1f} {p95:8.1f} {ratio:>13}")  # noqa: T201
        samples = samples_of(get(client, "/"), runs)
        print(f"{'24h':6} {'flows list (home)':38} {p(samples, 0.5):8.1f} {p(samples, 0.95):8.1f}")  # noqa: T201
    print(f"{load_average()} after measuring")  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="about this many events")
    parser.add_argument("--days", type=int, default=60, help="spread over this many days")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME", help="measure on a database kept earlier")
    parser.add_argument("--windows", default="24h,7d,30d", help="timeframes to measure")
    args = parser.parse_args()
    windows = args.windows.split(",")
    if unknown := set(windows) - set(WINDOWS):
        parser.error(f"--windows: unknown {', '.join(sorted(unknown))}; use {', '.join(WINDOWS)}")
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    name = args.reuse or f"flowscope_bench_pages_{secrets.token_hex(3)}"
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    if not args.reuse:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
        upgrade_database(url)
    engine = make_engine(url, pool_size=2)
    db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
    config = config_for(args.events, args.days)
    slug = config.flow_slug
    try:
        if not args.reuse:
            print(f"{load_average()} before loading")  # noqa: T201
            with db.sessions.begin() as s:
                save_flow(s, flow_definition(config), "bench")
            events, seconds = load(url, rows(config, args.days, datetime.now(UTC)))
            print(f"loaded {events:,} events in {seconds:.1f} s ({events / seconds:,.0f}/s)")  # noqa: T201
            seconds = build(db)
            print(f"correlated in {seconds:.1f} s ({events / seconds:,.0f} events/s)")  # noqa: T201
        with db.sessions() as s:
            flows = s.scalar(text("select count(*) from flow_instances"))
            events = s.scalar(text("select count(*) from events"))
            rollups = s.scalar(text("select count(*) from flow_rollups"))
        print(f"database {name}: {events:,} events, {flows:,} flows, {rollups:,} rollup rows")  # noqa: T201
        measure(db, url, slug, args.runs, windows)
    finally:
        engine.dispose()
        if not args.keep and not args.reuse:
            with admin.connect() as conn:
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


if __name__ == "__main__":
    main()
