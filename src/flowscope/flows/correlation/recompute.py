"""Recompute flow instances from their memberships, set-based inside PostgreSQL.

One statement per build and batch derives, for every touched instance, the instance row, its
per-step rows and its transitions from *all* its memberships (`flow_events`), ordered by
(timestamp, seq) so ties in time keep ingest order. The result depends only on the set of
memberships: arrival order, batching and duplicates do not matter.

Memberships only ever grow within a build, so steps and transitions never disappear: they are
upserted, only the ones the new memberships can change are recomputed (the steps that got a
membership; the transitions from the first new membership on), and a row whose values did
not change is not rewritten.
"""

from __future__ import annotations

from typing import Any

import psycopg

from flowscope.flows.correlation import rollups
from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.statements import POSTGRES, Statements

_REVENUE = {
    "sum": "sum(m.revenue) filter (where m.step = %(rstep)s)",
    "max": "max(m.revenue) filter (where m.step = %(rstep)s)",
    "first": "(array_agg(m.revenue order by m.ts, m.seq) "
    "filter (where m.step = %(rstep)s and m.revenue is not null))[1]",
    "last": "(array_agg(m.revenue order by m.ts desc, m.seq desc) "
    "filter (where m.step = %(rstep)s and m.revenue is not null))[1]",
}

_INSTANCE_SET = ", ".join(
    f"{c} = excluded.{c}"
    for c in (
        "started_at",
        "last_event_at",
        "duration_s",
        "event_count",
        "current_step",
        "completed_at",
        "stall_at",
        "drop_at",
        "has_exception",
        "exception_step",
        "exception_name",
        "properties",
        "revenue",
        "variant",
    )
)

