"""Server time of the flow page and the step drill-down on a large data set (run by hand).

    .venv/bin/python bench/flow_page.py                 # 100 replicas: ~2.1 M events, ~458 k flows
    .venv/bin/python bench/flow_page.py --replicas 10   # smaller, quicker
    .venv/bin/python bench/flow_page.py --keep          # keep the database for another run
    .venv/bin/python bench/flow_page.py --reuse NAME    # measure again on a kept database

The help desk log (tests/data/helpdesk.xes.gz: 4,580 tickets, 21,348 events) is
replicated with new ticket ids, each copy's tickets spread over the last 30 days with their
durations compressed 100x (so flows span hours, not weeks, and the recent ones are still open).
Events are written with COPY, then the real correlator builds the instance tables, so the
pages read exactly what production would. Times are measured in process (TestClient, so
routing, the services' SQL and template rendering, without a network), and printed as
p50/p95 and as a ratio to the JSON analysis route measured in the same run (the baseline: the
same SQL without HTML).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import secrets
import sys
import time
import xml.etree.ElementTree as ET  # noqa: S405 - a trusted file shipped in tests/data
from collections.abc import Iterator
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
from flowscope.flows.correlation.correlator import correlate  # noqa: E402
from flowscope.flows.definitions.schemas import FlowDefinition  # noqa: E402
from flowscope.flows.definitions.service import save_flow  # noqa: E402
from flowscope.settings import Settings  # noqa: E402

SERVER = os.environ.get(
    "FLOWSCOPE_BENCH_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
XES = ROOT / "tests" / "data"  # the help desk log ships with the repository
NS = "{http://www.xes-standard.org/}"
PROVIDER = "helpdesk"
COMPRESS = 100
SPREAD = timedelta(days=30)

FLOW: dict[str, Any] = {
    "slug": "helpdesk",
    "name": "Help desk tickets",
    "description": "Ticket from seriousness assessment to closing (help desk log, replicated)",
    "providers": [PROVIDER],
    "correlation": "ticket",
    "timeouts": {"stall": "2h", "drop": "12h"},
    "revenue": {"field": "amount", "step": "assign", "label": "Contract value"},
    "steps": [
        {"key": "insert", "name": "Insert ticket", "optional": True,
         "events": [{"type": "Insert ticket"}]},
        {"key": "assign", "name": "Assign seriousness", "events": [{"type": "Assign seriousness"}],
         "properties": [{"name": "seriousness", "path": "seriousness"},
                        {"name": "customer", "path": "customer"}]},
        {"key": "take", "name": "Take in charge ticket",
         "events": [{"type": "Take in charge ticket"}],
         "exceptions": [{"name": "software anomaly", "type": "Create SW anomaly"}]},
        {"key": "wait", "name": "Wait", "optional": True, "events": [{"type": "Wait"}]},
        {"key": "upgrade", "name": "Require upgrade", "optional": True,
         "events": [{"type": "Require upgrade"}]},
        {"key": "resolve", "name": "Resolve ticket", "events": [{"type": "Resolve ticket"}]},
        {"key": "closed", "name": "Closed", "events": [{"type": "Closed"}]},
    ],
    "edges": [
        {"from": "insert", "to": "assign"}, {"from": "assign", "to": "take"},
        {"from": "take", "to": "wait"}, {"from": "take", "to": "upgrade"},
        {"from": "take", "to": "resolve"}, {"from": "wait", "to": "resolve"},
        {"from": "wait", "to": "take"}, {"from": "upgrade", "to": "resolve"},
        {"from": "resolve", "to": "closed"}, {"from": "take", "to": "take"},
    ],
}  # fmt: skip


def read_log() -> list[tuple[str, list[tuple[str, datetime, dict[str, str]]]]]:
    cases = []
    with gzip.open(XES / "helpdesk.xes.gz") as f:
        for _, elem in ET.iterparse(f):  # noqa: S314 - trusted input
            if elem.tag != NS + "trace":
                continue
            case = ""
            events = []
            for child in elem:
                if child.tag == NS + "string" and child.get("key") == "concept:name":
                    case = child.get("value", "")
                elif child.tag == NS + "event":
                    attrs = {a.get("key", ""): a.get("value", "") for a in child}
                    ts = datetime.fromisoformat(attrs.pop("time:timestamp"))
                    events.append((attrs.pop("concept:name"), ts, attrs))
            cases.append((case, events))
            elem.clear()
    return cases


def rows(replicas: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Event rows for COPY: every case of the log once per replica, moved into the last 30
    days with durations compressed; events that would lie in the future are not sent yet."""
    log = read_log()
    rnd = random.Random(42)  # noqa: S311 - data generation, not security
    n = 0
    for r in range(replicas):
        for case, events in log:
            ticket = f"r{r}-{case.replace(' ', '')}"
            start = now - SPREAD * rnd.random()
            first = events[0][1]
            amount = round(rnd.uniform(50, 5000), 2)
            for k, (activity, ts, attrs) in enumerate(events):
                when = start + (ts - first) / COMPRESS
                if when > now:
                    break
                body = {"ticket": ticket, **attrs}
                if k == 0:
                    body["amount"] = amount
                n += 1
                yield (PROVIDER, f"e{n}", activity, when, body)


def load(url: str, replicas: int, chunk: int = 100_000) -> tuple[int, float]:
    """COPY the rows, committing every `chunk` rows: one long transaction would hold the
    server's snapshot xmin back, and with it every correlator on the server (other test runs
    share it)."""
    now = datetime.now(UTC)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.perf_counter()
    count = 0
    copy_sql = (
        'copy events (provider, event_id, type, "timestamp", attributes) from stdin (format binary)'
    )
    source = rows(replicas, now)
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
        conn.execute("analyze events")
    return count, time.perf_counter() - started


