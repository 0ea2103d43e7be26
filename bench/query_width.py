"""What a few events with many unique attribute keys cost `fetch bizevents` over the API.

Run by hand: `.venv/bin/python bench/query_width.py [--events 300] [--keys 300]`. CI does not
run it. It creates its own database on the local PostgreSQL (or on the server named by
FLOWSCOPE_BENCH_DATABASE_URL), stores `events` events that each carry `keys` attribute keys
no other event has, then in a fresh process runs POST /api/v1/query `fetch bizevents` through
the app (TestClient, the real routes and response model) and prints the answer's size, its
duration and the process's peak RSS before and after the request. The database is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import admin_conninfo, to_url, with_database  # noqa: E402


def peak_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so
    a child would report the parent's peak (the planting) as its own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(url: str, token: str) -> None:
    from fastapi.testclient import TestClient

    from flowscope.app import create_app
    from flowscope.settings import Settings

    settings = Settings(database_url=url, scheduler_enabled=False, bootstrap_admin=False)
    headers = {"Authorization": f"Api-Token {token}"}
    with TestClient(create_app(settings)) as client:
        warm = client.post(
            "/api/v1/query", json={"query": "fetch bizevents | limit 1"}, headers=headers
        )
        warm.raise_for_status()
        before = peak_mib()
        started = time.perf_counter()
        response = client.post("/api/v1/query", json={"query": "fetch bizevents"}, headers=headers)
        took = time.perf_counter() - started
        body = response.content
        columns = len(response.json().get("columns", [])) if response.status_code == 200 else 0
    print(
        json.dumps(
            {
                "status": response.status_code,
                "bytes": len(body),
                "columns": columns,
                "seconds": round(took, 2),
                "peak_before_mib": round(before),
                "peak_after_mib": round(peak_mib()),
            }
        )
    )


def plant(url: str, events: int, keys: int) -> str:
    from flowscope.auth import service as auth_service
    from flowscope.db import make_engine, make_sessionmaker, upgrade_database
    from flowscope.ingest.schemas import NewEvent
    from flowscope.ingest.service import store_events

    upgrade_database(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    planted = [
        NewEvent(
            "planted",
            f"e{i}",
            "odd",
            now - timedelta(minutes=i % 60),
            {f"k{i:04d}_{j:04d}": f"v{j}" for j in range(keys)},
        )
        for i in range(events)
    ]
    size = sum(len(json.dumps(e.attributes)) for e in planted)
    print(f"planted {events} events x {keys} unique keys: {size / 1e6:.2f} MB of attributes")
    with make_sessionmaker(engine).begin() as session:
        store_events(session, planted)
        _, secret = auth_service.create_token(session, "bench", ["events:read"])
    engine.dispose()
    return secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--child", nargs=2, metavar=("URL", "TOKEN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    admin = admin_conninfo()
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        url = to_url(with_database(admin, name))
        token = plant(url, args.events, args.keys)
        out = subprocess.run(
            [sys.executable, __file__, "--child", url, token],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        ).stdout
        print(out.strip().splitlines()[-1])
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
