"""On the Citus cluster: a retention run deletes exactly what is past retention, with its
memberships, derived rows and rollups (tests.retention.test_purge)."""

import pytest
from sqlalchemy import text

from flowscope.db import Database, transaction
from flowscope.retention.purge import _NEXT_KIND
from tests.flows.correlation_support import T0, event, ingest
from tests.retention import conftest as retention
from tests.retention.test_purge import *  # noqa: F403

settings = retention.settings  # the fixture: retention's shipped default
pytestmark = pytest.mark.citus


def _task(plan: str) -> str:
    """The plan one shard runs (Citus shows one task of the distributed plan)."""
    assert "Custom Scan (Citus" in plan, plan
    return plan.split("->  Task", 1)[1]


def test_the_batch_query_is_an_index_range_scan(clean_db: Database) -> None:
    """Replaces the plain test: on Citus every shard answers by an index range scan under the
    limit, and the coordinator merges at most shards × limit rows (a Sort there is expected).

    The cluster runs autovacuum (the test server does not), so the shards' statistics are
    whatever an autoanalyze between earlier tests left: analyzed empty, every index costs the
    same and a shard took the timestamp index with a filter. Statistics of a known table
    first: 20,000 events of another type, over which that filter would walk."""
    for part in range(4):
        ingest(
            clean_db,
            [event(f"o{part}-{i}", "order.placed", -i, provider="shop") for i in range(5000)],
        )
    with clean_db.engine.begin() as conn:
        conn.exec_driver_sql("analyze events")
    with transaction(clean_db.sessions) as s:
        s.execute(text("set local enable_seqscan = off"))

        def plan(sql: str, params: dict[str, object]) -> str:
            return "\n".join(s.scalars(text("explain " + sql), params).all())

        task = _task(
            plan(
                "select seq from events where provider = :p and type = :t "
                'and "timestamp" < :c order by "timestamp" limit 10',
                {"p": "shop", "t": "x", "c": T0},
            )
        )
        assert "ix_events_provider_type_timestamp" in task, task
        assert "Limit" in task, task
        assert "Sort" not in task, task
        task = _task(plan("delete from flow_events where seq = any(:s)", {"s": [1, 2]}))
        assert "ix_flow_events_seq" in task, task
        task = _task(plan(str(_NEXT_KIND), {"p": "a", "t": "b"}))
        assert "ix_events_provider_type_timestamp" in task, task
