"""`flowscope db upgrade` on a Citus coordinator: what it distributes, and that it is a no-op
the second time."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from flowscope.cluster.distribution import FLOW_TABLES, SHARD_COUNT, distribute
from flowscope.cluster.engine import Engine, engine_of
from flowscope.db import MIGRATION_LOCK_ID, Database, upgrade_database

pytestmark = pytest.mark.citus


def test_tables_are_distributed_and_colocated(database: Database) -> None:
    with database.sessions() as session:
        assert engine_of(session) is Engine.citus
        rows = session.execute(
            text(
                "select table_name::text, distribution_column, colocation_id, shard_count "
                "from citus_tables order by 1"
            )
        ).all()
    by_table = {name: (column, group, shards) for name, column, group, shards in rows}
    assert by_table["events"][0] == "event_id"
    assert by_table["events"][2] == SHARD_COUNT
    groups = {by_table[t][1] for t in FLOW_TABLES}
    assert len(groups) == 1  # the flow tables share their shards' placement
    assert {by_table[t][0] for t in FLOW_TABLES} == {"correlation_id"}
    assert by_table["events"][1] not in groups
    assert set(by_table) == {"events", *FLOW_TABLES}  # the rest stays on the coordinator
    assert "flow_rollups" not in by_table  # no correlation id: kept on the coordinator


def test_upgrading_again_changes_nothing(database_url: str) -> None:
    assert distribute(database_url, MIGRATION_LOCK_ID) == []
    upgrade_database(database_url)
    assert distribute(database_url, MIGRATION_LOCK_ID) == []
