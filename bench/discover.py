"""Discovery and events explorer benchmark (run by hand), against baselines of the same run.

    .venv/bin/python bench/discover.py [--copies 12] [--runs 3] [--explorer-events 2000000]

1. Discovery: a synthetic log of `--copies` copies of the real help desk log (bench/eventlogs.py;
   12 copies ≈ BPIC 2012's size) is imported, then `/providers/{p}/discover`'s computation runs
   cold (cache emptied) and warm (kept result). Baseline: pm4py's variants + DFG on the same
   log in memory (`pm4py.get_variants` + `pm4py.discover_dfg`, reading not timed), when pm4py
   is installed (not a dependency). Counts are compared: variants and every DFG edge.
2. Events explorer: the table is filled to `--explorer-events` with generated events, then the
   page (/events, default window and all time, through the app) is timed against the count
   the page used to make (`count(*) … group by provider, type` over every event).

Uses FLOWSCOPE_BENCH_DATABASE_URL, else 127.0.0.1:5432; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import html
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eventlogs import synthetic_xes  # noqa: E402

from flowscope.app import create_app  # noqa: E402
from flowscope.auth import service as auth_service  # noqa: E402
from flowscope.auth.models import Role  # noqa: E402
from flowscope.db import Database, make_engine, make_sessionmaker, upgrade_database  # noqa: E402
from flowscope.flows.definitions.discovery import CACHE, discover  # noqa: E402
from flowscope.ingest.eventlog import import_event_log  # noqa: E402
from flowscope.settings import Settings, normalise_dsn  # noqa: E402

LOCAL_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FILL = """
insert into events (provider, event_id, type, "timestamp", attributes)
select 'shop.p' || (n % 4), 'f' || n, 'type.' || ((n / 4) % 6),
       now() - (n % 5184000) * interval '1 second',
       jsonb_build_object('order', jsonb_build_object('id', 'o' || (n / 24)), 'amount', n % 1000)
from generate_series(:first, :last) n
"""
OLD_COUNTS = """
select provider, type, count(*) filter (where "timestamp" >= now() - interval '24 hours'),
       count(*), max("timestamp")
from events group by provider, type
"""
PM4PY = """
import json, sys, time
import pm4py
log = pm4py.read_xes(sys.argv[1])
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    dfg, starts, ends = pm4py.discover_dfg(log)
    variants = pm4py.get_variants(log)
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "variants": len(variants),
                  "dfg": sorted([a, b, n] for (a, b), n in dfg.items())}))
