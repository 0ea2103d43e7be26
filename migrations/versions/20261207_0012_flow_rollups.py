"""flow rollups: per build and hour/day of the instances' start, the counts, sums and sketch
buckets behind the flow page (see flowscope.flows.correlation.rollups)

Also the two partial indexes that find the open instances whose stall or drop deadline falls
in the current hour (the only ones whose state a rollup cannot tell), and the sketch-key
function the correlator and the readers share. Existing builds get their rollups here, from
their instance rows, so an upgraded database shows the same figures at once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)

# DDSketch key with gamma 1.02 (relative error (γ-1)/(γ+1) < 1 %); 0 gets its own key.
SKETCH_KEY = """
create function flowscope_sketch_key(x float8) returns int
language sql immutable parallel safe
as $$ select case when x <= 0 then -2147483648 else ceil(ln(x) / ln(1.02::float8))::int end $$
"""

# Two sparse sketches (sorted keys, counts) added; keys whose count reaches 0 are dropped.
SKETCH_ADD = """
create function flowscope_sketch_add(
  k1 int[], c1 int8[], k2 int[], c2 int8[], out keys int[], out counts int8[])
language sql immutable parallel safe
as $$
  select coalesce(array_agg(k order by k), '{}'), coalesce(array_agg(c order by k), '{}')
  from (
    select u.k, sum(u.c)::int8 as c
    from (select * from unnest(k1, c1) union all select * from unnest(k2, c2)) as u(k, c)
    group by u.k
    having sum(u.c) <> 0
  ) as s
$$
"""

# A frozen copy of the correlator's from-scratch aggregation (rollups.py) for existing builds.
BACKFILL = """
with i as materialized (
  select i.build_id, date_trunc('hour', i.started_at, 'UTC') as tag, i.correlation_id,
         i.completed_at, i.duration_s, i.has_exception, i.revenue, i.current_step,
         coalesce(date_trunc('hour', i.stall_at, 'UTC'), 'infinity') as sh,
         coalesce(date_trunc('hour', i.drop_at, 'UTC'), 'infinity') as dh
  from flow_instances i
  join flow_builds b on b.id = i.build_id and b.state in ('building', 'ready')
),
s as materialized (
  select i.build_id, i.tag, s.step, s.exception, i.completed_at
  from i join flow_instance_steps s
    on s.build_id = i.build_id and s.correlation_id = i.correlation_id
),
t as materialized (
  select i.build_id, i.tag, i.correlation_id, t.source, t.target, t.delay_s
  from i join flow_transitions t
    on t.build_id = i.build_id and t.correlation_id = i.correlation_id
),
c (build_id, tag, kind, d1, d2, key, sh, dh, n, total) as (
  select build_id, tag, 'started', '', '', 0, 'infinity'::timestamptz, 'infinity'::timestamptz,
         1::int8, 0::numeric from i
  union all
  select build_id, tag, 'completed', '', '', 0, 'infinity', 'infinity', 1, duration_s::numeric
  from i where completed_at is not null
  union all
  select build_id, tag, 'duration', '', '', flowscope_sketch_key(duration_s), 'infinity',
         'infinity', 1, 0
  from i where completed_at is not null
  union all
  select build_id, tag, 'exception', '', '', 0, 'infinity', 'infinity', 1, 0
  from i where has_exception
  union all
  select build_id, tag, 'revenue', '', '', 0, 'infinity', 'infinity', 1, revenue
  from i where revenue is not null
  union all
  select build_id, tag, 'open', current_step, '', 0, sh, dh, 1, 0
  from i where completed_at is null
  union all
  select build_id, tag, 'step', step, '', 0, 'infinity', 'infinity', 1, 0 from s
  union all
  select build_id, tag, 'step_exception', step, '', 0, 'infinity', 'infinity', 1, 0
  from s where exception is not null
  union all
  select build_id, tag, 'step_completed', step, '', 0, 'infinity', 'infinity', 1, 0
  from s where completed_at is not null
  union all
  select build_id, tag, 'edge', source, target, 0, 'infinity', 'infinity', 1, count(*)::numeric
  from t group by build_id, tag, correlation_id, source, target
  union all
  select build_id, tag, 'delay', source, target, flowscope_sketch_key(delay_s), 'infinity',
         'infinity', 1, 0
  from t
),
cells as (
  select build_id, g.grain,
         case g.grain when 'h' then tag else date_trunc('day', tag, 'UTC') end as bucket,
         kind, d1, d2, key, sh, dh, sum(n)::int8 as n, sum(total) as total
  from c cross join (values ('h'), ('d')) as g(grain)
  group by 1, 2, 3, 4, 5, 6, 7, 8, 9
)
insert into flow_rollups (build_id, grain, bucket, kind, d1, d2, stall_hour, drop_hour,
                          n, total, skeys, scounts)
select build_id, grain, bucket, kind, d1, d2, sh, dh, sum(n), sum(total),
       coalesce(array_agg(key order by key) filter (where kind in ('duration', 'delay')), '{}'),
       coalesce(array_agg(n order by key) filter (where kind in ('duration', 'delay')), '{}')
from cells
group by build_id, grain, bucket, kind, d1, d2, sh, dh
"""


def upgrade() -> None:
    op.execute(SKETCH_KEY)
    op.execute(SKETCH_ADD)
    op.create_table(
        "flow_rollups",
        sa.Column("build_id", sa.BigInteger(), nullable=False),
        sa.Column("grain", sa.String(1), nullable=False),
        sa.Column("bucket", TZ, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("d1", sa.Text(), nullable=False),
        sa.Column("d2", sa.Text(), nullable=False),
        sa.Column("stall_hour", TZ, nullable=False),
        sa.Column("drop_hour", TZ, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Numeric(), nullable=False),
        sa.Column("skeys", sa.ARRAY(sa.Integer()), nullable=False),
        sa.Column("scounts", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.PrimaryKeyConstraint(
            "build_id",
            "grain",
            "bucket",
            "kind",
            "d1",
            "d2",
            "stall_hour",
            "drop_hour",
            name=op.f("pk_flow_rollups"),
        ),
    )
    for column in ("stall_at", "drop_at"):
        op.create_index(
            f"ix_flow_instances_open_{column}",
            "flow_instances",
            ["build_id", column],
            postgresql_where=sa.text("completed_at is null"),
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    for column in ("stall_at", "drop_at"):
        op.drop_index(f"ix_flow_instances_open_{column}", table_name="flow_instances")
    op.drop_table("flow_rollups")
    op.execute("drop function flowscope_sketch_add(int[], int8[], int[], int8[])")
    op.execute("drop function flowscope_sketch_key(float8)")
