"""events: primary key (seq, event_id), so that `events` can be distributed by event_id on Citus

Citus refuses to distribute a table whose primary key does not contain the distribution
column. `seq` stays the key's leading column, so every lookup and range scan by `seq` on plain
PostgreSQL uses the key's index as before; `(seq, event_id)` is as unique as `seq` alone (seq is
an identity), and idempotency keeps resting on the unique (provider, event_id), which already
contains event_id.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("pk_events", "events", type_="primary")
    op.create_primary_key("pk_events", "events", ["seq", "event_id"])


def downgrade() -> None:
    op.drop_constraint("pk_events", "events", type_="primary")
    op.create_primary_key("pk_events", "events", ["seq"])
