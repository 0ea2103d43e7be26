"""Scale-out benchmark (run by hand): the same workload on plain PostgreSQL and on Citus.

    .venv/bin/python bench/scale.py                    # defaults: 4,000 orders (20,000 events)
    .venv/bin/python bench/scale.py --orders 1000      # quicker

One run measures both engines, one after the other, on new databases: plain PostgreSQL on
127.0.0.1:5432 (the baseline; FLOWSCOPE_BENCH_SERVER) and the Citus test cluster, coordinator
:9700 + workers :9701 :9702 (`../shared/citus/cluster.sh start`; FLOWSCOPE_TEST_CITUS_URL).
The workload, identical on both:

  ingest     5 events per order in 500-event batches, each its own transaction, from 4
             threads (the ingest service's statement): events/s and p50 ms per batch
  correlate  the correlator from scratch over everything stored: events/s
  analysis   the flow page's JSON (KPIs, steps, transitions for a day): p50 ms
  instances  a drill-down page of 50 instances: p50 ms
  timeline   one instance's events (the two-step read on Citus): p50 ms
  query      an FQL aggregation over the events: p50 ms

Ratios are Citus / PostgreSQL (times) or PostgreSQL / Citus (rates): above 1 means Citus is
slower. All of it on the same 2-core machine, so the cluster's three servers share the cores
the single server has alone: the ratios show the overhead of distribution, not its scaling
(README, "Scaling out"). The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.citus import (  # noqa: E402
    cluster_answers,
    create_citus_database,
    drop_citus_database,
)

from flowscope.app import create_app  # noqa: E402
from flowscope.auth import service as auth_service  # noqa: E402
from flowscope.db import (  # noqa: E402
    Database,
    make_engine,
    make_sessionmaker,
    transaction,
    upgrade_database,  # noqa: E402
)
from flowscope.flows.correlation.correlator import correlate  # noqa: E402
from flowscope.flows.definitions.schemas import FlowDefinition  # noqa: E402
from flowscope.flows.definitions.service import save_flow  # noqa: E402
from flowscope.ingest.schemas import NewEvent  # noqa: E402
from flowscope.ingest.service import store_events  # noqa: E402
from flowscope.settings import Settings  # noqa: E402

SERVER = os.environ.get(
    "FLOWSCOPE_BENCH_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
STEPS = ["order.placed", "payment.captured", "parcel.shipped", "parcel.delivered", "order.closed"]
T0 = datetime(2026, 11, 1, 8, tzinfo=UTC)
BATCH = 500
THREADS = 4
RUNS = 15


def definition() -> FlowDefinition:
    return FlowDefinition.model_validate(
        {
            "slug": "bench",
            "name": "Bench",
            "providers": ["shop"],
            "correlation": "order.id",
            "revenue": {"field": "order.total", "step": "order_placed"},
            "steps": [
                {"key": t.replace(".", "_"), "name": t, "events": [{"type": t}]} for t in STEPS
            ],
        }
    )


def events(orders: int) -> list[NewEvent]:
    out = []
    for i in range(orders):
        for step, type_ in enumerate(STEPS[: 2 + i % 4]):  # a mix of complete and open flows
            out.append(
                NewEvent(
                    provider="shop",
                    event_id=f"o{i}-{step}",
                    type=type_,
                    timestamp=T0 + timedelta(seconds=i * 10 + step * 300),
                    attributes={"order": {"id": f"o{i}", "total": 10 + i % 90}},
                )
            )
    return out


def p50(fn: Callable[[], Any], runs: int = RUNS) -> float:
    fn()  # warm caches and plans
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def ingest(db: Database, stored: list[NewEvent]) -> tuple[float, float]:
    batches = [stored[i : i + BATCH] for i in range(0, len(stored), BATCH)]
    times: list[float] = []
    lock = threading.Lock()

    def work(mine: list[list[NewEvent]]) -> None:
        for batch in mine:
            start = time.perf_counter()
            with transaction(db.sessions) as session:
                store_events(session, batch)
            with lock:
                times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=work, args=(batches[n::THREADS],)) for n in range(THREADS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return len(stored) / elapsed, statistics.median(times) * 1000


def correlation(db: Database, total: int) -> float:
    start = time.perf_counter()
    read = 0
    while read < total:
        with transaction(db.sessions) as session:
            done = correlate(session, backfill_batches=1000)
        read += done
        if not done:
            time.sleep(0.05)
    return total / (time.perf_counter() - start)


def measure(url: str, orders: int) -> dict[str, float]:
    engine = make_engine(url, pool_size=THREADS + 2)
    db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
    try:
        with transaction(db.sessions) as session:
            save_flow(session, definition(), "bench")
            _, token = auth_service.create_token(session, "bench", ("events:read",))
        with transaction(db.sessions) as session:
            correlate(session)  # the flow's build: it follows what is ingested from now on
        stored = events(orders)
        rate, batch_ms = ingest(db, stored)
        figures = {"ingest events/s": rate, "ingest ms/batch": batch_ms}
        figures["correlate events/s"] = correlation(db, len(stored))
        # as autovacuum would by now: on fresh tables without statistics the plain server's
        # analysis query picked a plan that took ~30 s at 4,000 orders (Citus' did not)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("analyze"))
        settings = Settings(
            env="test", database_url=url, bootstrap_admin=False, scheduler_enabled=False
        )
        app = create_app(settings, database=db)
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Api-Token {token}"
            day = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}

            def get(path: str, **params: Any) -> None:
                response = client.get(path, params=params)
                assert response.status_code == 200, response.text

            def query() -> None:
                fql = "fetch bizevents | summarize n = count(), by: {event.type}"
                body = {"query": fql, "from": "2026-10-31T00:00:00Z", "to": "2026-11-30T00:00:00Z"}
                response = client.post("/api/v1/query", json=body)
                assert response.status_code == 200, response.text

            base = "/api/v1/flows/bench"
            figures["analysis p50 ms"] = p50(lambda: get(f"{base}/analysis", **day))
            figures["instances p50 ms"] = p50(lambda: get(f"{base}/instances", limit=50, **day))
            figures["timeline p50 ms"] = p50(lambda: get(f"{base}/instances/o7"))
            figures["query p50 ms"] = p50(query)
        return figures
    finally:
        engine.dispose()


def plain_database() -> str:
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    admin.dispose()
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


def drop_plain(url: str) -> None:
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'drop database if exists "{make_url(url).database}" with (force)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=4000)
    args = parser.parse_args()
    if not cluster_answers():
        # `make bench` runs every script: without a cluster this one has nothing to compare
        print("skipped: no Citus cluster on 127.0.0.1:9700 (../shared/citus/cluster.sh start)")  # noqa: T201
        return
    results: dict[str, dict[str, float]] = {}
    plain = plain_database()
    try:
        upgrade_database(plain)
        results["postgres"] = measure(plain, args.orders)
    finally:
        drop_plain(plain)
    citus = create_citus_database()
    try:
        upgrade_database(citus)
        results["citus"] = measure(citus, args.orders)
    finally:
        drop_citus_database(citus)
    print(f"{args.orders} orders, {len(events(args.orders))} events")  # noqa: T201
    print(f"{'':22} {'postgres':>10} {'citus 1+2':>10} {'ratio':>7}")  # noqa: T201
    for name, value in results["postgres"].items():
        other = results["citus"][name]
        ratio = value / other if name.endswith("/s") else other / value
        print(f"{name:22} {value:10.1f} {other:10.1f} {ratio:7.2f}")  # noqa: T201
    print("ratio above 1: Citus slower (time ratio citus/postgres, rate ratio postgres/citus)")  # noqa: T201
    print(f"load average: {os.getloadavg()}")  # noqa: T201


if __name__ == "__main__":
    main()
