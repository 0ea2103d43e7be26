"""FQL benchmark: the lab's five queries against hand-written SQL on the same data, same run.

Run by hand: `.venv/bin/python bench/query.py [--orders 900000] [--runs 7]`. CI does not run it.
It creates its own database on the local PostgreSQL (or FLOWSCOPE_BENCH_DATABASE_URL's server),
fills `events` with `insert … select generate_series` (about 2.2 events per order: 950,000
orders make about 2.08 M events over 25 hours), and for each lab query prints:

  compile   text → SQL: the first time this process sees the text (one measurement: what a
            new tile or notebook query pays), then p50 of cold (parse + compile) and of warm
            (with the parsed AST cached)
  fql       p50 of the whole `run_query` (compile, read-only savepoint, execute, shape rows)
  sql       p50 of the equivalent hand-written SQL, executed on the same connection
            (runs alternate between the two, so load from elsewhere hits both alike)
  ratio     fql / sql

and checks that both give the same answer. The database is dropped at the end.
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
from sqlalchemy import make_url

from flowscope.db import Database, make_engine, make_sessionmaker, upgrade_database
from flowscope.query.compiler import compile_query
from flowscope.query.parser import parse, parse_cached
from flowscope.query.service import compile_text, run_query
from flowscope.query.timeframe import caller_timeframe
from flowscope.settings import normalise_dsn

LOCAL_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROVIDER = "shop.checkout.v001"
NOW = datetime.now(UTC).replace(microsecond=0)

FILL = """
insert into events (provider, event_id, type, "timestamp", attributes)
select provider, 'O' || o || '-' || step, type, ts, attrs from (
  select
    case when o %% 10 = 0 then 'crm.sync' else %(provider)s end as provider, o, s.step,
    case s.step when 1 then 'order.placed'
      when 2 then case when o %% 11 = 0 then 'payment.failed' else 'payment.succeeded' end
      else case when o %% 7 = 0 then 'order.shipped.error' else 'order.shipped' end
    end as type,
    %(now)s::timestamptz - make_interval(secs => o * 90000.0 / %(orders)s)
      + make_interval(secs => case s.step when 1 then 0
          when 2 then 60 + (o * 37) %% 5400
          else 60 + (o * 37) %% 5400 + 1800 + (o * 53) %% 16200 end) as ts,
    jsonb_build_object('orderId', 'O' || o, 'revenue', (o %% 500) + 0.5,
      'loyalty', jsonb_build_object('tier', (array['gold', 'silver', 'bronze'])[o %% 3 + 1]))
      as attrs
  from generate_series(1, %(orders)s) as o
  cross join generate_series(1, 3) as s(step)
  where s.step = 1 or (s.step = 2 and o %% 5 <> 0)
     or (s.step = 3 and o %% 5 <> 0 and o %% 11 <> 0 and o %% 3 <> 0)
) as x
where ts < %(now)s
"""

LAB: dict[str, str] = {
    "validate": f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| summarize count(), by: {{event.provider, event.type}}""",
    "time between steps": f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| filter event.type == "order.placed" or event.type == "payment.succeeded"
| summarize firstTime = takeMin(timestamp), secondTime = takeMax(timestamp), by:{{orderId }}
| filterOut isNull(firstTime) or isNull(secondTime)
| fieldsAdd duration = secondTime - firstTime
| summarize averageTime = avg(duration)""",
    "success rate": f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| filter startsWith(event.type, "order.shipped")
| summarize total = count(), success = countIf(event.type == "order.shipped")
| fieldsAdd percentage = toDouble(success) / toDouble(total) * 100""",
    "previous time": f"""fetch bizevents, from: -1h
| filter event.provider == "{PROVIDER}" and event.type == "order.placed"
| summarize valueNow= count(), by:{{event.type}}
| lookup [fetch bizevents, from: -24h, to:-23h | filter event.provider == "{PROVIDER}" and event.type == "order.placed" | summarize previousValue = count(), by:{{event.type}} ], sourceField:event.type, lookupField:event.type
| fieldsAdd percentageChange = ((toDouble(lookup.previousValue) - toDouble(valueNow)) / toDouble(valueNow)) * 100""",  # noqa: E501
    "lost items": f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| filter event.type == "order.placed" or event.type == "order.shipped"
