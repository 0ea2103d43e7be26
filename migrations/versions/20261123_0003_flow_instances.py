"""flow builds, memberships, instances, instance steps and transitions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "flow_builds",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("flow_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("horizon", sa.Text(), nullable=False),
        sa.Column("backfill_seq", sa.BigInteger(), nullable=False),
        sa.Column("backfill_done", sa.Boolean(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("events_total", sa.BigInteger(), nullable=False),
        sa.Column("events_done", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("ready_at", TZ, nullable=True),
        sa.Column("retired_at", TZ, nullable=True),
        sa.Column("purged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name=op.f("fk_flow_builds_flow_id_flows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_builds")),
    )
    op.create_index("ix_flow_builds_flow_id_state", "flow_builds", ["flow_id", "state"])

    op.create_table(
        "flow_events",
        sa.Column("build_id", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", TZ, nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("exception", sa.String(length=128), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("revenue", sa.Numeric(), nullable=True),
        sa.PrimaryKeyConstraint("build_id", "correlation_id", "seq", name=op.f("pk_flow_events")),
    )

    op.create_table(
        "flow_instances",
        sa.Column("build_id", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("last_event_at", TZ, nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("current_step", sa.String(length=64), nullable=False),
        sa.Column("completed_at", TZ, nullable=True),
        sa.Column("stall_at", TZ, nullable=True),
        sa.Column("drop_at", TZ, nullable=True),
        sa.Column("has_exception", sa.Boolean(), nullable=False),
        sa.Column("exception_step", sa.String(length=64), nullable=True),
        sa.Column("exception_name", sa.String(length=128), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("revenue", sa.Numeric(), nullable=True),
        sa.Column("variant", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("build_id", "correlation_id", name=op.f("pk_flow_instances")),
    )
    op.create_index(
        "ix_flow_instances_build_id_started_at", "flow_instances", ["build_id", "started_at"]
    )
    op.create_index(
        "ix_flow_instances_build_id_last_event_at",
        "flow_instances",
        ["build_id", "last_event_at", "correlation_id"],
    )

    op.create_table(
        "flow_instance_steps",
        sa.Column("build_id", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("first_at", TZ, nullable=False),
        sa.Column("last_at", TZ, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("exception", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint(
            "build_id", "correlation_id", "step", name=op.f("pk_flow_instance_steps")
        ),
    )
    op.create_index(
        "ix_flow_instance_steps_build_id_step", "flow_instance_steps", ["build_id", "step"]
    )

    op.create_table(
        "flow_transitions",
        sa.Column("build_id", sa.BigInteger(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("delay_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "build_id", "correlation_id", "ord", name=op.f("pk_flow_transitions")
        ),
    )
    # The correlator pages through new events by (txid, seq); with only the txid index a
    # large transaction (a log import) would be re-sorted for every batch.
    op.create_index("ix_events_txid_seq", "events", ["txid", "seq"])
    # Merges JSON objects in aggregate order, later keys winning: an instance's captured
    # properties (`jsonb_concat` is the function behind `||`; being strict, it skips nulls).
    op.execute(
        "create aggregate flowscope_jsonb_merge(jsonb) "
        "(sfunc = jsonb_concat, stype = jsonb, initcond = '{}')"
    )


def downgrade() -> None:
    op.execute("drop aggregate flowscope_jsonb_merge(jsonb)")
    op.drop_index("ix_events_txid_seq", table_name="events")
    op.drop_table("flow_transitions")
    op.drop_table("flow_instance_steps")
    op.drop_table("flow_instances")
    op.drop_table("flow_events")
    op.drop_table("flow_builds")
