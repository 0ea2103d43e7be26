"""Flow editor queries on a larger `events` table, against plain SQL baselines in the same run.

Run by hand: `.venv/bin/python bench/editor.py [--events 1000000] [--runs 5]`. CI does not run it.
It creates its own database on the local PostgreSQL (or FLOWSCOPE_BENCH_DATABASE_URL's server),
fills `events` with `insert … select generate_series` (4 providers × 6 types, 60 days), and
prints the p50 of each editor query next to its baseline:

  providers   loose index scan          vs  select distinct provider from events
  types       loose index scan          vs  select distinct type … where provider = …
  paths       per-type sample           vs  select attributes … limit 200
  preview     30-day matcher counts     vs  count(*), count(distinct order id) of the same events

The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import make_url, text

from flowscope.db import make_engine, make_sessionmaker, upgrade_database
from flowscope.flows.definitions import preview
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.settings import normalise_dsn

LOCAL_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime.now(UTC).replace(microsecond=0)
FILL = """
insert into events (provider, event_id, type, "timestamp", attributes)
select 'shop.p' || (n %% 4), 'e' || n, 'type.' || ((n / 4) %% 6),
       %(now)s - (n %% 5184000) * interval '1 second',
       jsonb_build_object('order', jsonb_build_object('id', 'o' || (n / 24)),
                          'amount', n %% 1000, 'customer', jsonb_build_object('tier', n %% 3))
from generate_series(1, %(events)s) n
"""


def p50(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    server = normalise_dsn(os.environ.get("FLOWSCOPE_BENCH_DATABASE_URL", LOCAL_SERVER))
    name = f"flowscope_bench_editor_{secrets.token_hex(3)}"
    with psycopg.connect(_plain(server), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(url)
        with psycopg.connect(_plain(url), autocommit=True) as conn:
            conn.execute(FILL, {"now": NOW, "events": args.events})  # type: ignore[arg-type]
            conn.execute("vacuum analyze events")
        engine = make_engine(url, pool_size=2)
        with make_sessionmaker(engine)() as session:
            bench(session, args.runs, args.events)
        engine.dispose()
    finally:
        with psycopg.connect(_plain(server), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def bench(session: Any, runs: int, events: int) -> None:
    flow = FlowDefinition.model_validate(
        {
            "slug": "b",
            "name": "b",
            "providers": ["shop.p1", "shop.p2"],
            "correlation": "order.id",
            "steps": [
                {"key": f"s{i}", "name": f"s{i}", "events": [{"type": f"type.{i}"}]}
                for i in range(6)
            ],
        }
    )
    since = NOW - timedelta(days=30)

    def sql(query: str, **params: Any) -> Callable[[], Any]:
        return lambda: session.execute(text(query), params).all()

    cases = [
        (
            "providers",
            lambda: preview.providers_seen(session),
            sql("select distinct provider from events"),
        ),
        (
            "types",
            lambda: preview.event_types_seen(session, ["shop.p1"]),
            sql("select distinct type from events where provider = 'shop.p1'"),
        ),
        (
            "paths",
            lambda: preview.attribute_paths(session, "shop.p1"),
            sql("select attributes from events where provider = 'shop.p1' limit 200"),
        ),
        (
            "preview",
            lambda: preview.preview(session, flow),
            sql(
                "select count(*), count(distinct attributes #>> '{order,id}') from events "
                "where provider in ('shop.p1', 'shop.p2') and timestamp >= :since",
                since=since,
            ),
        ),
    ]
    print(f"{events:,} events; p50 of {runs} runs (ms)")
    print(f"{'query':<10} {'editor':>10} {'baseline':>10} {'ratio':>7}")
    for label, ours, baseline in cases:
        ours()
        baseline()  # warm both
        a, b = p50(ours, runs), p50(baseline, runs)
        print(f"{label:<10} {a:>10.1f} {b:>10.1f} {a / b:>7.2f}")
    found = preview.preview(session, flow)
    print(f"preview: {found.events:,} events, {found.flows:,} flows in 30 days")


if __name__ == "__main__":
    main()
