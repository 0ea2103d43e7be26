"""Rollups: what the flow page counts, kept per build and per hour and day of the start.

An instance belongs to a timeframe when it started in it, so everything the page shows for a
timeframe is a sum over the instances that started in it. The correlator keeps those sums in
`flow_rollups`, one row per (build, grain, bucket, kind, dimensions), bucket = the start
truncated to the UTC hour (`grain` 'h') and day ('d'); a window then reads O(hours) rows:

| kind | d1 / d2 / key | n | total |
|---|---|---|---|
| started | | instances | |
| completed | | completed instances | sum of their duration_s (numeric) |
| duration | key = sketch bucket of duration_s | completed instances in it | |
| exception | | instances with a business exception | |
| revenue | | instances with revenue | sum of revenue |
| open | d1 = current step; stall_hour, drop_hour | open instances | |
| step | d1 = step | instances that reached it | |
| step_exception | d1 = step | of those, with an exception there | |
| step_completed | d1 = step | of those, completed | |
| edge | d1 → d2 | instances with that transition | transitions |
| delay | d1 → d2, key = sketch bucket of delay_s | transitions in it | |

Percentiles come from DDSketch buckets (`flowscope.flows.analysis.sketch`): a value x > 0 is
counted under key ⌈log_γ x⌉ with γ = 1.02, so any value read back is within
(γ−1)/(γ+1) < 1 % of a true one. Chosen over a t-digest because its buckets are plain integer
keys: they merge by addition (in SQL, in the same upsert as the counts), subtracting an
instance's old contribution is exact, and the error bound is relative at every quantile,
which is what a duration shown as "4.2 h" needs. Counts and sums are exact.

Maintenance. `recompute` rewrites the touched instances (and their steps and transitions);
around it, in the same transaction, their contribution computed from the instance tables is
subtracted before and added after, and the difference is upserted (rows that reach zero are
deleted). So the rollups always equal a from-scratch aggregation of the instance tables
(the property tests check this), whatever the arrival order or batching. A rebuild fills its
own build's rows as it correlates, and readers switch to them with the build on promotion;
retired builds' rows are purged with the rest of their results.

Time-dependent states. `completed` never changes, but an open instance is in progress,
stalled or dropped depending on now (`flowscope.flows.analysis.states`). Open instances are
therefore rolled up by their *deadline hours* too: `stall_hour`/`drop_hour` = stall_at/drop_at
truncated to the hour ('infinity' when the timeout is not set). With H the hour of now, a
rollup row whose drop hour < H is dropped, one whose drop hour > H and stall hour < H is
stalled, and one whose deadline hours are both > H is in progress, for any now in that hour.
Only rows with a deadline in H itself are undecided: the reader ignores them and classifies
exactly the open instances with stall_at or drop_at in [H, H+1h) (two partial indexes,
migration 0012): at most one hour of deadlines, whatever the window.

On Citus `flow_rollups` stays on the coordinator (`flowscope.cluster.distribution` says why);
the reads of the touched instances take the engine's form (`Statements.touched`,
`Statements.per_instance`).
"""

from __future__ import annotations

from typing import Any

import psycopg

from flowscope.flows.correlation.staging import clear
from flowscope.flows.correlation.statements import Statements

INF = "'infinity'::timestamptz"