_SQL = """
with new as (
  -- this batch's memberships (staged by the caller; some may have been stored before)
  select n.correlation_id as cid, n.step, n."timestamp" as ts, n.seq
  from {staged} n
  where n.build_id = %(b)s
),
m as materialized (
  -- all memberships of the touched instances: the cost follows the instances touched, never
  -- the size of the build (the form differs per engine, see statements.py)
{memberships}),
first_new as (
  select distinct on (n.cid) n.cid, n.ts, n.seq from new n order by n.cid, n.ts, n.seq
),
agg as (
  select m.cid,
         min(m.ts) as started_at,
         max(m.ts) as last_event_at,
         count(*)::int as event_count,
         (array_agg(m.step order by m.ts desc, m.seq desc))[1] as current_step,
         min(m.ts) filter (where m.step = any(%(ends)s::text[])) as completed_at,
         (array_agg(m.step order by m.ts, m.seq)
            filter (where m.exception is not null))[1] as exception_step,
         (array_agg(m.exception order by m.ts, m.seq)
            filter (where m.exception is not null))[1] as exception_name,
         {revenue} as revenue,
         array_agg(m.step order by m.ts, m.seq) as variant,
         -- later values of a property replace earlier ones (see the migration's aggregate)
         flowscope_jsonb_merge(m.properties order by m.ts, m.seq) as properties
  from m
  group by m.cid
),
moved as materialized (
  -- instances whose start this batch moved (an older event arriving late), by key per
  -- instance as in `m`. It reads the rows as they were before this statement: on PostgreSQL
  -- every part of it sees the same snapshot; Citus runs the parts one after another in this
  -- order, so it stays before the writes.
{moved}),
instances as (
  insert into flow_instances (build_id, correlation_id, started_at, last_event_at, duration_s,
      event_count, current_step, completed_at, stall_at, drop_at, has_exception,
      exception_step, exception_name, properties, revenue, variant)
  select %(b)s, a.cid, a.started_at, a.last_event_at,
         extract(epoch from a.last_event_at - a.started_at)::float8, a.event_count,
         a.current_step, a.completed_at,
         a.last_event_at + make_interval(secs => tt.stall),
         a.last_event_at + make_interval(secs => tt.drop),
         a.exception_name is not null, a.exception_step, a.exception_name,
         a.properties, a.revenue, a.variant
  from agg a
  left join unnest(%(tsteps)s::text[], %(tstall)s::float8[], %(tdrop)s::float8[])
    as tt(step, stall, drop) on tt.step = a.current_step
  on conflict (build_id, correlation_id) do update set {instance_set}
  returning 1
),
steps as (
  insert into flow_instance_steps as s
      (build_id, correlation_id, step, first_at, last_at, count, exception, started_at)
  select %(b)s, m.cid, m.step, min(m.ts), max(m.ts), count(*)::int,
         (array_agg(m.exception order by m.ts, m.seq)
            filter (where m.exception is not null))[1],
         a.started_at
  from m
  join agg a on a.cid = m.cid
  -- a step row depends only on the memberships at that step: only those with new ones change
  where (m.cid, m.step) in (select n.cid, n.step from new n)
  group by m.cid, m.step, a.started_at
  on conflict (build_id, correlation_id, step) do update
    set first_at = excluded.first_at, last_at = excluded.last_at, count = excluded.count,
        exception = excluded.exception, started_at = excluded.started_at
    where (s.first_at, s.last_at, s.count, s.exception, s.started_at)
      is distinct from (excluded.first_at, excluded.last_at, excluded.count, excluded.exception,
                        excluded.started_at)
  returning 1
),
restamped as (
  -- the other step rows carry a copy of the instance's start (read indexes, migration 0007);
  -- these rows are disjoint from the ones above. Only instances whose start moved, found by
  -- key (`= any(array(…))`): a join let the planner scan all the build's step rows per batch
  update flow_instance_steps s set started_at = mv.started_at
  from moved mv
  where s.build_id = {build} and s.correlation_id = any(array(select cid from moved))
    and s.correlation_id = mv.cid
    and s.started_at is distinct from mv.started_at
    and (s.correlation_id, s.step) not in (select n.cid, n.step from new n)
  returning 1
),
pairs as (
  select m.cid, m.ts, m.seq, (row_number() over w - 2)::int as ord,
         lag(m.step) over w as source, m.step as target,
         extract(epoch from m.ts - lag(m.ts) over w)::float8 as delay_s
  from m
  window w as (partition by m.cid order by m.ts, m.seq)
),
transitions as (
  insert into flow_transitions as t
      (build_id, correlation_id, ord, source, target, delay_s, started_at)
  select %(b)s, p.cid, p.ord, p.source, p.target, p.delay_s, a.started_at
  from pairs p
  -- transitions before the first new membership of an instance are unchanged (and so is
  -- its start: a new earliest event makes every transition new)
  join first_new f on f.cid = p.cid and (p.ts, p.seq) >= (f.ts, f.seq)
  join agg a on a.cid = p.cid
  where p.source is not null
  on conflict (build_id, correlation_id, ord) do update
    set source = excluded.source, target = excluded.target, delay_s = excluded.delay_s,
        started_at = excluded.started_at
    where (t.source, t.target, t.delay_s, t.started_at)
      is distinct from (excluded.source, excluded.target, excluded.delay_s, excluded.started_at)
  returning 1
)
select (select count(*) from instances),
       (select count(*) from steps) + (select count(*) from restamped),
       (select count(*) from transitions)
"""


def recompute_sql(flow: CompiledFlow, staged: str, statements: Statements = POSTGRES) -> str:
    revenue = flow.definition.revenue
    expr = _REVENUE[revenue.aggregate] if revenue else "null::numeric"
    return _SQL.format(
        revenue=expr,
        instance_set=_INSTANCE_SET,
        staged=staged,
        memberships=statements.memberships,
        moved=statements.moved,
        build=statements.build,
    )


def recompute(
    conn: psycopg.Connection[Any],
    flow: CompiledFlow,
    staged: str,
    statements: Statements,
) -> None:
    """Rewrite the instances of `flow`'s build that have memberships in the table `staged`
    (this batch's) from all their memberships, and their contribution to the rollups."""
    # The rollups move with the instances: their old contribution out, the new one in.
    delta = rollups.subtract_old(conn, statements, flow.build_id, staged)
    with conn.cursor() as cur:
        cur.execute(recompute_sql(flow, staged, statements), recompute_params(flow))
    rollups.add_new(conn, statements, flow.build_id, staged, delta)


def recompute_params(flow: CompiledFlow) -> dict[str, Any]:
    """The parameters of `recompute_sql(flow, …)`."""
    steps = list(flow.timeouts)
    return {
        "b": flow.build_id,
        "ends": sorted(flow.end_steps),
        "rstep": flow.definition.revenue.step if flow.definition.revenue else None,
        "tsteps": steps,
        "tstall": [_seconds(flow.timeouts[s][0]) for s in steps],
        "tdrop": [_seconds(flow.timeouts[s][1]) for s in steps],
    }


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value.total_seconds())
