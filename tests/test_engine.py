"""On plain PostgreSQL: the engine is detected as such and the upgrade distributes nothing."""

from __future__ import annotations

from flowscope.cluster.distribution import COORDINATOR_TABLES, FLOW_TABLES, distribute
from flowscope.cluster.engine import Engine, engine_of
from flowscope.db import MIGRATION_LOCK_ID, Database
from flowscope.flows.analysis.statements import timeline_rows
from flowscope.flows.correlation.builds import RESULT_TABLES
from flowscope.flows.correlation.statements import POSTGRES, statements_for


def test_plain_postgresql_is_detected_and_left_alone(database: Database) -> None:
    with database.sessions() as session:
        assert engine_of(session) is Engine.postgres
        assert statements_for(session) is POSTGRES
        assert timeline_rows(session, 0, "nobody") == []
    assert distribute(database.url, MIGRATION_LOCK_ID) == []


def test_every_result_table_is_placed_once_on_citus() -> None:
    """A build's result tables are either distributed by correlation id or kept on the
    coordinator: a new one must be put in one of the two lists."""
    assert sorted(FLOW_TABLES + COORDINATOR_TABLES) == sorted(RESULT_TABLES)
    assert not set(FLOW_TABLES) & set(COORDINATOR_TABLES)
