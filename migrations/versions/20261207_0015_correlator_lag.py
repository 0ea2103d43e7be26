"""flow builds: deferred instance materialization after a backfill, and the snapshot's time

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Builds that exist already computed their instances batch by batch: materialized.
    op.add_column(
        "flow_builds",
        sa.Column("materialized", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column("flow_builds", sa.Column("materialize_from", sa.Text(), nullable=True))
    op.add_column(
        "flow_builds", sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("flow_builds", "snapshot_at")
    op.drop_column("flow_builds", "materialize_from")
    op.drop_column("flow_builds", "materialized")
