"""business data generators, their run history and pending events; the scheduler's job table

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "generators",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("provider", sa.String(length=256), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("generated_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generators")),
        sa.UniqueConstraint("slug", name=op.f("uq_generators_slug")),
    )
    op.create_table(
        "generator_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("generator_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("events_written", sa.Integer(), nullable=False),
        sa.Column("pending_added", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["generator_id"],
            ["generators.id"],
            name=op.f("fk_generator_runs_generator_id_generators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generator_runs")),
    )
    op.create_index(
        "ix_generator_runs_generator_id_started_at",
        "generator_runs",
        ["generator_id", "started_at"],
    )
    op.create_table(
        "generator_pending",
        sa.Column("generator_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("provider", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=256), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["generator_id"],
            ["generators.id"],
            name=op.f("fk_generator_pending_generator_id_generators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("generator_id", "event_id", name=op.f("pk_generator_pending")),
    )
    op.create_index(
        "ix_generator_pending_generator_id_timestamp",
        "generator_pending",
        ["generator_id", "timestamp"],
    )
    # APScheduler's SQLAlchemyJobStore table, exactly as the job store defines it (it only
    # creates it when missing): created here so that migrations stay the one owner of the schema.
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"])


def downgrade() -> None:
    op.drop_table("apscheduler_jobs")
    op.drop_table("generator_pending")
    op.drop_table("generator_runs")
    op.drop_table("generators")
