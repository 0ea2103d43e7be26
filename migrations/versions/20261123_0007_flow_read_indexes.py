"""flow pages: covering timeframe indexes; steps and transitions carry their instance's start

The flow page counts a timeframe's instances, steps and transitions. With 458 k instances
(bench/flow_page.py) the joins from steps and transitions to instances scanned every row of
the build (~1 s for 24 h); with `started_at` on the child rows and covering indexes the same
figures are index range scans (~0.15 s).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    for table in ("flow_instance_steps", "flow_transitions"):
        op.add_column(table, sa.Column("started_at", TZ, nullable=True))
        op.execute(
            f"update {table} x set started_at = i.started_at from flow_instances i "  # noqa: S608
            "where i.build_id = x.build_id and i.correlation_id = x.correlation_id"
        )
        # Rows of instances that no longer exist (a purge in flight) have nothing to show.
        op.execute(f"delete from {table} where started_at is null")  # noqa: S608
        op.alter_column(table, "started_at", nullable=False)
    op.drop_index("ix_flow_instances_build_id_started_at", table_name="flow_instances")
    op.create_index(
        "ix_flow_instances_build_id_started_at",
        "flow_instances",
        ["build_id", "started_at"],
        postgresql_include=[
            "correlation_id",
            "completed_at",
            "has_exception",
            "revenue",
            "duration_s",
            "stall_at",
            "drop_at",
            "current_step",
        ],
    )
    op.create_index(
        "ix_flow_instance_steps_build_id_started_at",
        "flow_instance_steps",
        ["build_id", "started_at"],
        postgresql_include=["correlation_id", "step", "exception"],
    )
    op.create_index(
        "ix_flow_transitions_build_id_started_at",
        "flow_transitions",
        ["build_id", "started_at"],
        postgresql_include=["correlation_id", "source", "target", "delay_s"],
    )


def downgrade() -> None:
    op.drop_index("ix_flow_transitions_build_id_started_at", table_name="flow_transitions")
    op.drop_index("ix_flow_instance_steps_build_id_started_at", table_name="flow_instance_steps")
    op.drop_index("ix_flow_instances_build_id_started_at", table_name="flow_instances")
    op.create_index(
        "ix_flow_instances_build_id_started_at", "flow_instances", ["build_id", "started_at"]
    )
    op.drop_column("flow_transitions", "started_at")
    op.drop_column("flow_instance_steps", "started_at")