# The contribution of a set of instances, as rows (tag, kind, d1, d2, key, sh, dh, n, total).
# `{source}` is the FROM clause naming the instances `i` (with `:b` the build), `{tag}` what
# to group them by, `{open}` how open instances are reported: by deadline hours for the
# rollups, by their exact state at `:now` for the readers' partial hours.
CONTRIBUTION = """
with i as materialized (
  select {tag} as tag, i.correlation_id, i.completed_at, i.duration_s, i.has_exception,
         i.revenue, i.current_step, {open_d2} as od2, {open_sh} as sh, {open_dh} as dh
  from {source}
),
-- steps and transitions by primary-key range per instance (`Statements.per_instance`): the
-- cost follows the instances asked for, never the size of the build
s as materialized (
  select i.tag, x.step, x.exception, i.completed_at
  from {steps}
),
t as materialized (
  select i.tag, i.correlation_id, x.source, x.target, x.delay_s
  from {transitions}
),
c (tag, kind, d1, d2, key, sh, dh, n, total) as (
  select tag, 'started', '', '', 0, {inf}, {inf}, 1::int8, 0::numeric from i
  union all
  select tag, 'completed', '', '', 0, {inf}, {inf}, 1, duration_s::numeric
  from i where completed_at is not null
  union all
  select tag, 'duration', '', '', flowscope_sketch_key(duration_s), {inf}, {inf}, 1, 0
  from i where completed_at is not null
  union all
  select tag, 'exception', '', '', 0, {inf}, {inf}, 1, 0 from i where has_exception
  union all
  select tag, 'revenue', '', '', 0, {inf}, {inf}, 1, revenue from i where revenue is not null
  union all
  select tag, '{open_kind}', current_step, od2, 0, sh, dh, 1, 0 from i where completed_at is null
  union all
  select tag, 'step', step, '', 0, {inf}, {inf}, 1, 0 from s
  union all
  select tag, 'step_exception', step, '', 0, {inf}, {inf}, 1, 0 from s where exception is not null
  union all
  select tag, 'step_completed', step, '', 0, {inf}, {inf}, 1, 0
  from s where completed_at is not null
  union all
  select tag, 'edge', source, target, 0, {inf}, {inf}, 1, count(*)::numeric
  from t group by tag, correlation_id, source, target
  union all
  select tag, 'delay', source, target, flowscope_sketch_key(delay_s), {inf}, {inf}, 1, 0 from t
)
select tag, kind, d1, d2, key, sh, dh, sum(n)::int8 as n, sum(total) as total
from c
where kind = any(%(kinds)s)
group by tag, kind, d1, d2, key, sh, dh
"""

KINDS = [
    "started",
    "completed",
    "duration",
    "exception",
    "revenue",
    "open",
    "state",
    "step",
    "step_exception",
    "step_completed",
    "edge",
    "delay",
]


def contribution_sql(
    source: str, tag: str, statements: Statements, *, exact_states: str | None = None
) -> str:
    """The contribution query over `source` (in `statements`' engine's form); with
    `exact_states` (a state SQL fragment) open instances are reported as kind `state` with
    d2 = their state at `:now` instead."""
    if exact_states is None:
        open_ = {
            "open_kind": "open",
            "open_d2": "''",
            "open_sh": f"coalesce(date_trunc('hour', i.stall_at, 'UTC'), {INF})",
            "open_dh": f"coalesce(date_trunc('hour', i.drop_at, 'UTC'), {INF})",
        }
    else:
        open_ = {"open_kind": "state", "open_d2": exact_states, "open_sh": INF, "open_dh": INF}
    return CONTRIBUTION.format(
        source=source,
        tag=tag,
        inf=INF,
        steps=statements.per_instance.format(
            table="flow_instance_steps", columns="x.step, x.exception"
        ),
        transitions=statements.per_instance.format(
            table="flow_transitions", columns="x.source, x.target, x.delay_s"
        ),
        **open_,
    )


# The columns the contribution reads: all in the covering (build_id, started_at) index.
COLUMNS = (
    "x.correlation_id, x.started_at, x.completed_at, x.duration_s, x.has_exception, "
    "x.revenue, x.current_step, x.stall_at, x.drop_at"
)


_STAGE = """
insert into {delta} (build_id, grain, bucket, kind, d1, d2, key, stall_hour, drop_hour, n, total)
select %(b)s, g.grain, case g.grain when 'h' then c.tag else date_trunc('day', c.tag, 'UTC') end,
       c.kind, c.d1, c.d2, c.key, c.sh, c.dh, %(sign)s * c.n, %(sign)s * c.total
from ({contribution}) c
cross join (values ('h'), ('d')) as g(grain)
"""

_KEY = "build_id, grain, bucket, kind, d1, d2, stall_hour, drop_hour"
_SKETCHED = "kind in ('duration', 'delay')"