| summarize firstCount = countIf(event.type == "order.placed"), secondCount = countIf(event.type == "order.shipped"), firstTime = takeFirst(timestamp), by:{{orderId }}
| fieldsAdd timeSinceFirstStep = (now() - firstTime)
| filter secondCount == 0 and timeSinceFirstStep > toDuration(7200000000000) //Time in nanoseconds
| makeTimeseries `Lost flows` = count(), time: firstTime, bins:50
| fieldsAdd totalLostFlows = arraySum(`Lost flows`)""",  # noqa: E501
    # beyond the lab: a join, a subquery filter and a DPL parse (issue 12)
    "join paid": f"""fetch bizevents
| filter event.provider == "{PROVIDER}" and event.type == "order.placed"
| join [fetch bizevents | filter event.provider == "{PROVIDER}" and event.type == "payment.succeeded" | fields orderId, paid = timestamp], on: {{orderId}}, fields: {{paid}}
| summarize wait = avg(right.paid - timestamp)""",  # noqa: E501
    "in subquery": f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| filter orderId in [fetch bizevents | filter event.provider == "{PROVIDER}" and event.type == "payment.failed" | fields orderId]
| summarize n = count()""",  # noqa: E501
    "parse": f"""fetch bizevents
| filter event.provider == "{PROVIDER}"
| parse event.id, "'O' INT:order '-' INT:step"
| summarize steps = sum(step), orders = countDistinct(order)""",
}

_RANGE = '"timestamp" >= %(start)s and "timestamp" < %(end)s and provider = %(p)s'
BASELINE: dict[str, str] = {
    "validate": f"select provider, type, count(*) from events where {_RANGE} group by 1, 2",
    "time between steps": f"""
        select avg(d) from (
          select (extract(epoch from max("timestamp") - min("timestamp")) * 1e9)::bigint as d
          from events where {_RANGE} and type in ('order.placed', 'payment.succeeded')
          group by attributes ->> 'orderId') as g""",
    "success rate": f"""
        select count(*), count(*) filter (where type = 'order.shipped'),
               count(*) filter (where type = 'order.shipped')::float / count(*) * 100
        from events where {_RANGE} and starts_with(type, 'order.shipped')""",
    "previous time": """
        select n.c, p.c, (p.c - n.c)::float / n.c * 100
        from (select type, count(*) as c from events
              where "timestamp" >= %(end)s - interval '1 hour' and "timestamp" < %(end)s
                and provider = %(p)s and type = 'order.placed' group by type) as n
        left join (select type, count(*) as c from events
              where "timestamp" >= %(end)s - interval '24 hours'
                and "timestamp" < %(end)s - interval '23 hours'
                and provider = %(p)s and type = 'order.placed' group by type) as p using (type)""",
    "lost items": f"""
        with g as (
          select count(*) filter (where type = 'order.shipped') as second,
                 min("timestamp") as first
          from events where {_RANGE} and type in ('order.placed', 'order.shipped')
          group by attributes ->> 'orderId'),
        lost as (
          select floor(extract(epoch from first - date_bin('30 minutes', %(start)s, 'epoch'))
                       / 1800)::int as bin
          from g where second = 0 and %(end)s - first > interval '2 hours')
        select sum(n) from (
          select count(*) as n from lost where bin >= 0 group by bin) as per_bin""",
    "join paid": f"""
        select avg(extract(epoch from s."timestamp" - p."timestamp") * 1e9)
        from events p join events s
          on s.attributes ->> 'orderId' = p.attributes ->> 'orderId'
         and s."timestamp" >= %(start)s and s."timestamp" < %(end)s and s.provider = %(p)s
         and s.type = 'payment.succeeded'
        where {_RANGE.replace('"timestamp"', 'p."timestamp"').replace("provider", "p.provider")}
          and p.type = 'order.placed'""",
    "in subquery": f"""
        select count(*) from events where {_RANGE} and attributes ->> 'orderId' in (
          select attributes ->> 'orderId' from events
          where {_RANGE} and type = 'payment.failed')""",
    "parse": f"""
        select sum((m[2])::float8), count(distinct (m[1])::float8)
        from events, regexp_match(event_id, '^O(\\d+)-(\\d+)') as m
        where {_RANGE}""",
}