def build(db: Database) -> float:
    """Run the correlator until the build is ready and has read every stored event (the
    watermark waits for older transactions anywhere on the server to end)."""
    started = time.perf_counter()
    while True:
        with db.sessions.begin() as session:
            correlate(session, batch_size=20000, backfill_batches=5)
        with db.sessions() as session:
            # Caught up: ready, and no stored event outside the build's snapshot (the
            # watermark is a snapshot, as in tests/flows/correlation_support.caught_up).
            state, done, total, behind = session.execute(
                text(
                    "select b.state, b.events_done, b.events_total, exists ("
                    "  select 1 from events e"
                    "  where e.txid >= pg_snapshot_xmin(b.snapshot::pg_snapshot)"
                    "    and not pg_visible_in_snapshot(e.txid, b.snapshot::pg_snapshot)) "
                    "from flow_builds b order by b.id desc limit 1"
                )
            ).one()
        print(f"  correlated {done:,} of {total:,} events", end="\r", flush=True)  # noqa: T201
        if state == "ready" and not behind:
            break
        time.sleep(0.05)
    print()  # noqa: T201
    # What autovacuum does to a settled table: statistics, and the visibility map without
    # which the covering indexes cannot answer from the index alone.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("flow_instances", "flow_instance_steps", "flow_transitions", "flow_events"):
            conn.execute(text(f"vacuum analyze {table}"))
    return time.perf_counter() - started


def timed(
    client: TestClient, url: str, runs: int, headers: dict[str, str] | None = None
) -> list[float]:
    client.get(url, headers=headers)  # warm up caches and the plan cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])  # noqa: S101
    return samples


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(db: Database, url: str, runs: int, windows: list[str]) -> None:
    settings = Settings(env="test", database_url=url, bootstrap_admin=False, log_format="text",
                        log_level="WARNING", scheduler_enabled=False)  # fmt: skip
    name = f"bench-{secrets.token_hex(3)}"
    with db.sessions.begin() as s:
        auth_service.create_user(s, name, "bench password 123", Role.viewer)
    app = create_app(settings, database=db)
    with TestClient(app) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"username": name, "password": "bench password 123",
                                    "csrf_token": token})  # fmt: skip
        drill = {"HX-Request": "true", "HX-Target": "drilldown"}
        cases: list[tuple[str, str, dict[str, str] | None]] = []
        for window, hours in (("24h", 24), ("7d", 168), ("30d", 720)):
            if window not in windows:
                continue
            start = quote((datetime.now(UTC) - timedelta(hours=hours)).isoformat())
            page = f"/flows/helpdesk?range={window}"
            api = f"/api/v1/flows/helpdesk/analysis?from={start}"
            prop = "prop_name=seriousness&prop_value=Value%203&sort=revenue"
            cases += [
                (f"API analysis (baseline), {window}", api, None),
                (f"flow page, {window}", page, None),
                (f"step drill-down dropped, {window}", f"{page}&step=take&status=dropped", drill),
                (f"step drill-down all, {window}", f"{page}&step=resolve", drill),
                (f"property filter + revenue sort, {window}", f"{page}&{prop}", drill),
            ]
        cases.append(("flows list (home), 24h", "/", None))
        cases.append(("variants tab, 24h", "/flows/helpdesk?tab=variants", drill))
        cases.append(
            (
                f"CSV export dropped at take, {windows[-1]}",
                f"/flows/helpdesk/instances.csv?range={windows[-1]}&step=take&status=dropped",
                None,
            )
        )
        baseline: dict[str, float] = {}
        print(f"{'request':48} {'p50 ms':>8} {'p95 ms':>8} {'p95 vs API':>11}")  # noqa: T201
        for label, path, headers in cases:
            samples = timed(client, path, runs, headers)
            p50, p95 = p(samples, 0.5), p(samples, 0.95)
            window = label.rsplit(", ", 1)[-1]
            if label.startswith("API"):
                baseline[window] = p95
            measured = window in baseline and not label.startswith("API")
            ratio = f"{p95 / baseline[window]:.2f}x" if measured else ""
            print(f"{label:48} {p50:8.1f} {p95:8.1f} {ratio:>11}")  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME", help="measure on a database kept earlier")
    parser.add_argument(
        "--windows", default="24h,7d,30d", help="timeframes to measure (24h,7d,30d)"
    )
    args = parser.parse_args()
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    name = args.reuse or f"flowscope_bench_pages_{secrets.token_hex(3)}"
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    if not args.reuse:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
        upgrade_database(url)
    engine = make_engine(url, pool_size=2)
    db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
    try:
        if not args.reuse:
            with db.sessions.begin() as s:
                save_flow(s, FlowDefinition.model_validate(FLOW), "bench")
            events, seconds = load(url, args.replicas)
            print(f"loaded {events:,} events in {seconds:.1f} s ({events / seconds:,.0f}/s)")  # noqa: T201
            seconds = build(db)
            print(f"correlated in {seconds:.1f} s ({events / seconds:,.0f} events/s)")  # noqa: T201
        with db.sessions() as s:
            flows = s.scalar(text("select count(*) from flow_instances"))
            events = s.scalar(text("select count(*) from events"))
        print(f"database {name}: {events:,} events, {flows:,} flows")  # noqa: T201
        measure(db, url, args.runs, args.windows.split(","))
    finally:
        engine.dispose()
        if not args.keep and not args.reuse:
            with admin.connect() as conn:
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


if __name__ == "__main__":
    main()
