"""The correlator's statements that differ per engine, chosen once per connection.

Plain PostgreSQL reads an instance's memberships with a lateral primary-key range scan per
touched instance (`offset 0` keeps it from being flattened into a scan of the whole build).
Citus refuses that subquery ("cannot push down this subquery"); there the memberships are a
semi-join on the distribution column, which Citus sends to every shard with the touched ids
as an intermediate result and each shard answers from its primary key. On plain PostgreSQL
the semi-join is 6× slower (measured in the issue), hence two forms.

The rollups (`flowscope.flows.correlation.rollups`) read the touched instances, their steps
and their transitions the same two ways: per instance by a lateral primary-key lookup on plain
PostgreSQL, by a semi-join or join on the correlation id (the distribution column) on Citus.

On Citus the watermark's snapshot must also be certified (`watermark.take`).

The build's id in those per-instance lookups is `BUILD`, a one-row subquery, never the bare
parameter: see there why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from flowscope.cluster.engine import Engine, engine_of

# The build's id as the per-instance lookups compare it: `x.build_id = {BUILD}`. An
# uncorrelated subquery is a value the planner does not know, so it estimates the lookup's
# rows from the table's average build (1 / n_distinct), not from the statistics of this id.
# A build younger than the table's last ANALYZE (any rebuild, any new flow) is in no
# statistics: with the bare parameter the planner took it for one row, preferred the
# covering (build_id, started_at) index, whose scan is the same for one row, and filtered the
# correlation id there, reading the whole build per instance: the materialization of a 400 k
# event rebuild went from 10 ms to 12.6 s per batch as the build grew (issue 14). Every plan
# the average gives is the primary key's; the Citus forms keep the parameter (each shard
# plans its own part, from its own statistics).
BUILD = "(select cast(%(b)s as int8))"

_LATERAL = f"""
  select t.cid, f.seq, f."timestamp" as ts, f.step, f.exception, f.properties, f.revenue
  from (select distinct n.cid from new n) as t(cid)
  cross join lateral (
    select x.seq, x."timestamp", x.step, x.exception, x.properties, x.revenue
    from flow_events x
    where x.build_id = {BUILD} and x.correlation_id = t.cid
    offset 0  -- keeps the subquery per instance: flattened, it became a scan of the build
  ) as f
"""  # noqa: S608 - BUILD is a constant

_SEMI_JOIN = """
  select x.correlation_id as cid, x.seq, x."timestamp" as ts, x.step, x.exception,
         x.properties, x.revenue
  from flow_events x
  where x.build_id = %(b)s and x.correlation_id in (select n.cid from new n)
"""

# The instances of the recompute's `agg` whose stored start differs from the new one.
_MOVED_LATERAL = f"""
  select a.cid, a.started_at
  from agg a
  cross join lateral (
    select i.started_at from flow_instances i
    where i.build_id = {BUILD} and i.correlation_id = a.cid
    offset 0
  ) as i
  where i.started_at is distinct from a.started_at
"""  # noqa: S608 - BUILD is a constant

_MOVED_JOIN = """
  select a.cid, a.started_at
  from agg a
  join flow_instances i on i.build_id = %(b)s and i.correlation_id = a.cid
  where i.started_at is distinct from a.started_at
"""

# The instances of a batch (the correlation ids of the build staged in `{staged}`) as the FROM
# clause `i` of the rollups' contribution query, with `{columns}` (of alias `x`).
_TOUCHED_LATERAL = f"""(
    select distinct n.correlation_id as cid from {{staged}} n where n.build_id = %(b)s
  ) as touched
  cross join lateral (
    select {{columns}} from flow_instances x
    where x.build_id = {BUILD} and x.correlation_id = touched.cid
    offset 0
  ) as i"""  # noqa: S608 - BUILD is a constant

_TOUCHED_SEMI_JOIN = """(
    select {columns} from flow_instances x
    where x.build_id = %(b)s
      and x.correlation_id in (select n.correlation_id from {staged} n where n.build_id = %(b)s)
  ) as i"""

# The rows `x` of `{table}` ({columns}) of each instance of the CTE `i`: one index range per
# instance on plain PostgreSQL, a join on the distribution column on Citus (`i` becomes an
# intermediate result that every shard joins by its primary key).
_PER_INSTANCE_LATERAL = f"""i cross join lateral (
    select {{columns}} from {{table}} x
    where x.build_id = {BUILD} and x.correlation_id = i.correlation_id
    offset 0  -- keeps the subquery per instance
  ) as x"""  # noqa: S608 - BUILD is a constant

_PER_INSTANCE_JOIN = """i join {table} x
    on x.build_id = %(b)s and x.correlation_id = i.correlation_id"""


@dataclass(frozen=True)
class Statements:
    engine: Engine
    # all memberships of the instances touched by the batch in `new`: (cid, seq, ts, step,
    # exception, properties, revenue)
    memberships: str
    # the recompute's instances whose start moved: (cid, started_at) from `agg`
    moved: str
    # the rollups' touched instances (a FROM clause with `{staged}` and `{columns}`)
    touched: str
    # an instance's rows of a flow table (a FROM clause with `{table}` and `{columns}`)
    per_instance: str
    # whether the watermark's snapshot must be certified against pending worker commits
    distributed: bool
    # the build's id where a statement looks rows up by (build_id, correlation_id)
    build: str


POSTGRES = Statements(
    Engine.postgres,
    memberships=_LATERAL,
    moved=_MOVED_LATERAL,
    touched=_TOUCHED_LATERAL,
    per_instance=_PER_INSTANCE_LATERAL,
    distributed=False,
    build=BUILD,
)
CITUS = Statements(
    Engine.citus,
    memberships=_SEMI_JOIN,
    moved=_MOVED_JOIN,
    touched=_TOUCHED_SEMI_JOIN,
    per_instance=_PER_INSTANCE_JOIN,
    distributed=True,
    build="%(b)s",
)


def statements_for(session: Session | Connection) -> Statements:
    return CITUS if engine_of(session) is Engine.citus else POSTGRES
