"""flow tables: drop two indexes that only cost writes since the rollups

`ix_flow_instance_steps_build_id_step` served the step counts the flow page computed from the
step rows, and `ix_flow_transitions_build_id_started_at` its edges and delays: both are read
from the rollups now (0012). Every correlated event still paid for them: a step row and a
transition row per event, each with this extra index entry (the transitions' one covering four
columns). Lookups of an instance's steps and transitions use the primary keys.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_flow_instance_steps_build_id_step", table_name="flow_instance_steps")
    op.drop_index("ix_flow_transitions_build_id_started_at", table_name="flow_transitions")


def downgrade() -> None:
    op.create_index(
        "ix_flow_transitions_build_id_started_at",
        "flow_transitions",
        ["build_id", "started_at"],
        postgresql_include=["correlation_id", "source", "target", "delay_s"],
    )
    op.create_index(
        "ix_flow_instance_steps_build_id_step", "flow_instance_steps", ["build_id", "step"]
    )
