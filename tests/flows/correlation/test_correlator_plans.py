"""The correlator's per-instance lookups read the primary key, whatever the statistics say.

A build younger than the flow tables' last ANALYZE (every rebuild, every new flow) is in no
statistics. With the build's id as a bare parameter, the planner took it for one row and
looked each instance up in the covering (build_id, started_at) index, filtering the
correlation id there: a scan of the whole build per instance, so a rebuild's materialization
grew quadratic (12.6 s instead of 10 ms per 20,000-membership batch at 400 k events). This
sets up exactly that situation and checks the plans: every scan of a flow table in the
statements a batch runs is a primary-key lookup.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from flowscope.db import Database, transaction
from flowscope.flows.correlation import builds, rollups
from flowscope.flows.correlation.correlator import correlate
from flowscope.flows.correlation.memberships import raw
from flowscope.flows.correlation.recompute import recompute_params, recompute_sql
from flowscope.flows.correlation.staging import stage
from flowscope.flows.correlation.statements import POSTGRES
from tests.flows.correlation.test_correlator import steps_of
from tests.flows.correlation_support import drain, event, ingest, make_flow

FLOW_TABLES = {"flow_events", "flow_instances", "flow_instance_steps", "flow_transitions"}
ORDERS = 600


def _scans(plan: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(node type, relation, index) of every scan of a flow table in an EXPLAIN tree."""
    if plan.get("Relation Name") in FLOW_TABLES and "Scan" in plan["Node Type"]:
        yield plan["Node Type"], plan["Relation Name"], plan.get("Index Name", "")
    for child in plan.get("Plans", []):
        yield from _scans(child)


def _explain(conn: Any, sql: str, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    with conn.cursor() as cur:
        cur.execute(f"explain (format json) {sql}", params)
        (document,) = cur.fetchone()
    tree = document if isinstance(document, list) else json.loads(document)
    return list(_scans(tree[0]["Plan"]))


def test_a_build_unknown_to_the_statistics_is_looked_up_by_primary_key(
    clean_db: Database,
) -> None:
    make_flow(clean_db)
    ingest(clean_db, [event(f"o{i:04}", "order.placed", i) for i in range(ORDERS)])
    ingest(clean_db, [event(f"o{i:04}", "payment.captured", 5 + i) for i in range(ORDERS)])
    drain(clean_db)
    with clean_db.engine.begin() as conn:  # what autovacuum does: statistics of build 1 only
        conn.exec_driver_sql(
            "analyze flow_events, flow_instances, flow_instance_steps, flow_transitions"
        )
    make_flow(clean_db, steps=steps_of("order.placed", "payment.captured"))
    for _ in range(50):  # the rebuild, until half of its instances are materialized
        with transaction(clean_db.sessions) as session:
            correlate(session, batch_size=200, backfill_batches=1)
        with clean_db.sessions() as session:
            materialized = session.scalar(
                text(
                    "select count(*) from flow_instances where build_id = "
                    "(select max(id) from flow_builds)"
                )
            )
        if materialized >= ORDERS // 2:
            break
    assert ORDERS // 2 <= materialized < ORDERS

    with clean_db.sessions() as session:
        ((build, flow),) = [(b, f) for b, f in builds.load_active(session) if b.state == "building"]
        conn = raw(session)
        staged = stage(conn, "flow_events")
        with conn.cursor() as cur:
            # a batch of memberships of instances that exist and of some that do not yet
            cur.execute(
                f"insert into {staged} select * from flow_events "  # noqa: S608
                "where build_id = %(b)s and correlation_id >= %(lo)s order by correlation_id "
                "limit 100",
                {"b": build.id, "lo": f"o{ORDERS // 2 - 20:04}"},
            )
        touched = POSTGRES.touched.format(staged=staged, columns=rollups.COLUMNS)
        tag = "date_trunc('hour', i.started_at, 'UTC')"
        contribution = rollups.contribution_sql(touched, tag, POSTGRES)
        scans = _explain(conn, contribution, {"b": build.id, "kinds": rollups.KINDS})
        scans += _explain(conn, recompute_sql(flow, staged, POSTGRES), recompute_params(flow))
        session.rollback()

    assert {relation for _, relation, _ in scans} == FLOW_TABLES
    assert all(index.startswith("pk_") for _, _, index in scans), scans
