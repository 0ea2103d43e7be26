"""Distributing the schema over a Citus cluster, after the migrations (`flowscope db upgrade`).

* `events` is hash-distributed by `event_id`. The idempotency key (provider, event_id) contains
  it, so the unique constraint and `on conflict do nothing` keep working per shard (migration
  0013 added it to the primary key). Event ids are client-made unique strings, so rows spread
  evenly whatever the mix of providers; `provider` would put a one-application deployment on
  one shard, and `seq` cannot be used because the unique key would not contain it.
* The flow tables (`FLOW_TABLES`) are distributed by `correlation_id` and co-located: every one
  of their keys contains it, and the recompute reads and writes one instance's rows together.
* `flow_rollups` (`COORDINATOR_TABLES`) stays on the coordinator, although the builds' purge
  deletes it with the flow tables. It has no correlation id: its rows are sums over all the
  instances that started in an hour or a day. Distributed by `build_id` instead, a build's
  rollups would all sit on one shard (no spreading at all) and every rollup statement of a
  batch would become a round trip to that worker and one more participant in the two-phase
  commit. Its size follows hours × dimensions, not events (a few thousand rows per flow for
  30 days), so the coordinator holds it easily; the flow page's rollup read stays one local
  index range scan per range, and the recompute's upsert reads the batch's delta from a
  temporary table on the same node. Only the read of the touched instances' old and new rows
  goes to the workers. The local writes commit with the coordinator's transaction, the one
  that decides the distributed commit, so the rollups never disagree with the instance rows.
* Everything else (users, tokens, flow definitions and builds, dashboards, jobs, audit …) stays
  a plain table on the coordinator: a few rows, written by the admin UI and by the correlator on
  every run (a reference table would make each such write a two-phase commit on every node).
  When a query joins them to a distributed table, Citus ships the few rows needed.

Shard count: 8 per distributed table. With 32, every multi-row ingest statement opened new
worker connections (880 ms per 500 events against 22 ms on one node, measured in the issue);
with fewer shards and `citus.max_cached_conns_per_worker` at least the shards per worker, the
executor keeps its connections (55 ms). 8 shards give each of 2 workers 4, still leave room to
rebalance onto up to 8 workers, and `max_cached_conns_per_worker = 8` keeps enough connections
cached for a statement that touches every shard of a worker on any cluster size
(`citus.max_cached_conns_per_worker`, set for the database).

Concurrent ingest: a multi-row ingest statement writes to several shards in parallel, and by
default Citus lets only one such statement at a time hold a shard (`ShareUpdateExclusiveLock`
"deadlock prevention"): concurrent batches then queue one behind another (seen in the race
test: writers waiting on shard advisory locks). Inserts commute, and ingest sorts its rows by
key within each shard, so `citus.enable_deadlock_prevention` is turned off for the database.
What remains possible is a distributed deadlock between two in-flight batches sharing event
ids on two shards (a client retrying a batch whose first attempt is still running): Citus'
deadlock detector cancels one of them after about 2 s, that request answers 503 and is retried,
and the unique key keeps the event stored once.

Idempotent: tables already distributed are left alone, so re-running the upgrade is a no-op.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, create_engine, pool, text

from flowscope.cluster.engine import Engine, detect

log = logging.getLogger(__name__)

SHARD_COUNT = 8
# For the coordinator's sessions on this database (new connections pick them up).
DATABASE_SETTINGS = {
    "citus.max_cached_conns_per_worker": "8",
    "citus.enable_deadlock_prevention": "off",
}
EVENTS = ("events", "event_id")
CORRELATION_COLUMN = "correlation_id"
# Aggregates the distributed statements use; they must exist on every worker.
AGGREGATES = ("flowscope_jsonb_merge(jsonb)",)


# The builds' result tables (`flows.correlation.builds.RESULT_TABLES`, which the correlator's
# purge uses), split in two: distributed by correlation id and co-located with each other, or
# kept on the coordinator (see above). Named here, not imported (the correlation domain sits
# above `flowscope.db`, which runs this); a test checks that together they are exactly the
# result tables, so a new one cannot be left out.
FLOW_TABLES = ("flow_events", "flow_instances", "flow_instance_steps", "flow_transitions")
COORDINATOR_TABLES = ("flow_rollups",)


def _distributed(conn: Connection, table: str) -> bool:
    return bool(
        conn.scalar(
            text(
                "select exists (select 1 from pg_dist_partition where logicalrelid = :t ::regclass)"
            ),
            {"t": table},
        )
    )


def _distribute(conn: Connection, table: str, column: str, colocate_with: str) -> bool:
    if _distributed(conn, table):
        return False
    if colocate_with == "none":  # a new co-location group, with its shard count
        sql = "select create_distributed_table(:t, :c, colocate_with => 'none', shard_count => :n)"
    else:  # the shards of the table it joins
        sql = "select create_distributed_table(:t, :c, colocate_with => :w)"
    conn.execute(text(sql), {"t": table, "c": column, "w": colocate_with, "n": SHARD_COUNT})
    return True


def distribute_connection(conn: Connection) -> list[str]:
    """Distribute what is not distributed yet on `conn` (autocommit); returns what changed."""
    if detect(conn) is not Engine.citus:
        return []
    changed: list[str] = []
    for aggregate in AGGREGATES:
        known = conn.scalar(
            text(
                "select exists (select 1 from pg_dist_object "
                "where classid = 'pg_proc'::regclass and objid = cast(:a as regprocedure))"
            ),
            {"a": aggregate},
        )
        if not known:
            conn.execute(text("select create_distributed_function(:a)"), {"a": aggregate})
            changed.append(aggregate)
    if _distribute(conn, *EVENTS, colocate_with="none"):
        changed.append(EVENTS[0])
    first, *others = FLOW_TABLES
    if _distribute(conn, first, CORRELATION_COLUMN, colocate_with="none"):
        changed.append(first)
    for table in others:
        if _distribute(conn, table, CORRELATION_COLUMN, colocate_with=first):
            changed.append(table)
    settings = conn.scalar(
        text(
            "select s.setconfig from pg_db_role_setting s "
            "join pg_database d on d.oid = s.setdatabase "
            "where d.datname = current_database() and s.setrole = 0"
        )
    )
    for name, value in DATABASE_SETTINGS.items():
        if f"{name}={value}" not in (settings or []):
            database = conn.scalar(text("select quote_ident(current_database())"))
            conn.execute(text(f"alter database {database} set {name} = {value}"))
            changed.append(f"{name}={value}")
    return changed


def distribute(url: str, lock_id: int) -> list[str]:
    """`distribute_connection` on a connection of its own to the database at `url`, holding
    the advisory lock `lock_id` (the one `db upgrade` migrates under: concurrent upgrades
    distribute once)."""
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select pg_advisory_lock(:k)"), {"k": lock_id})
            try:
                changed = distribute_connection(conn)
            finally:
                conn.execute(text("select pg_advisory_unlock(:k)"), {"k": lock_id})
    finally:
        engine.dispose()
    if changed:
        log.info("distributed on the Citus cluster: %s", ", ".join(changed))
    return changed