# The batch's net change per row and (for sketches) per bucket key, then per row with the
# sketch as sorted arrays, added to the stored row (`flowscope_sketch_add` drops zero keys).
_APPLY = f"""
with cells as (
  select {_KEY}, key, sum(n) as n, sum(total) as total
  from {{delta}}
  group by {_KEY}, key
  having sum(n) <> 0 or sum(total) <> 0
),
changes as (
  select {_KEY}, sum(n)::int8 as n, sum(total) as total,
         coalesce(array_agg(key order by key) filter (where {_SKETCHED}), '{{{{}}}}') as skeys,
         coalesce(array_agg(n order by key) filter (where {_SKETCHED}), '{{{{}}}}') as scounts
  from cells
  group by {_KEY}
)
insert into flow_rollups as r ({_KEY}, n, total, skeys, scounts)
select {_KEY}, n, total, skeys, scounts from changes
-- in key order: connections that materialize at once lock shared rows in the same order
-- (`flowscope.flows.correlation.materialization`), so they cannot deadlock
order by {_KEY}
on conflict ({_KEY}) do update
  set n = r.n + excluded.n, total = r.total + excluded.total,
      (skeys, scounts) = (
        select s.keys, s.counts
        from flowscope_sketch_add(r.skeys, r.scounts, excluded.skeys, excluded.scounts) as s)
"""  # noqa: S608 - fixed names

# A separate statement: the upsert's own statement cannot see the rows it updated.
_PRUNE = f"""
delete from flow_rollups r
using (select distinct {_KEY} from {{delta}}) d
where ({", ".join("r." + k for k in _KEY.split(", "))})
    = ({", ".join("d." + k for k in _KEY.split(", "))})
  and r.n = 0 and r.total = 0
"""  # noqa: S608 - fixed names


def _stage_contribution(
    conn: psycopg.Connection[Any],
    statements: Statements,
    build_id: int,
    staged: str,
    delta: str,
    sign: int,
    **params: Any,
) -> None:
    # the instances of this batch (the correlation ids staged for the build), by primary key
    touched = statements.touched.format(staged=staged, columns=COLUMNS)
    tag = "date_trunc('hour', i.started_at, 'UTC')"
    sql = _STAGE.format(delta=delta, contribution=contribution_sql(touched, tag, statements))
    with conn.cursor() as cur:
        cur.execute(sql, {"b": build_id, "sign": sign, "kinds": KINDS, **params})


def _delta_table(conn: psycopg.Connection[Any]) -> str:
    delta = "stage_rollup_changes"
    with conn.cursor() as cur:
        # like `staging.stage`: per connection, emptied at commit, created again after a
        # rollback took it away; a row per bucket key, before they become arrays
        cur.execute(
            f"create temporary table if not exists {delta} (build_id int8, grain text, "
            "bucket timestamptz, kind text, d1 text, d2 text, key int, stall_hour timestamptz, "
            "drop_hour timestamptz, n int8, total numeric) on commit delete rows"
        )
    return delta


def _apply(conn: psycopg.Connection[Any], delta: str) -> None:
    with conn.cursor() as cur:
        cur.execute(_APPLY.format(delta=delta))  # noqa: S608 - a name from `_delta_table`
        cur.execute(_PRUNE.format(delta=delta))  # noqa: S608
    clear(conn, delta)


def subtract_old(
    conn: psycopg.Connection[Any], statements: Statements, build_id: int, staged: str
) -> str:
    """Stage minus the current contribution of the instances with memberships in `staged`;
    returns the delta table for `add_new`. Call before they are recomputed."""
    delta = _delta_table(conn)
    _stage_contribution(conn, statements, build_id, staged, delta, -1)
    return delta


def add_new(
    conn: psycopg.Connection[Any], statements: Statements, build_id: int, staged: str, delta: str
) -> None:
    """Stage plus their recomputed contribution and apply the difference to the rollups."""
    _stage_contribution(conn, statements, build_id, staged, delta, 1)
    _apply(conn, delta)


# The given correlation ids of one build, in the shape `Statements.touched` reads from a
# staged table.
_GIVEN = (
    "(select cast(%(b)s as int8) as build_id, unnest(cast(%(cids)s as text[])) as correlation_id)"
)


def remove(
    conn: psycopg.Connection[Any],
    statements: Statements,
    build_id: int,
    correlation_ids: list[str],
) -> None:
    """Take these instances' contribution out of the rollups: call before deleting their rows
    other than by `recompute` (retention does), or the rollups would keep counting them."""
    delta = _delta_table(conn)
    _stage_contribution(conn, statements, build_id, _GIVEN, delta, -1, cids=correlation_ids)
    _apply(conn, delta)