"""


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def pm4py_baseline(path: Path, runs: int) -> dict[str, Any] | None:
    import json

    env = {**os.environ, "TQDM_DISABLE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", PM4PY, str(path), str(runs)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    if run.returncode != 0:
        return None
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def bench_discovery(db: Database, path: Path, runs: int) -> None:
    started = time.perf_counter()
    with db.sessions() as session:
        result = import_event_log(session, path, "helpdesk", jobs=2, on_batch=lambda *_: None)
        session.commit()
        session.execute(text("analyze events"))
        session.commit()
    print(f"  imported {result.stored:,} events in {time.perf_counter() - started:.1f} s")

    def cold() -> None:
        CACHE.clear()
        with db.sessions() as s:
            discover(s, "helpdesk", "case.id")

    def warm() -> None:
        with db.sessions() as s:
            discover(s, "helpdesk", "case.id")

    cold_ms = median_ms(cold, runs)
    warm_ms = median_ms(warm, runs)
    with db.sessions() as s:
        found = discover(s, "helpdesk", "case.id", top_variants=1000)
    print(f"  discovery cold (computed): {cold_ms:,.0f} ms median of {runs}")
    print(f"  discovery warm (kept until new events): {warm_ms:,.1f} ms median of {runs}")
    baseline = pm4py_baseline(path, runs)
    if baseline is None:
        print("  pm4py: not installed (pip install pm4py into the venv to compare)")
        return
    pm_ms = statistics.median(baseline["times"]) * 1000
    ours = sorted([e.source, e.target, e.count] for e in found.edges)
    same = baseline["variants"] == found.variants and baseline["dfg"] == ours
    print(
        f"  pm4py variants + DFG in memory (baseline): {pm_ms:,.0f} ms median of {runs}; "
        f"counts {'identical' if same else 'DIFFER'} ({found.variants} variants, "
        f"{len(ours)} edges)"
    )
    print(
        f"  ratio to pm4py: cold {cold_ms / pm_ms:.2f} (target <= 1: "
        f"{'met' if cold_ms <= pm_ms else 'MISSED'}), warm {warm_ms / pm_ms:.4f}"
    )


def bench_explorer(db: Database, url: str, events: int, runs: int) -> None:
    with db.engine.begin() as conn:
        have = conn.execute(text("select count(*) from events")).scalar_one()
        for first in range(have + 1, events + 1, 500_000):
            last = min(events, first + 499_999)
            conn.execute(text(FILL), {"first": first, "last": last})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("vacuum analyze events"))
        total = conn.execute(text("select count(*) from events")).scalar_one()
    with db.engine.connect() as conn:
        old_ms = median_ms(lambda: conn.execute(text(OLD_COUNTS)).all(), runs)
    settings = Settings(env="test", database_url=url, bootstrap_admin=False, log_format="text",
                        log_level="WARNING", scheduler_enabled=False)  # fmt: skip
    name = f"bench-{secrets.token_hex(3)}"
    with db.sessions.begin() as s:
        auth_service.create_user(s, name, "bench password 123", Role.viewer)
    with TestClient(create_app(settings, database=db)) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"username": name, "password": "bench password 123",
                                    "csrf_token": token})  # fmt: skip
        print(f"  explorer at {total:,} events; old count(*) group by: {old_ms:,.0f} ms")
        one_type = "/events?window=all&provider=shop.p1&type=type.3"
        # The fill's seq runs against its time (the newest events were stored first), as for
        # a log imported after live events: the case a walk in seq order reads the table for.
        older = client.get("/events").text.split('class="older" href="')[1].split('"')[0]
        for label, path in (
            ("/events (last 24 h)", "/events"),
            ("/events, next page (last 24 h)", html.unescape(older)),
            ("/events?window=all", "/events?window=all"),
            ("/events, one provider, last 24 h", "/events?provider=shop.p1"),
            ("/events, one provider and type, all time", one_type),
        ):
            first = client.get(path)
            assert first.status_code == 200, first.text[:300]  # noqa: S101
            ms = median_ms(lambda p=path: client.get(p), runs)
            print(
                f"  {label}: {ms:,.0f} ms median of {runs}, {len(first.content) / 1000:.0f} KB "
                f"(target < 100 ms: {'met' if ms < 100 else 'MISSED'}; "
                f"{ms / old_ms:.2f}x the old count alone)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=12, help="help desk log copies (12)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (3)")
    parser.add_argument("--explorer-events", type=int, default=2_000_000)
    parser.add_argument("--parts", default="discovery,explorer", help="discovery,explorer")
    args = parser.parse_args()
    admin = normalise_dsn(os.environ.get("FLOWSCOPE_BENCH_DATABASE_URL", LOCAL_SERVER))
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    log = Path(tempfile.mkdtemp(prefix="flowscope-bench-discover-")) / "log.xes.gz"
    try:
        upgrade_database(url)
        db_engine = make_engine(url)
        db = Database(url=url, engine=db_engine, sessions=make_sessionmaker(db_engine))
        parts = set(args.parts.split(","))
        print(f"discover bench: {os.cpu_count()} cores, load average {os.getloadavg()}")
        if "discovery" in parts:
            cases, events = synthetic_xes(log, args.copies)
            print(f"  log: {args.copies} help desk log copies, {cases:,} cases, {events:,} events")
            bench_discovery(db, log, args.runs)
        if "explorer" in parts:
            bench_explorer(db, url, args.explorer_events, args.runs)
        print(f"  load average after: {os.getloadavg()}  ({datetime.now(UTC):%H:%M} UTC)")
        db_engine.dispose()
        return 0
    finally:
        log.unlink(missing_ok=True)  # not written when only the explorer runs
        log.parent.rmdir()
        with engine.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
