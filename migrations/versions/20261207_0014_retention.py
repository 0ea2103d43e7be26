"""per-provider retention: overrides and horizons; memberships findable by event

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_providers",
        sa.Column("provider", sa.String(length=256), nullable=False),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("purged_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_retention_providers")),
    )
    # Retention deletes the memberships of the events it deletes, found by event.
    op.create_index(op.f("ix_flow_events_seq"), "flow_events", ["seq"])


def downgrade() -> None:
    op.drop_index(op.f("ix_flow_events_seq"), table_name="flow_events")
    op.drop_table("retention_providers")