def p50(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def create_database(server: str) -> str:
    name = f"flowscope_bench_query_{secrets.token_hex(3)}"
    with psycopg.connect(_plain(server), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(server: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_plain(server), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def fill(url: str, orders: int) -> int:
    started = time.perf_counter()
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        params = {"provider": PROVIDER, "now": NOW, "orders": orders}
        conn.execute(FILL, params)  # type: ignore[arg-type]
        conn.execute("vacuum analyze events")
        row = conn.execute("select count(*) from events").fetchone()
    count = int(row[0]) if row else 0
    print(f"filled {count:,} events in {time.perf_counter() - started:.1f} s")
    return count


def compile_times(text: str, runs: int = 300) -> tuple[float, float, float]:
    timeframe = caller_timeframe("-24h", None, NOW)
    started = time.perf_counter()
    compile_text(text, time_from="-24h", now=NOW)  # the first sight of this text
    first = (time.perf_counter() - started) * 1000

    def cold() -> None:
        compile_query(parse(text), timeframe, NOW, 10_000)

    def warm() -> None:
        compile_text(text, time_from="-24h", now=NOW)

    parse_cached(text)
    return first, p50(cold, runs)[0], p50(warm, runs)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=950_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    server = normalise_dsn(os.environ.get("FLOWSCOPE_BENCH_DATABASE_URL", LOCAL_SERVER))
    url = create_database(server)
    try:
        upgrade_database(url)
        fill(url, args.orders)
        engine = make_engine(url, pool_size=2)
        db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
        bench(db, args.runs)
        engine.dispose()
    finally:
        drop_database(server, url)


def load() -> str:
    """The load average: other work on the machine slows both sides; compare the ratios."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def bench(db: Database, runs: int) -> None:
    params = {"start": NOW - timedelta(hours=24), "end": NOW, "p": PROVIDER}
    print(f"before: {load()}")
    header = f"{'query':<20} {'first ms':>8} {'cold ms':>8} {'warm ms':>8} {'fql ms':>9}"
    header += f" {'sql ms':>9} {'ratio':>6}"
    header += "  check"
    print(header)
    print("-" * len(header))
    with db.sessions() as session:
        driver = session.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        for name, text in LAB.items():
            first, cold, warm = compile_times(text)

            def fql(text: str = text) -> Any:
                return run_query(session, text, time_from="-24h", now=NOW, timeout_s=120)

            def sql(name: str = name) -> Any:
                with driver.cursor() as cur:
                    cur.execute(BASELINE[name], params)  # type: ignore[arg-type]
                    return cur.fetchall()

            fql()  # warm the caches of both, once
            sql()
            # alternate the two, so that load from elsewhere on the machine hits both alike
            fql_times, sql_times = [], []
            for _ in range(runs):
                fql_times.append(p50(fql, 1)[0])
                sql_times.append(p50(sql, 1)[0])
            fql_ms, sql_ms = statistics.median(fql_times), statistics.median(sql_times)
            result, expected = fql(), sql()
            check = agree(name, result.rows, expected)
            print(
                f"{name:<20} {first:>8.3f} {cold:>8.3f} {warm:>8.3f} {fql_ms:>9.1f} {sql_ms:>9.1f} "
                f"{fql_ms / sql_ms:>6.2f}  {check}"
            )
    print(f"after: {load()}")


def agree(name: str, rows: list[list[Any]], expected: list[tuple[Any, ...]]) -> str:
    """Same answer from FQL and the hand-written SQL (the shapes differ a little)."""
    if name == "validate":
        ok = sorted(map(tuple, rows)) == sorted(expected)
    elif name == "time between steps":
        ok = abs(float(rows[0][0]) - float(expected[0][0])) < 1e-6 * float(expected[0][0])
    elif name == "success rate":
        ok = rows[0][:2] == list(expected[0][:2])
    elif name == "previous time":
        ok = rows[0][1] == expected[0][0] and rows[0][3] == expected[0][1]
    elif name == "join paid":
        ok = abs(float(rows[0][0]) - float(expected[0][0])) < 1e-6 * float(expected[0][0])
    elif name in ("in subquery", "parse"):
        ok = [float(v) for v in rows[0]] == [float(v) for v in expected[0]]
    else:
        ok = rows[0][-1] == expected[0][0]
    return "same answer" if ok else f"DIFFERENT: {rows[:1]} vs {expected[:1]}"


if __name__ == "__main__":
    main()
