"""Alert evaluator benchmark (run by hand): database time of one tick of many rules.

    .venv/bin/python bench/alerts.py [--events 2000000] [--flows 20] [--rules 1000]

Data: `--flows` copies of the retail generator template (each its own provider, flow and
seed), events from the generator engine over the days needed to reach `--events`, stored,
correlated. Rules: `--rules` spread evenly over the flows, interval 60 s, a mix of KPIs
(flow and step) and analyzers (static, adaptive over a day of samples, seasonal over 3 days,
missing data).

Measured (database time = the sum of every statement's execution time, from SQLAlchemy's
cursor events, on the evaluator's connection):
1. one tick of every rule as the evaluator runs it: one series query per flow and interval;
2. baseline, same run: `--baseline-rules` rules evaluated one by one, as an evaluator without
   sharing would (one series query per rule), scaled to `--rules`.
Prints database time per tick against the 60 s interval (target < 10 %) and the ratio
shared / unshared.

Uses FLOWSCOPE_BENCH_DATABASE_URL, else a new database on 127.0.0.1:5432 (dropped at the end).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from correlate import open_bench_database
from sqlalchemy import event, select, text

from flowscope.alerts import service
from flowscope.alerts.evaluator import evaluate_due
from flowscope.alerts.models import AlertRule
from flowscope.alerts.schemas import FLOW_KPIS, RuleIn
from flowscope.db import Database, transaction
from flowscope.flows.correlation.correlator import correlate
from flowscope.flows.definitions.service import save_flow
from flowscope.generator.engine import flows_in_window
from flowscope.generator.flowdef import flow_definition
from flowscope.generator.service import get_template, parse_config
from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

INTERVAL = 60


def load(db: Database, flows: int, events: int, now: datetime) -> tuple[list[str], int]:
    """Generate and store about `events` events for `flows` flows; their slugs and the count."""
    base = parse_config(get_template("retail").source)
    per_flow = events / flows
    # the retail template gives about 3.8 events per hour per unit of volume (its time of day
    # and drop rates, measured): 4 days (the seasonal rules look 3 back) at the volume that
    # fills the target
    days = 4
    volume = max(1.0, per_flow / (days * 24 * 3.8))
    stored = 0
    slugs = []
    for n in range(flows):
        config = base.model_copy(
            update={
                "name": f"Orders {n:02d}",
                "slug": f"orders-{n:02d}",
                "provider": f"bench.orders{n:02d}",
                "id_prefix": f"B{n:02d}",
                "seed": 1000 + n,
                "volume": volume,
            }
        )
        definition = flow_definition(config)
        with transaction(db.sessions) as session:
            save_flow(session, definition, "bench")
        slugs.append(definition.slug)
        batch: list[NewEvent] = []
        for flow in flows_in_window(config, now - timedelta(days=days), now):
            for e in flow:
                if e.timestamp <= now:
                    batch.append(
                        NewEvent(e.provider, e.event_id, e.type, e.timestamp, e.attributes)
                    )
            if len(batch) >= 20_000:
                stored += _store(db, batch)
                batch = []
        stored += _store(db, batch)
        print(f"  stored {stored:,} events ({n + 1} of {flows} flows)", end="\r", flush=True)
    print()
    return slugs, stored


def _store(db: Database, batch: list[NewEvent]) -> int:
    if batch:
        with transaction(db.sessions) as session:
            store_events(session, batch)
    return len(batch)


def correlate_all(db: Database) -> None:
    while True:
        with transaction(db.sessions) as session:
            read = correlate(session, batch_size=20_000, backfill_batches=5)
        with db.sessions() as session:
            building = session.scalar(
                text("select count(*) from flow_builds where state = 'building'")
            )
        if not read and not building:
            break
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("flow_instances", "flow_instance_steps", "flow_transitions", "flow_events"):
            conn.execute(text(f"vacuum analyze {table}"))


def rule_specs(slugs: list[str], count: int, steps: dict[str, list[str]]) -> list[RuleIn]:
    rnd = random.Random(7)  # noqa: S311 - a benchmark's mix, not security
    analyzers: list[dict[str, Any]] = [
        {"type": "static", "condition": "above", "threshold": 50},
        {"type": "static", "condition": "below", "threshold": 1},
        {"type": "adaptive", "window": 1440},
        {"type": "seasonal", "period": "day", "seasons": 3},
        {"type": "missing_data", "intervals": 5},
    ]
    specs = []
    for n in range(count):
        slug = slugs[n % len(slugs)]
        if n % 5 == 4:
            source = {
                "flow": slug,
                "kpi": rnd.choice(["reached", "exceptions", "dropped"]),
                "step": rnd.choice(steps[slug]),
            }
        else:
            source = {"flow": slug, "kpi": rnd.choice(FLOW_KPIS)}
        specs.append(
            RuleIn.model_validate(
                {
                    "name": f"rule {n}",
                    "source": source,
                    "analyzer": analyzers[n % len(analyzers)],
                    "interval_seconds": INTERVAL,
                }
            )
        )
    return specs


class DbClock:
    """Sums the execution time of every statement on the engine."""

    def __init__(self, db: Database) -> None:
        self.total = 0.0
        self.statements = 0
        event.listen(db.engine, "before_cursor_execute", self._before)
        event.listen(db.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, *_: Any) -> None:
        self.total += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        self.statements += 1

    def reset(self) -> None:
        self.total, self.statements = 0.0, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--baseline-rules", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    now = datetime.now(UTC).replace(microsecond=0)
    with open_bench_database() as db:
        started = time.perf_counter()
        slugs, stored = load(db, args.flows, args.events, now)
        print(f"  {stored:,} events in {time.perf_counter() - started:.0f} s; correlating…")
        started = time.perf_counter()
        correlate_all(db)
        with db.sessions() as session:
            instances = session.scalar(text("select count(*) from flow_instances"))
        print(f"  {instances:,} flow instances in {time.perf_counter() - started:.0f} s")
        with db.sessions() as session:
            steps = {
                slug: [s["key"] for s in d["steps"]]
                for slug, d in session.execute(text("select slug, definition from flows"))
            }
        with transaction(db.sessions) as session:
            for spec in rule_specs(slugs, args.rules, steps):
                service.create_rule(session, spec, "bench", 1, now=now)
        with db.sessions() as session:
            ids = list(session.scalars(select(AlertRule.id).order_by(AlertRule.id)))
        clock = DbClock(db)
        shared = []
        for tick in range(args.ticks):
            clock.reset()
            wall = time.perf_counter()
            with transaction(db.sessions) as session:
                report = evaluate_due(session, (), now + timedelta(seconds=tick), rule_ids=ids)
            wall = time.perf_counter() - wall
            shared.append(clock.total)
            print(
                f"  tick {tick + 1}: {report.evaluated} rules, {report.series_queries} series "
                f"queries, {clock.statements} statements, database {clock.total:.2f} s, "
                f"wall {wall:.2f} s, opened {report.opened}, errors {report.errors}"
            )
        sample = ids[: args.baseline_rules]
        clock.reset()
        wall = time.perf_counter()
        for rule_id in sample:
            with transaction(db.sessions) as session:
                evaluate_due(session, (), now, rule_ids=[rule_id])
        wall = time.perf_counter() - wall
        unshared = clock.total * len(ids) / len(sample)
        print(
            f"  baseline, one series query per rule: {len(sample)} rules took database "
            f"{clock.total:.2f} s (wall {wall:.2f} s): {unshared:.1f} s for {len(ids)} rules"
        )
        best = min(shared)
        print(
            f"\n{len(ids)} rules on {args.flows} flows, {stored:,} events: database time per tick "
            f"{best:.2f} s = {100 * best / INTERVAL:.1f} % of the {INTERVAL} s interval "
            f"(target < 10 %: {'met' if best < 0.1 * INTERVAL else 'MISSED'}); "
            f"unshared {unshared:.1f} s; shared / unshared = {best / unshared:.3f}"
        )
        print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
